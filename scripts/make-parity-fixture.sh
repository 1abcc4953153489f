#!/usr/bin/env bash
# Regenerates the references the embedder's parity tests compare against:
# tests/fixtures/minilm_parity.jsonl (all-MiniLM-L6-v2) and
# tests/fixtures/mpnet_parity.jsonl (all-mpnet-base-v2), sentence-transformers
# (PyTorch, CPU) embeddings of the repository's own sample tickets and of edge
# cases, made in a throw-away virtualenv from PyPI (PYTORCH_VENV to reuse one).
# Where the project's shared reference (../shared/reference/minilm_parity.jsonl)
# is present, the same setup must reproduce it too. On demand; commit the result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/common.sh
./scripts/fetch-model.sh >/dev/null
./scripts/fetch-mpnet.sh >/dev/null
pytorch_venv
shared=""
[ -f ../shared/reference/minilm_parity.jsonl ] && shared=../shared/reference/minilm_parity.jsonl
"$venv/bin/python" scripts/parity_fixture.py \
  --model models/all-MiniLM-L6-v2 --max-seq-length 256 \
  --incidents sample/incidents.csv \
  --out tests/fixtures/minilm_parity.jsonl \
  ${shared:+--check-against "$shared"}
"$venv/bin/python" scripts/parity_fixture.py \
  --model models/all-mpnet-base-v2 --max-seq-length 384 \
  --incidents sample/incidents.csv \
  --out tests/fixtures/mpnet_parity.jsonl
