#!/usr/bin/env bash
# Runs the web console's browser tests in a real headless Chromium (Debian's
# chromium and chromium-driver, installed when missing and running as root)
# against a real `switchboard serve`. Screenshots go to target/screenshots/.
# CI runs it after `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    || { echo "Chromium not found: install Debian's chromium and chromium-driver" >&2; exit 1; }
  echo "installing Debian's chromium and chromium-driver" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null; }
fi
cargo test --locked --test api console::browser -- --ignored
