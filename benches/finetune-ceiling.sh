#!/usr/bin/env bash
# Would fine-tuning the encoder beat Switchboard's head over frozen embeddings? On demand
# (not in CI, ~3.5 min per epoch on 2 cores for endava): reuses the PyTorch virtualenv of
# pytorch-compare.sh, fine-tunes all-MiniLM-L6-v2 on TRAIN and scores TEST.
#   benches/finetune-ceiling.sh ../shared/datasets/endava_train.csv ../shared/datasets/endava_dev.csv category business_service [--epochs 3] [--lr 5e-5]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PYTORCH_VENV:-${TMPDIR:-/tmp}/switchboard-pytorch-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "torch==2.15.0" "sentence-transformers==6.2.0"
fi
model="${SWITCHBOARD_MODEL_DIR:-$here/../models/all-MiniLM-L6-v2}"
HF_HUB_OFFLINE=1 exec "$venv/bin/python" "$here/finetune_ceiling.py" --model "$model" "$@"
