#!/usr/bin/env bash
# Server time of the web console's pages and the API calls its views make,
# on demand (not in CI): a server over the sample store with 200 triaged
# tickets in its review queue, one signed-in agent session, N requests
# (default 200) of each, one at a time; p50 / p95 / max in ms as curl's
# time to the last byte (loopback, so this is server time).
#
#   benches/console.sh
#
# Environment: SWITCHBOARD (binary), PORT (18084), N.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
port="${PORT:-18084}"
n="${N:-200}"
make_work_dir
use_repo_assets
agent_config "$port"
"$bin" ingest incidents "$root/sample/incidents.csv" >/dev/null 2>&1
start_server "$port" "$work/serve.log"
base="http://127.0.0.1:$port"
# 200 remembered tickets fill the review queue and Insights.
python3 - "$base" "$token" "$root/sample/incidents.csv" <<'PY'
import csv, json, sys, urllib.request
base, token = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(sys.argv[3])))
for i in range(200):
    row = rows[i % len(rows)]
    body = json.dumps({"id": f"BENCH-{i}", "title": row["title"], "description": row["description"]}).encode()
    request = urllib.request.Request(f"{base}/v1/triage", body, {"content-type": "application/json", "authorization": f"Bearer {token}"})
    urllib.request.urlopen(request).read()
PY
# Sign in through the form, as a browser does.
jar="$work/cookies"
form="$(curl -fsS -c "$jar" "$base/ui/login")"
csrf="$(printf '%s' "$form" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')"
curl -fsS -b "$jar" -c "$jar" -o /dev/null --data-urlencode "token=$token" --data-urlencode "csrf=$csrf" "$base/ui/login"
printf '%-28s %8s %8s %8s\n' "request" "p50 ms" "p95 ms" "max ms"
for path in /ui/triage /ui/review /ui/approvals /ui/insights /ui/runbooks /ui/assets/app.js /v1/review /v1/insights /v1/runbooks /v1/executions; do
  for _ in $(seq 1 "$n"); do
    curl -fsS -b "$jar" -o /dev/null -w '%{time_total}\n' "$base$path"
  done | python3 -c '
import sys
t = sorted(float(x) * 1000 for x in sys.stdin)
q = lambda p: t[min(len(t) - 1, int(p * len(t)))]
print("%-28s %8.2f %8.2f %8.2f" % (sys.argv[1], q(0.5), q(0.95), t[-1]))' "$path"
done
