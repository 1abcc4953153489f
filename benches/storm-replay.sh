#!/usr/bin/env bash
# False storms on real tickets, on demand (not in CI): a server over a store
# of TRAIN (default ../shared/datasets/gl8500_train.csv), then TEST (default
# the gl8500 dev split) replayed in file order with their callers, one ticket
# every INTERVALS seconds of simulated time (default "60 20": a desk of 1,440
# and of 4,320 tickets a day), each replay days apart from the last. With
# BURST=1 the 40 tickets of sample/storm-burst.csv (one mail outage) are
# injected in the middle of each replay at their own minutes. Prints per
# interval the storms opened, the tickets in them, the duplicates flagged,
# the burst ticket the burst was first reported at, and the largest storms'
# shared words so a person can judge them.
#
#   benches/storm-replay.sh
#   TRAIN=../shared/datasets/endava_train.csv TEST=../shared/datasets/endava_dev.csv \
#     TITLE=title TEXT=body CALLER= BURST=1 benches/storm-replay.sh
#
# Environment: SWITCHBOARD (binary), PORT (18085), TRAIN, TEST, INTERVALS,
# TITLE / TEXT / CALLER (TEST's columns; default short_description,
# description, caller), BURST, STORMS ([storms] settings, e.g. "min_tickets = 5").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
port="${PORT:-18085}"
train="${TRAIN:-$root/../shared/datasets/gl8500_train.csv}"
test_file="${TEST:-$root/../shared/datasets/gl8500_dev.csv}"
make_work_dir
use_repo_assets
agent_config "$port"
[ -n "${STORMS:-}" ] && printf '[storms]\n%s\n' "$STORMS" >>"$work/switchboard.toml"
"$bin" ingest incidents "$train" >/dev/null 2>&1
start_server "$port" "$work/serve.log"
python3 - "http://127.0.0.1:$port" "$token" "$test_file" "${TITLE:-short_description}" "${TEXT:-description}" "${CALLER-caller}" "${BURST:-0}" "$root/sample/storm-burst.csv" ${INTERVALS:-60 20} <<'PY'
import csv, json, sys, urllib.request
from datetime import datetime, timedelta, timezone
base, token, path, title_col, text_col, caller_col, burst, burst_path = sys.argv[1:9]
intervals = [int(x) for x in sys.argv[9:]]
rows = list(csv.DictReader(open(path)))
burst_rows = list(csv.DictReader(open(burst_path))) if burst == "1" else []
def call(method, url, body=None):
    req = urllib.request.Request(base + url, json.dumps(body).encode() if body else None,
        {"content-type": "application/json", "authorization": f"Bearer {token}"}, method=method)
    return json.loads(urllib.request.urlopen(req).read())
start = datetime(2026, 1, 1, tzinfo=timezone.utc)
for run, interval in enumerate(intervals):
    prefix = f"R{run}-"
    t0 = start + timedelta(days=30 * run)
    stream = []
    for n, row in enumerate(rows):
        stream.append((t0 + timedelta(seconds=interval * n), prefix + row["id"], row[title_col], row[text_col],
                       row.get(caller_col, "") if caller_col else "", False))
    middle = t0 + timedelta(seconds=interval * len(rows) // 2 + 1)
    for row in burst_rows:
        stream.append((middle + timedelta(minutes=float(row["minute"])), prefix + row["id"], row["title"],
                       row["description"], row["caller"], True))
    stream.sort(key=lambda t: t[0])
    duplicates, burst_seen, detected_at = 0, 0, None
    for at, id_, title, text, caller, in_burst in stream:
        body = {"id": id_, "title": title, "description": text, "opened_at": at.isoformat().replace("+00:00", "Z")}
        if caller:
            body["caller"] = caller
        answer = call("POST", "/v1/triage", body)
        duplicates += answer.get("duplicate_of") is not None
        if in_burst:
            burst_seen += 1
            if detected_at is None and answer.get("storm"):
                detected_at = burst_seen
    storms = [s for s in call("GET", "/v1/storms") if s["parent"].startswith(prefix)]
    false = [s for s in storms if not s["parent"].startswith(prefix + "STORM-")]
    held = sum(s["size"] for s in false)
    print(f"one ticket every {interval} s ({86400 // interval} a day), {len(rows)} tickets: "
          f"{len(false)} storms among them holding {held} tickets ({100 * held / len(rows):.1f}%), "
          f"{duplicates} duplicates flagged ({100 * duplicates / len(rows):.1f}%)"
          + (f"; injected burst of {len(burst_rows)}: reported at its ticket {detected_at}, "
             f"in {len(storms) - len(false)} storm(s) of {sum(s['size'] for s in storms if s not in false)}"
             if burst_rows else ""))
    for s in sorted(false, key=lambda s: -s["size"])[:5]:
        print(f"  storm of {s['size']}: parent {s['parent']}, shared words {s['terms']}")
PY
echo "background share of the tickets that opened a storm:"
grep 'storm opened' "$work/serve.log" | grep -o '"background":[0-9.e-]*' | sort | uniq -c | sort -rn | head -20 || true
