#!/usr/bin/env bash
# Suggested-resolution drafts on held-out sample tickets, on demand (not in CI):
#   1. every 8th row of sample/incidents.csv (40 tickets) is held out; the rest and
#      sample/kb are ingested into a fresh store;
#   2. for each backend in BACKENDS (default "extractive candle"; add "openai" with
#      OPENAI_BASE_URL and OPENAI_MODEL set) a server drafts every held-out ticket and
#      benches/drafts_eval.py scores the drafts against the true resolutions
#      (citations, support, invented citations, ROUGE-L, latency p50/p95);
#   3. triage latency at 1 client (wrk) with no drafting, then while drafts are being
#      written back to back by the last backend: drafts must not slow triage.
#
#   benches/drafts.sh
#   BACKENDS="extractive openai" OPENAI_BASE_URL=http://127.0.0.1:8081/v1 OPENAI_MODEL=x benches/drafts.sh
#
# Environment: SWITCHBOARD (binary), PORT (default 18090), DURATION (wrk seconds, 20),
# LLM (GGUF for candle, default the fetched SmolLM2-135M-Instruct).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
port="${PORT:-18090}"
duration="${DURATION:-20}"
backends="${BACKENDS:-extractive candle}"
llm="${LLM:-$root/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}"
ensure_wrk
make_work_dir
use_repo_assets
agent_config "$port"
export SWITCHBOARD_CONFIG="$work/switchboard.toml"
export SWITCHBOARD_DATA_DIR="$work/data"

python3 - "$root/sample/incidents.csv" "$work" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
fields = rows[0].keys()
for name, keep in (("train", lambda i: i % 8 != 0), ("heldout", lambda i: i % 8 == 0)):
    with open(f"{sys.argv[2]}/{name}.csv", "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(r for i, r in enumerate(rows) if keep(i))
PY
"$bin" ingest incidents "$work/train.csv" >/dev/null
"$bin" ingest kb "$root/sample/kb" >/dev/null
echo "== $(($(wc -l <"$work/train.csv") - 1)) incidents stored, $(($(wc -l <"$work/heldout.csv") - 1)) held out; $(lscpu | sed -n 's/^Model name: *//p')"

for backend in $backends; do
  export SWITCHBOARD_DRAFTS__BACKEND="$backend"
  export SWITCHBOARD_DRAFTS__CANDLE__MODEL_PATH="$llm"
  [ "$backend" = openai ] && export SWITCHBOARD_DRAFTS__OPENAI__BASE_URL="$OPENAI_BASE_URL" SWITCHBOARD_DRAFTS__OPENAI__MODEL="$OPENAI_MODEL"
  start_server "$port" "$work/serve-$backend.log"
  python3 "$root/benches/drafts_eval.py" "http://127.0.0.1:$port" "$token" "$work/heldout.csv" "$backend"
  last_backend="$backend"
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
done

echo "== triage at 1 client, ${duration}s: alone, then while $last_backend drafts are written back to back"
export SWITCHBOARD_DRAFTS__BACKEND="$last_backend"
start_server "$port" "$work/serve-load.log"
write_triage_script "$work"
summary() { grep -E "^\s+(50%|99%)|Requests/sec"; }
wrk --latency -s "$work/triage.lua" -t1 -c1 -d"${duration}s" "http://127.0.0.1:$port" | summary
curl -fsS -X POST -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"id":"LOAD-1","title":"VPN keeps disconnecting","description":"GlobalProtect drops every few minutes"}' \
  "http://127.0.0.1:$port/v1/triage" >/dev/null
( end=$((SECONDS + duration + 2)); n=0
  while [ $SECONDS -lt $end ]; do
    curl -fsS -X POST -H "authorization: Bearer $token" "http://127.0.0.1:$port/v1/tickets/LOAD-1/draft" >/dev/null && n=$((n + 1))
  done; echo "drafts written meanwhile: $n" ) &
drafter=$!
sleep 1
wrk --latency -s "$work/triage.lua" -t1 -c1 -d"${duration}s" "http://127.0.0.1:$port" | summary
wait "$drafter"
