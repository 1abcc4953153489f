#!/usr/bin/env bash
# False storms on real tickets, on demand (not in CI): a server over a store
# of TRAIN (default ../shared/datasets/gl8500_train.csv), then TEST (default
# the gl8500 dev split) replayed in file order with their callers, one ticket
# every INTERVALS seconds of simulated time (default "60 20": a desk of 1,440
# and of 4,320 tickets a day), each replay days apart from the last. Prints
# per interval the storms opened, the tickets in them, the duplicates flagged,
# and the largest storms' shared words so a person can judge them.
#
#   benches/storm-replay.sh
#
# Environment: SWITCHBOARD (binary), PORT (18085), TRAIN, TEST, INTERVALS.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
port="${PORT:-18085}"
train="${TRAIN:-$root/../shared/datasets/gl8500_train.csv}"
test_file="${TEST:-$root/../shared/datasets/gl8500_dev.csv}"
make_work_dir
use_repo_assets
agent_config "$port"
"$bin" ingest incidents "$train" >/dev/null 2>&1
start_server "$port" "$work/serve.log"
python3 - "http://127.0.0.1:$port" "$token" "$test_file" ${INTERVALS:-60 20} <<'PY'
import csv, json, sys, urllib.request
from datetime import datetime, timedelta, timezone
base, token, path, intervals = sys.argv[1], sys.argv[2], sys.argv[3], [int(x) for x in sys.argv[4:]]
rows = list(csv.DictReader(open(path)))
def call(method, url, body=None):
    req = urllib.request.Request(base + url, json.dumps(body).encode() if body else None,
        {"content-type": "application/json", "authorization": f"Bearer {token}"}, method=method)
    return json.loads(urllib.request.urlopen(req).read())
start = datetime(2026, 1, 1, tzinfo=timezone.utc)
for run, interval in enumerate(intervals):
    prefix = f"R{run}-"
    duplicates = 0
    for n, row in enumerate(rows):
        at = start + timedelta(days=30 * run, seconds=interval * n)
        body = {"id": prefix + row["id"], "title": row["short_description"], "description": row["description"],
                "opened_at": at.isoformat().replace("+00:00", "Z")}
        if row.get("caller"):
            body["caller"] = row["caller"]
        answer = call("POST", "/v1/triage", body)
        duplicates += answer.get("duplicate_of") is not None
    storms = [s for s in call("GET", "/v1/storms") if s["parent"].startswith(prefix)]
    members = sum(s["size"] for s in storms)
    print(f"one ticket every {interval} s ({86400 // interval} a day), {len(rows)} tickets: "
          f"{len(storms)} storms holding {members} tickets ({100 * members / len(rows):.1f}%), "
          f"{duplicates} duplicates flagged ({100 * duplicates / len(rows):.1f}%)")
    for s in sorted(storms, key=lambda s: -s["size"])[:5]:
        print(f"  storm of {s['size']}: parent {s['parent']}, shared words {s['terms']}")
PY
