#!/usr/bin/env bash
# Scale of the store, on demand (not in CI): builds COUNT distinct incidents (default
# 100,000) by pairing the titles and descriptions of a real incident file in a seeded
# order, ingests them with the real model into a fresh data directory (time and peak
# memory reported), measures recall@10 of indexed search against exact search, then
# starts `serve` on it and reports its resident memory after a few triage requests.
#   benches/scale-store.sh ../shared/datasets/gl8500_train.csv [COUNT] [DATA_DIR]
# Environment: SWITCHBOARD (binary, default target/release/switchboard, else
# target/debug/switchboard), PORT (default 18090), QUERIES (tickets for the recall
# check, default SOURCE.csv; e.g. ../shared/datasets/gl8500_dev.csv), RECALL_QUERIES
# (how many, 500).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source_file="${1:?usage: benches/scale-store.sh SOURCE.csv [COUNT] [DATA_DIR]}"
count="${2:-100000}"
data_dir="${3:-$(mktemp -d)/data}"
port="${PORT:-18090}"
incidents="$(dirname "$data_dir")/incidents-$count.csv"
mkdir -p "$(dirname "$data_dir")"
python3 - "$source_file" "$count" "$incidents" <<'PY'
import csv, random, sys
source, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = list(csv.DictReader(open(source, encoding="utf-8")))
rng = random.Random(20261125)
with open(out, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["id", "short_description", "description", "assignment_group"])
    for i in range(count):
        a, b = rows[rng.randrange(len(rows))], rows[rng.randrange(len(rows))]
        w.writerow([f"SCALE{i:07d}", a["short_description"], b["description"], a["assignment_group"]])
PY
export SWITCHBOARD_DATA_DIR="$data_dir"
use_repo_assets
export SWITCHBOARD_SERVER__LISTEN="127.0.0.1:$port"
# An open triage endpoint is what is measured.
export SWITCHBOARD_TRIAGE__ANONYMOUS=full
echo "== ingesting $count incidents into $data_dir"
/usr/bin/time -f "ingest: %e s wall, peak RSS %M KiB" "$bin" ingest incidents "$incidents" 2>&1 | tail -3
du -sh "$data_dir"
# Recall of indexed search against exact search at the configured index settings, with
# the tickets of QUERIES (default: the source file) as queries.
"$bin" bench recall --file "${QUERIES:-$source_file}" --limit "${RECALL_QUERIES:-500}"
trap '[ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null' EXIT INT TERM
start_server "$port" "$(dirname "$data_dir")/serve.log"
for _ in $(seq 1 20); do
  curl -fsS "http://127.0.0.1:$port/v1/triage" -H 'content-type: application/json' \
    -d '{"title":"VPN keeps dropping","description":"disconnects every few minutes"}' >/dev/null
done
echo "serve with $count incidents: RSS $(awk '/VmRSS/ {print $2}' "/proc/$server/status") KiB after 20 triage requests"
echo "data directory kept for benches/load.sh: DATA_DIR=$data_dir"
