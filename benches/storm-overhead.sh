#!/usr/bin/env bash
# What storm and duplicate detection adds to triage latency, on demand (not in
# CI): a server over DATA_DIR (e.g. the 100,000-incident store of
# benches/scale-store.sh), started alternately with `storms.enabled` off and
# on, ROUNDS times each; every start sends WARMUP then N sequential triage
# requests of real tickets (TEST, default the gl8500 dev split) with ids,
# callers and opening times 60 s apart, as an agent (so each ticket is
# remembered, and with detection on placed in the storm window). Prints p50 /
# p90 / p99 per run and the difference of the medians.
#
#   benches/storm-overhead.sh /tmp/scale/data
#
# Environment: SWITCHBOARD (binary), PORT (18087), TEST, N (400), WARMUP (50), ROUNDS (2).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
data_dir="${1:?usage: benches/storm-overhead.sh DATA_DIR}"
port="${PORT:-18087}"
test_file="${TEST:-$root/../shared/datasets/gl8500_dev.csv}"
make_work_dir
use_repo_assets
agent_config "$port" "$data_dir"
run=0
for round in $(seq 1 "${ROUNDS:-2}"); do
  for detection in false true; do
    run=$((run + 1))
    SWITCHBOARD_STORMS__ENABLED="$detection" start_server "$port" "$work/serve-$run.log"
    python3 - "http://127.0.0.1:$port" "$token" "$test_file" "${N:-400}" "${WARMUP:-50}" "O$(date +%s)-$run-" "$detection" <<'PY'
import csv, json, sys, time, urllib.request
from datetime import datetime, timedelta, timezone
base, token, path, n, warmup, prefix, detection = sys.argv[1:8]
n, warmup = int(n), int(warmup)
rows = list(csv.DictReader(open(path)))
start = datetime(2027, 1, 1, tzinfo=timezone.utc) + timedelta(days=int(time.time()) % 1000)
def triage(i):
    row = rows[i % len(rows)]
    body = {"id": f"{prefix}{i}", "title": row["short_description"], "description": row["description"],
            "caller": row.get("caller") or None,
            "opened_at": (start + timedelta(seconds=60 * i)).isoformat().replace("+00:00", "Z")}
    req = urllib.request.Request(base + "/v1/triage", json.dumps(body).encode(),
        {"content-type": "application/json", "authorization": f"Bearer {token}"})
    t = time.perf_counter()
    urllib.request.urlopen(req).read()
    return (time.perf_counter() - t) * 1000
for i in range(warmup):
    triage(i)
times = sorted(triage(warmup + i) for i in range(n))
q = lambda p: times[min(len(times) - 1, int(p * len(times)))]
print(f"storms.enabled={detection}: p50 {q(0.5):.2f} ms, p90 {q(0.9):.2f} ms, p99 {q(0.99):.2f} ms over {n} requests")
PY
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
  done
done
