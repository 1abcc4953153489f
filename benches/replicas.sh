#!/usr/bin/env bash
# Triage with the vectors on a Qdrant server and the state in PostgreSQL, 1 and
# 2 replicas of `switchboard serve`, next to the embedded Qdrant Edge store on
# the same machine and the same incidents; and recall@10 of the server backend
# against its own exact search. On demand, not in CI.
#
#   benches/replicas.sh /tmp/scale/data     # an embedded store, e.g. 100k incidents
#                                           # from benches/scale-store.sh
#
# The store is copied to a throw-away Qdrant server with `switchboard
# migrate-store` (timed); each setup gets DURATION seconds at 1 client and at 16
# clients (wrk; with 2 replicas, 8 clients on each and the throughputs added).
# Environment: QDRANT_BIN (default ../shared/qdrant/qdrant), DURATION (20),
# QUERIES (CSV for recall, default ../shared/datasets/gl8500_dev.csv),
# RECALL_QUERIES (500), PORT (base port, 18180).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
store="${1:?usage: benches/replicas.sh DATA_DIR_WITH_AN_EMBEDDED_STORE}"
store="$(cd "$store" && pwd)"
duration="${DURATION:-20}"
port="${PORT:-18180}"
qdrant_bin="${QDRANT_BIN:-$root/../shared/qdrant/qdrant}"
queries="${QUERIES:-$root/../shared/datasets/gl8500_dev.csv}"
[ -x "$qdrant_bin" ] || { echo "no Qdrant server at $qdrant_bin (set QDRANT_BIN)" >&2; exit 1; }
ensure_wrk
use_repo_assets
work="$(mktemp -d)"
chmod 755 "$work"  # the postgres user reaches its cluster under it
pids=()
pg_stop=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$pg_stop" ] && eval "$pg_stop"
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "== PostgreSQL (throw-away cluster)"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
pg_port="$(free_port)"
as_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres "$work/pg"; su postgres -c "$*"; else sh -c "$*"; fi; }
mkdir -p "$work/pg"
as_pg "$pg_bin/initdb -D $work/pg/data -A trust -U switchboard >/dev/null"
as_pg "$pg_bin/pg_ctl -D $work/pg/data -o '-p $pg_port -k $work/pg -h 127.0.0.1' -l $work/pg/log -w start >/dev/null"
pg_stop="as_pg '$pg_bin/pg_ctl -D $work/pg/data -m immediate stop >/dev/null'"
as_pg "$pg_bin/createdb -h 127.0.0.1 -p $pg_port -U switchboard switchboard"
database_url="postgres://switchboard@127.0.0.1:$pg_port/switchboard"

echo "== Qdrant server $("$qdrant_bin" --version 2>/dev/null | head -1)"
q_http="$(free_port)"; q_grpc="$(free_port)"
( cd "$work" && QDRANT__CLUSTER__ENABLED=false QDRANT__SERVICE__HOST=127.0.0.1 \
  QDRANT__SERVICE__HTTP_PORT="$q_http" QDRANT__SERVICE__GRPC_PORT="$q_grpc" \
  QDRANT__STORAGE__STORAGE_PATH="$work/qdrant" QDRANT__TELEMETRY_DISABLED=true \
  QDRANT__LOG_LEVEL=WARN exec "$qdrant_bin" >"$work/qdrant.log" 2>&1 ) &
pids+=($!)
until curl -fsS "http://127.0.0.1:$q_http/readyz" >/dev/null 2>&1; do sleep 0.2; done

# Writes config N: data dir, port, store backend, database.
config() {
  local name="$1" data="$2" listen="$3" backend="$4" database="${5:-}"
  {
    echo "data_dir = \"$data\""
    [ -n "$database" ] && echo "database_url = \"$database\""
    echo "[server]"; echo "listen = \"127.0.0.1:$listen\""
    echo "[triage]"; echo "anonymous = \"full\""
    echo "[store]"; echo "backend = \"$backend\""
    echo "[store.qdrant]"; echo "url = \"http://127.0.0.1:$q_grpc\""; echo "collection_prefix = \"bench_\""
  } >"$work/$name.toml"
  echo "$work/$name.toml"
}

serve() {
  local config="$1" listen="$2" log="$3"
  SWITCHBOARD_CONFIG="$config" "$bin" serve >"$log" 2>&1 &
  pids+=($!)
  local pid=$!
  for _ in $(seq 1 1200); do
    curl -fsS "http://127.0.0.1:$listen/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log"; return 1; }
    sleep 0.5
  done
  return 1
}
stop_all_serve() {
  for pid in "${pids[@]:1}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  pids=("${pids[0]}")
}

write_triage_script "$work"
load() { wrk --latency -s "$work/triage.lua" "$@"; }
summary() { grep -E "^\s+(50%|99%)|Requests/sec|Non-2xx|Socket errors|^status" | tr -s ' ' | paste -sd' '; }

measure() {
  local label="$1"; shift
  echo "-- $label: 1 client, ${duration}s: $(load -t1 -c1 -d"${duration}s" "http://127.0.0.1:$1" | summary)"
  if [ "$#" = 1 ]; then
    echo "-- $label: 16 clients, ${duration}s: $(load -t2 -c16 -d"${duration}s" "http://127.0.0.1:$1" | summary)"
  else
    load -t1 -c8 -d"${duration}s" "http://127.0.0.1:$1" | summary >"$work/a" &
    local a=$!
    load -t1 -c8 -d"${duration}s" "http://127.0.0.1:$2" | summary >"$work/b"
    wait "$a"
    echo "-- $label: 16 clients (8 on each), ${duration}s: replica 1: $(cat "$work/a"); replica 2: $(cat "$work/b")"
    awk '{for (i = 1; i <= NF; i++) if ($i == "Requests/sec:") s += $(i + 1)} END {printf "-- %s: 16 clients total %.1f req/s\n", label, s}' label="$label" "$work/a" "$work/b"
  fi
}

echo "== Qdrant Edge (embedded), $store"
edge="$(config edge "$store" "$port" edge)"
serve "$edge" "$port" "$work/edge.log"
echo "incidents: $(curl -fsS "http://127.0.0.1:$port/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["incidents"])')"
measure "edge" "$port"
stop_all_serve
if [ -f "$queries" ]; then
  echo "-- edge recall: $(SWITCHBOARD_CONFIG="$edge" "$bin" bench recall --file "$queries" --limit "${RECALL_QUERIES:-500}" | tail -1)"
fi

echo "== migrate-store to the Qdrant server"
/usr/bin/time -f "migrate-store: %e s wall, peak RSS %M KiB" env SWITCHBOARD_CONFIG="$edge" "$bin" migrate-store --from edge --to qdrant 2>&1 | tail -3
# Measure the server once it has indexed what it received (status green).
until curl -fsS "http://127.0.0.1:$q_http/collections/bench_incidents" | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["result"]["status"] != "green")'; do sleep 1; done
echo "server collection indexed: $(curl -fsS "http://127.0.0.1:$q_http/collections/bench_incidents" | python3 -c 'import json,sys; r=json.load(sys.stdin)["result"]; print(r["points_count"], "points,", r["indexed_vectors_count"], "indexed vectors")')"
if [ -f "$queries" ]; then
  echo "-- qdrant server recall: $(SWITCHBOARD_CONFIG="$(config recall "$store" "$port" qdrant)" "$bin" bench recall --file "$queries" --limit "${RECALL_QUERIES:-500}" | tail -1)"
fi

# Replicas keep nothing locally: fresh data directories, and the head moved
# into PostgreSQL by the first one (the file an embedded store kept).
mkdir -p "$work/r1/classifier" "$work/r2"
head="$store/classifier/head.bin"; [ -f "$head" ] || head="$store/classifier/head.bin.imported"
[ -f "$head" ] && cp "$head" "$work/r1/classifier/head.bin"
r1="$(config r1 "$work/r1" "$((port + 1))" qdrant "$database_url")"
r2="$(config r2 "$work/r2" "$((port + 2))" qdrant "$database_url")"

echo "== Qdrant server, 1 replica"
serve "$r1" "$((port + 1))" "$work/r1.log"
measure "qdrant x1" "$((port + 1))"
echo "== Qdrant server, 2 replicas"
serve "$r2" "$((port + 2))" "$work/r2.log"
measure "qdrant x2" "$((port + 1))" "$((port + 2))"
