#!/usr/bin/env bash
# Both encoders side by side, in one run, on demand (not in CI): dev accuracy,
# macro-F1 and coverage at precision 0.90 on gl8500 (assignment group) and endava
# (category, business_service, ticket_type), then embedding speed at batch 1 and 32
# on the same gl8500 dev texts. Each encoder gets its own fresh data directory and
# embedding cache (under WORK, default a new temporary directory, kept for reruns).
#   benches/encoders.sh [DATASETS]      # DATASETS defaults to ../shared/datasets
# Environment: SWITCHBOARD (binary), ENCODERS (model directories, default both),
# WORK (scratch directory), LIMIT (texts timed per batch size, default 400).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
datasets="${1:-$root/../shared/datasets}"
work="${WORK:-$(mktemp -d)}"
limit="${LIMIT:-400}"
read -r -a encoders <<<"${ENCODERS:-$root/models/all-MiniLM-L6-v2 $root/models/all-mpnet-base-v2}"
"$root/scripts/fetch-model.sh" >/dev/null
"$root/scripts/fetch-mpnet.sh" >/dev/null
echo "binary: $bin  cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)  cores: $(nproc)"
for model in "${encoders[@]}"; do
  name="$(basename "$model")"
  export SWITCHBOARD_MODEL__DIR="$model" SWITCHBOARD_DATA_DIR="$work/$name/data"
  echo "== $name"
  mkdir -p "$work/$name"
  rm -rf "$SWITCHBOARD_DATA_DIR"
  started=$(date +%s)
  "$bin" eval --train "$datasets/gl8500_train.csv" --test "$datasets/gl8500_dev.csv" \
    --label assignment_group --target-precision 0.9 --embedding-cache "$work/$name/gl8500.cache"
  echo "gl8500 eval: $(( $(date +%s) - started )) s"
  started=$(date +%s)
  rm -rf "$SWITCHBOARD_DATA_DIR"
  "$bin" eval --train "$datasets/endava_train.csv" --test "$datasets/endava_dev.csv" \
    --label category --label business_service --label ticket_type --target-precision 0.9 \
    --embedding-cache "$work/$name/endava.cache"
  echo "endava eval: $(( $(date +%s) - started )) s"
  for batch in 1 32; do
    "$bin" bench embed --file "$datasets/gl8500_dev.csv" --limit "$limit" --batch "$batch" | tail -1
  done
done
