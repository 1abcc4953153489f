#!/usr/bin/env bash
# Runs the Request Tracker connector tests against a real RT 5 (Debian's
# request-tracker5, installed by scripts/rt.sh when missing and running as
# root). CI runs it after `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/rt.sh install
cargo test --locked --test api rt::rt_ -- --ignored
