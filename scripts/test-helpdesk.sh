#!/usr/bin/env bash
# Runs the django-helpdesk connector tests against a real django-helpdesk
# (made by scripts/helpdesk.sh from PyPI). CI runs it after `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/helpdesk.sh venv
# One test at a time: a test reads process-wide counters (catch-ups finished).
SWITCHBOARD_TEST_HELPDESK=1 cargo test --locked --test api helpdesk -- --ignored --test-threads=1
