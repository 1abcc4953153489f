#!/usr/bin/env bash
# Checks the running API against its own OpenAPI description with schemathesis
# (PyPI, in a throw-away virtualenv), on demand (not in CI): a real server on a
# free loopback port with the sample data in a temporary data directory and an
# admin token, fed generated requests for every operation, stateful sequences
# included. It fails on any 5xx, an undocumented status or content type, a
# response that does not match its schema, or an auth or stateful check.
# Two checks are left out because they flag rules a schema cannot state: a
# well-formed request for a runbook that is not in the catalog (422), and a body
# over the size limit answered 413 rather than 422.
#   scripts/check-api-contract.sh                 # 100 examples per operation
#   MAX_EXAMPLES=500 scripts/check-api-contract.sh
# Environment: SWITCHBOARD (binary, as for the bench scripts), SCHEMATHESIS_VENV.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../benches/common.sh"
venv="${SCHEMATHESIS_VENV:-${TMPDIR:-/tmp}/switchboard-schemathesis-venv}"
python_venv "$venv" "schemathesis==4.32.5"
[ -x "$bin" ] || (cd "$root" && cargo build --locked)

work="$(mktemp -d)"
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
use_repo_assets
export SWITCHBOARD_DATA_DIR="$work/data" SWITCHBOARD_SERVER__LISTEN="127.0.0.1:$port"
"$bin" token new --name contract-check --role admin >"$work/token.txt"
token="$(awk '/^token/ {print $NF}' "$work/token.txt")"
hash="$(awk -F'"' '/^sha256/ {print $2}' "$work/token.txt")"
echo "- { name: contract-check, role: admin, sha256: $hash }" >"$work/tokens.yaml"
export SWITCHBOARD_AUTH__TOKENS_FILE="$work/tokens.yaml"

"$bin" ingest incidents "$root/sample/incidents.csv" >/dev/null
"$bin" ingest kb "$root/sample/kb" >/dev/null
start_server "$port" "$work/serve.log"

# Run from the scratch directory: schemathesis keeps its cache in ./.schemathesis.
(cd "$work" && "$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks all --exclude-checks positive_data_acceptance,negative_data_rejection \
  --max-examples "${MAX_EXAMPLES:-100}" --seed "${SEED:-1}" \
  --output-truncate true)
kill -0 "$server" 2>/dev/null || { echo "the server died:" >&2; tail -20 "$work/serve.log" >&2; exit 1; }
if grep -q "panicked" "$work/serve.log"; then
  echo "the server logged a panic:" >&2
  grep -m5 -A3 "panicked" "$work/serve.log" >&2
  exit 1
fi
echo "== API contract holds; the server is still up"
