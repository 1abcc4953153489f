#!/usr/bin/env bash
# Would fine-tuning the encoder beat Switchboard's head over frozen embeddings? On demand
# (not in CI, ~3.5 min per epoch on 2 cores for endava): reuses the PyTorch virtualenv of
# pytorch-compare.sh, fine-tunes all-MiniLM-L6-v2 on TRAIN and scores TEST.
#   benches/finetune-ceiling.sh ../shared/datasets/endava_train.csv ../shared/datasets/endava_dev.csv category business_service [--epochs 3] [--lr 5e-5]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"
pytorch_venv
model="${SWITCHBOARD_MODEL_DIR:-$root/models/all-MiniLM-L6-v2}"
HF_HUB_OFFLINE=1 exec "$venv/bin/python" "$here/finetune_ceiling.py" --model "$model" "$@"
