#!/usr/bin/env bash
# Both encoders side by side, in one run, on demand (not in CI): dev accuracy,
# macro-F1 and coverage at precision 0.90 on gl8500 (assignment group) and endava
# (category, business_service, ticket_type); embedding speed at batch 1 and 32 on
# gl8500 dev texts; and triage latency (p50 / p99, one client, wrk) of a server
# holding the sample incidents. Each encoder gets its own embedding caches under
# SCRATCH (default a new temporary directory; keep it to rerun without embedding).
#   benches/encoders.sh [DATASETS]      # DATASETS defaults to ../shared/datasets
# Environment: SWITCHBOARD (binary), ENCODERS (model directories, default both),
# SCRATCH, LIMIT (texts timed per batch size, default 400), PORT (18090),
# DURATION (seconds of triage latency per encoder, default 20), SPEED_ONLY=1 (skip
# the evaluations: speeds alone, nothing else running beside them).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
datasets="${1:-$root/../shared/datasets}"
scratch="${SCRATCH:-$(mktemp -d)}"
limit="${LIMIT:-400}"
port="${PORT:-18090}"
duration="${DURATION:-20}"
read -r -a encoders <<<"${ENCODERS:-$root/models/all-MiniLM-L6-v2 $root/models/all-mpnet-base-v2}"
"$root/scripts/fetch-model.sh" >/dev/null
"$root/scripts/fetch-mpnet.sh" >/dev/null
ensure_wrk
make_work_dir
echo "binary: $bin  cpu:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)  cores: $(nproc)"
for model in "${encoders[@]}"; do
  name="$(basename "$model")"
  mkdir -p "$scratch/$name"
  use_repo_assets
  export SWITCHBOARD_MODEL__DIR="$model"
  echo "== $name"
  if [ -z "${SPEED_ONLY:-}" ]; then
  started=$(date +%s)
  "$bin" eval --train "$datasets/gl8500_train.csv" --test "$datasets/gl8500_dev.csv" \
    --label assignment_group --target-precision 0.9 --embedding-cache "$scratch/$name/gl8500.cache"
  echo "gl8500 eval: $(( $(date +%s) - started )) s"
  started=$(date +%s)
  "$bin" eval --train "$datasets/endava_train.csv" --test "$datasets/endava_dev.csv" \
    --label category --label business_service --label ticket_type --target-precision 0.9 \
    --embedding-cache "$scratch/$name/endava.cache"
  echo "endava eval: $(( $(date +%s) - started )) s"
  fi
  for batch in 1 32; do
    "$bin" bench embed --file "$datasets/gl8500_dev.csv" --limit "$limit" --batch "$batch" | tail -1
  done
  # Triage latency: a fresh server over the sample incidents, one client.
  rm -rf "$work/data"
  agent_config "$port" "$work/data"
  "$bin" ingest incidents "$root/sample/incidents.csv" >/dev/null 2>&1
  start_server "$port" "$work/serve-$name.log"
  write_triage_script "$work"
  echo "triage, 1 client, ${duration}s:"
  wrk --latency -t1 -c1 -d"${duration}s" -s "$work/triage.lua" "http://127.0.0.1:$port" \
    | grep -E "^\s+(50%|99%)|Requests/sec|^status"
  kill "$server" && wait "$server" 2>/dev/null || true
  server=""
  unset SWITCHBOARD_CONFIG
done
