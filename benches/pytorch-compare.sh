#!/usr/bin/env bash
# Switchboard's embedder next to sentence-transformers on PyTorch, on demand (not in CI):
# makes a throw-away virtualenv from PyPI, embeds the same texts with the same thread
# count right after Switchboard, and prints both figures and their ratio.
#   benches/pytorch-compare.sh ../shared/datasets/gl8500_train.csv [LIMIT] [BATCH ...]
# Environment: THREADS (default: all cores), REPEAT (best of N alternating rounds, default 3),
# SWITCHBOARD (binary, default target/release/switchboard, else target/debug/switchboard),
# MODEL (the encoder directory both sides load, default models/all-MiniLM-L6-v2).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"
file="${1:?usage: benches/pytorch-compare.sh FILE [LIMIT] [BATCH ...]}"
limit="${2:-1000}"
shift $(( $# >= 2 ? 2 : $# ))
batches=("${@:-1 32}")
read -r -a batches <<<"${batches[*]}"
threads="${THREADS:-$(nproc)}"
repeat="${REPEAT:-3}"
pytorch_venv
texts="$(mktemp)"
trap 'rm -f "$texts"' EXIT
model="${MODEL:-$root/models/all-MiniLM-L6-v2}"
echo "binary: $bin  threads: $threads  best of $repeat alternating rounds"
rate() { sed -n 's/.*texts_per_s=\([0-9.]*\).*/\1/p' <<<"$1"; }
faster() { if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$(rate "$1")" "$(rate "$2")"; then echo "$1"; else echo "$2"; fi; }
for batch in "${batches[@]}"; do
  ours="" theirs=""
  # Rounds alternate between the two so a noisy moment on a shared machine hits both.
  for _ in $(seq "$repeat"); do
    run="$(SWITCHBOARD_MODEL__DIR="$model" RAYON_NUM_THREADS="$threads" "$bin" bench embed --file "$file" --limit "$limit" --batch "$batch" --texts-out "$texts" | tail -1)"
    ours="$([ -z "$ours" ] && echo "$run" || faster "$ours" "$run")"
    run="$(HF_HUB_OFFLINE=1 "$venv/bin/python" "$here/pytorch_embed.py" --model "$model" --texts "$texts" --batch "$batch" --threads "$threads" | tail -1)"
    theirs="$([ -z "$theirs" ] && echo "$run" || faster "$theirs" "$run")"
  done
  echo "switchboard: $ours"
  echo "pytorch:     $theirs"
  python3 -c "import sys; print(f'batch {sys.argv[3]}: switchboard / pytorch = {float(sys.argv[1]) / float(sys.argv[2]):.2f}x')" "$(rate "$ours")" "$(rate "$theirs")" "$batch"
done
