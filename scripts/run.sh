#!/usr/bin/env bash
# Builds Switchboard, loads the sample data into ./data, starts the API on
# 127.0.0.1:8080 and shows one triage with curl. Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The dev profile builds dependencies (candle, Qdrant) fully optimised and shares its
# artefacts with `make test`; use `cargo build --release` for production binaries.
cargo build --locked
bin=target/debug/switchboard
listen="${SWITCHBOARD_SERVER__LISTEN:-127.0.0.1:8080}"

"$bin" ingest incidents sample/incidents.csv
"$bin" ingest kb sample/kb

# Every read needs a token: a demo agent token, made once and kept (0600)
# in ./data, its hash in the tokens file the server reads.
mkdir -p data
if [ ! -s data/demo-token ]; then
  (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >data/demo-token)
fi
token="$(cat data/demo-token)"
printf -- '- { name: demo, role: agent, sha256: %s }\n' "$(printf %s "$token" | sha256sum | cut -d' ' -f1)" >data/demo-tokens.yaml
export SWITCHBOARD_AUTH__TOKENS_FILE="$PWD/data/demo-tokens.yaml"

"$bin" serve &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM

for _ in $(seq 1 120); do
  curl -fsS "http://$listen/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done

echo "== POST /v1/triage"
curl -fsS "http://$listen/v1/triage" \
  -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"title":"VPN keeps dropping","description":"Since this morning my VPN disconnects every few minutes when working from home."}' \
  | python3 -m json.tool
echo "== POST /v1/triage (a ticket a runbook can fix: see \"runbooks\")"
curl -fsS "http://$listen/v1/triage" \
  -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"title":"Disk full on batch server","description":"No space left on device: /srv/switchboard/cache grew overnight."}' \
  | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["runbooks"], indent=2))'
echo "== Switchboard is serving on http://$listen (Ctrl-C to stop); a demo agent token: TOKEN=\$(cat data/demo-token)"
wait $server
