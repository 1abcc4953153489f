#!/usr/bin/env bash
# Load behaviour of POST /v1/triage, on demand (not in CI), with wrk (Debian's package,
# installed if missing) against 127.0.0.1:
#   1. latency at 1 client (p50 / p99),
#   2. throughput at 16 clients, and raw batch-32 embedding of the same tickets right
#      after it (`switchboard bench embed`), with the ratio of the two (ROUNDS pairs),
#   3. overload: OVERLOAD_CLIENTS concurrent closed-loop clients (default 768, far past
#      what the model can serve) for OVERLOAD_SECONDS (default 60) while the server's
#      resident memory is sampled every 2 s; 503s are expected, errors and growth are not,
#   4. recovery: 1 client again right after.
#
#   benches/load.sh                       # a fresh store with sample/incidents.csv
#   INCIDENTS=../shared/datasets/gl8500_train.csv benches/load.sh
#   DATA_DIR=/path/to/existing/store benches/load.sh   # e.g. one with 100k incidents
#
# Environment: SWITCHBOARD (binary, default target/release/switchboard, else
# target/debug/switchboard), PORT (default 18080), DURATION (seconds per phase, 30),
# ROUNDS (16-client / raw pairs, 1).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
port="${PORT:-18080}"
duration="${DURATION:-30}"
overload_clients="${OVERLOAD_CLIENTS:-768}"
overload_seconds="${OVERLOAD_SECONDS:-60}"
ensure_wrk
make_work_dir

export SWITCHBOARD_SERVER__LISTEN="127.0.0.1:$port"
use_repo_assets
if [ -n "${DATA_DIR:-}" ]; then
  export SWITCHBOARD_DATA_DIR="$DATA_DIR"
else
  export SWITCHBOARD_DATA_DIR="$work/data"
  incidents="${INCIDENTS:-$root/sample/incidents.csv}"
  echo "== ingesting $incidents"
  /usr/bin/time -f "ingest: %e s wall, peak RSS %M KiB" "$bin" ingest incidents "$incidents" 2>&1 | tail -2
fi

start_server "$port" "$work/serve.log"
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
incidents_stored="$(curl -fsS "http://127.0.0.1:$port/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["incidents"])')"
echo "== serving $incidents_stored incidents; RSS $(rss) KiB after start"

# The five tickets every phase rotates through, as the Lua table wrk sends from and as
# a CSV (each ticket 200 times) for the raw embedding figure the 16-client phase is
# compared with.
python3 - "$work" <<'PY'
import csv, json, sys
work = sys.argv[1]
tickets = [
    ("VPN keeps dropping", "Since this morning my VPN disconnects every few minutes when working from home."),
    ("Outlook asks for password", "Outlook prompts for my credentials every few minutes and does not sync."),
    ("Printer offline", "The printer on floor 3 shows offline for everyone, jobs stay in the queue."),
    ("Disk full on batch server", "No space left on device: /tmp/switchboard/cache grew overnight."),
    ("Cannot log in to ERP", "My account is locked after the password change, ERP login fails with error 401."),
]
with open(f"{work}/tickets.lua", "w") as out:
    out.write("local tickets = {\n")
    for title, description in tickets:
        body = json.dumps({"title": title, "description": description})
        out.write("  " + json.dumps(body) + ",\n")
    out.write("}\n")
with open(f"{work}/tickets.csv", "w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow(["id", "short_description", "description", "assignment_group"])
    for n in range(1000):
        title, description = tickets[n % len(tickets)]
        writer.writerow([f"L{n}", title, description, "x"])
PY
{ cat "$work/tickets.lua"; cat <<'LUA'
-- Rotates through a few realistic tickets so requests are not identical.
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/triage", { ["Content-Type"] = "application/json" }, tickets[(n % #tickets) + 1])
end
-- Responses by status, summed over wrk's threads and printed at the end.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= 200 and not refusal then refusal = body end
end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + count end
  end
  for status, count in pairs(total) do io.write(string.format("status %s: %d\n", status, count)) end
  for _, thread in ipairs(threads) do
    local body = thread:get("refusal")
    if body then io.write("status first refusal: " .. body .. "\n") break end
  end
end
LUA
} >"$work/triage.lua"

run() { wrk --latency -s "$work/triage.lua" "$@" "http://127.0.0.1:$port"; }
summary() { grep -E "^\s+(50%|99%)|Requests/sec|Socket errors|requests in|^status"; }

echo "== 1 client, ${duration}s"
run -t1 -c1 -d"${duration}s" | summary
# The 16-client target is relative to raw batch embedding of the same tickets, so each
# round measures both, one right after the other (the figures move between runs on a
# shared machine); ROUNDS sets how many.
for round in $(seq 1 "${ROUNDS:-1}"); do
  echo "== 16 clients, ${duration}s (round $round)"
  run -t2 -c16 -d"${duration}s" | summary | tee "$work/sixteen"
  "$bin" bench embed --file "$work/tickets.csv" --limit 1000 --batch 32 --repeat 2 | tee "$work/raw"
  served="$(awk '/Requests\/sec/ {print $2}' "$work/sixteen")"
  raw="$(sed -n 's/.*texts_per_s=\([0-9.]*\).*/\1/p' "$work/raw")"
  awk -v s="$served" -v r="$raw" 'BEGIN {printf "16 clients: %.1f req/s = %.0f%% of raw batch-32 embedding of the same tickets (%.1f texts/s)\n", s, 100 * s / r, r}'
done
echo "== overload: $overload_clients clients, ${overload_seconds}s (RSS sampled every 2 s)"
: >"$work/rss"
( while kill -0 "$server" 2>/dev/null; do rss >>"$work/rss"; sleep 2; done ) &
sampler=$!
run -t2 -c"$overload_clients" -d"${overload_seconds}s" --timeout 10s | summary
kill "$sampler" 2>/dev/null || true
sort -n "$work/rss" | awk 'NR==1 {min=$1} {max=$1} END {printf "RSS during overload: min %d KiB, max %d KiB\n", min, max}'
kill -0 "$server" 2>/dev/null && echo "server still running"
echo "== recovery: 1 client, 10s, right after"
run -t1 -c1 -d10s | summary
echo "RSS at the end: $(rss) KiB"
