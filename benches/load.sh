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
# An open triage endpoint is what is measured.
export SWITCHBOARD_TRIAGE__ANONYMOUS=full
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

write_triage_script "$work"

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
