#!/usr/bin/env bash
# What durable writes cost, on demand (not in CI), with wrk against 127.0.0.1:
#   1. POST /v1/incidents (each a new incident, acknowledged once journaled and
#      synced) at 1 client (p50 / p99) and at 16 clients (req/s; concurrent writes
#      share syncs);
#   2. POST /v1/triage with an `id` and an agent token (the ticket is remembered
#      durably) at 1 client;
#   3. `switchboard ingest incidents` of INCIDENTS (default: the sample file four
#      times over, with fresh ids) into an empty store: incidents per second.
# Compare two builds by running it with SWITCHBOARD set to each binary.
#
#   benches/writes.sh
#   SWITCHBOARD=/tmp/switchboard-before benches/writes.sh
#
# Environment: PORT (default 18081), DURATION (seconds per phase, 15).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
port="${PORT:-18081}"
duration="${DURATION:-15}"
ensure_wrk
make_work_dir

use_repo_assets
token="bench-agent-token"
hash="$(printf %s "$token" | sha256sum | cut -d' ' -f1)"
cat >"$work/switchboard.toml" <<TOML
data_dir = "$work/data"
[server]
listen = "127.0.0.1:$port"
[[auth.tokens]]
name = "bench"
role = "agent"
sha256 = "$hash"
TOML
export SWITCHBOARD_CONFIG="$work/switchboard.toml"

python3 - "$root/sample/incidents.csv" "$work/ingest.csv" "${INCIDENTS:-}" <<'PY'
import csv, sys
source, out, given = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(given or source, encoding="utf-8", newline="")))
copies = 1 if given else 4
with open(out, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    writer.writeheader()
    for copy in range(copies):
        for row in rows:
            row = dict(row)
            row["id"] = f"{row['id']}-{copy}"
            writer.writerow(row)
print(f"ingest file: {copies * len(rows)} incidents")
PY
echo "== ingest into an empty store"
start=$(date +%s.%N)
"$bin" ingest incidents "$work/ingest.csv" >/dev/null 2>"$work/ingest.log" || { cat "$work/ingest.log"; exit 1; }
end=$(date +%s.%N)
n=$(($(wc -l <"$work/ingest.csv") - 1))
awk -v n="$n" -v s="$start" -v e="$end" 'BEGIN {printf "ingest: %d incidents in %.1f s = %.1f incidents/s\n", n, e - s, n / (e - s)}'

start_server "$port" "$work/serve.log"

# A wrk script sending $2 (a printf format taking the request's unique id twice)
# to each request, every id new, into file $1.
write_lua() {
  cat >"$1" <<LUA
local token = "$token"
local thread_id = 0
function setup(thread) thread_id = thread_id + 1; thread:set("tid", thread_id) end
local n = 0
request = function()
  n = n + 1
  local id = string.format("W%s-%d-%d", tid or 0, os.time(), n)
  local body = string.format('$2', id, id)
  return wrk.format("POST", wrk.path, { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }, body)
end
function response(status, headers, body)
  if status >= 300 and not failed then failed = status; io.write("unexpected status " .. status .. ": " .. body .. "\\n") end
end
LUA
}
write_lua "$work/incidents.lua" '{"id":"%s","title":"Disk full on %s","description":"Monitoring: /var on app-prd-01 is 97%% full","labels":{"assignment_group":"Linux Ops"}}'
write_lua "$work/triage.lua" '{"id":"%s","title":"VPN keeps dropping on %s","description":"Since this morning my VPN disconnects every few minutes when working from home."}'
run() { local script="$1" path="$2"; shift 2; wrk --latency -s "$script" "$@" "http://127.0.0.1:$port$path"; }
summary() { grep -E "^\s+(50%|99%)|Requests/sec|Non-2xx|Socket errors|unexpected status" | sort -u; }

echo "== POST /v1/incidents, 1 client, ${duration}s"
run "$work/incidents.lua" /v1/incidents -t1 -c1 -d"${duration}s" | summary
echo "== POST /v1/incidents, 16 clients, ${duration}s"
run "$work/incidents.lua" /v1/incidents -t2 -c16 -d"${duration}s" | summary
echo "== POST /v1/triage with an id (remembered), 1 client, ${duration}s"
run "$work/triage.lua" /v1/triage -t1 -c1 -d"${duration}s" | summary
