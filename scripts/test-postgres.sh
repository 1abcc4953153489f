#!/usr/bin/env bash
# Runs the PostgreSQL integration test against a throw-away cluster (Debian's
# postgresql package; not part of CI). Usage: scripts/test-postgres.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
dir="$(mktemp -d /tmp/switchboard-pg.XXXXXX)"
port="${PGPORT_TEST:-55432}"
as_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres "$dir"; su postgres -c "$*"; else sh -c "$*"; fi; }
as_pg "$bin/initdb -D $dir/data -A trust -U switchboard >/dev/null"
as_pg "$bin/pg_ctl -D $dir/data -o '-p $port -k $dir -h 127.0.0.1' -l $dir/log -w start >/dev/null"
trap 'as_pg "$bin/pg_ctl -D $dir/data -m immediate stop >/dev/null"; rm -rf "$dir"' EXIT
as_pg "$bin/createdb -h 127.0.0.1 -p $port -U switchboard switchboard"
SWITCHBOARD_TEST_DATABASE_URL="postgres://switchboard@127.0.0.1:$port/switchboard" \
  cargo test --locked --test api postgres -- --ignored
