#!/usr/bin/env bash
# Refused requests must not slow a deployment, on demand (not in CI): start
# time (process start to /readyz) and approval latency (POST .../approve of
# a manual-approval runbook, median of 20) are measured, then REFUSALS
# (default 100,000) requests with a wrong token are sent to /v1/executions
# with wrk, then the server is started again and both are measured again.
# Also prints the audit chain's length before and after.
#   benches/refusals.sh
# Environment: SWITCHBOARD (binary), PORT (18087), REFUSALS.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
port="${PORT:-18087}"
refusals="${REFUSALS:-100000}"
ensure_wrk
make_work_dir
use_repo_assets
agent="bench-agent-token-0123456789"
approver="bench-approver-token-0123456789"
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
mkdir -p "$work/runbooks"
cp "$root/runbooks/inventory.yaml" "$work/runbooks/"
cat >"$work/runbooks/say.yaml" <<'YAML'
id: say
version: 1
title: Say something
description: Echoes its message; needs one approver.
owner: bench
risk: low
approval: { mode: manual, approvers: 1, role: approver }
parameters: [ { name: message, type: string, required: true } ]
steps: [ { name: say, run: [echo, "{message}"] } ]
YAML
cat >"$work/switchboard.toml" <<TOML
data_dir = "$work/data"
[server]
listen = "127.0.0.1:$port"
[runbooks]
dir = "$work/runbooks"
inventory = "$work/runbooks/inventory.yaml"
[[auth.tokens]]
name = "agent"
role = "agent"
sha256 = "$(hash "$agent")"
[[auth.tokens]]
name = "approver"
role = "approver"
sha256 = "$(hash "$approver")"
TOML
export SWITCHBOARD_CONFIG="$work/switchboard.toml"
unset SWITCHBOARD_RUNBOOKS__DIR SWITCHBOARD_RUNBOOKS__INVENTORY
"$bin" ingest incidents "$root/sample/incidents.csv" >/dev/null 2>&1

measure() {
  local label="$1" started ready
  started="$(date +%s%N)"
  start_server "$port" "$work/serve-$label.log"
  ready="$(date +%s%N)"
  python3 - "http://127.0.0.1:$port" "$agent" "$approver" "$label" "$(( (ready - started) / 1000000 ))" <<'PY'
import json, statistics, sys, time, urllib.request
base, agent, approver, label, start_ms = sys.argv[1:6]
def post(path, token, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(),
        {"content-type": "application/json", "authorization": f"Bearer {token}"}, method="POST")
    return json.loads(urllib.request.urlopen(req).read())
took = []
for n in range(20):
    created = post("/v1/executions", agent, {"runbook": "say", "params": {"message": f"m{n}"}})
    t = time.perf_counter()
    post(f"/v1/executions/{created['id']}/approve", approver, {})
    took.append((time.perf_counter() - t) * 1000)
print(f"{label}: start to ready {start_ms} ms; approve p50 {statistics.median(took):.1f} ms, max {max(took):.1f} ms")
PY
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
}

chain() { "$bin" audit verify 2>/dev/null | grep -Eo '[0-9]+ entries' | head -1; }
measure before
echo "audit chain: $(chain)"
start_server "$port" "$work/serve-flood.log"
cat >"$work/refused.lua" <<LUA
local sent = 0
local limit = math.ceil($refusals / 4)
request = function()
  sent = sent + 1
  if sent > limit then wrk.thread:stop() end
  return wrk.format("POST", "/v1/executions", { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer wrong-token" }, '{"runbook":"say"}')
end
LUA
wrk -t4 -c32 -d1800s -s "$work/refused.lua" "http://127.0.0.1:$port" | grep -E "requests in|Requests/sec|Non-2xx"
kill "$server"; wait "$server" 2>/dev/null || true; server=""
echo "audit chain: $(chain)"
measure after
