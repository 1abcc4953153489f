#!/usr/bin/env bash
# Runs the PostgreSQL integration test against a throw-away cluster on a free
# loopback port (Debian's postgresql package; installed first when missing and
# running as root). CI runs it after `make test`.
# Usage: scripts/test-postgres.sh [TEST_FILTER]  (default: every test named *postgres*)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
bin="$(find_bin)"
if [ -z "$bin" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's postgresql package" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
    bin="$(find_bin)"
  fi
  [ -n "$bin" ] || { echo "PostgreSQL server binaries not found: install Debian's postgresql package" >&2; exit 1; }
fi
dir="$(mktemp -d /tmp/switchboard-pg.XXXXXX)"
port="${PGPORT_TEST:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
as_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres "$dir"; su postgres -c "$*"; else sh -c "$*"; fi; }
as_pg "$bin/initdb -D $dir/data -A trust -U switchboard >/dev/null"
# TLS as a managed PostgreSQL has it: a CA of the run's own signs the
# server's certificate (127.0.0.1); tests connect with sslmode=verify-full.
tls="$dir/tls"
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=switchboard test database CA" \
  -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$tls/san.ext"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
  -days 2 -extfile "$tls/san.ext" -out "$tls/server.pem" 2>/dev/null
chmod 600 "$tls/server.key"
as_pg "$bin/pg_ctl -D $dir/data -o '-p $port -k $dir -h 127.0.0.1 -c ssl=on -c ssl_cert_file=$tls/server.pem -c ssl_key_file=$tls/server.key' -l $dir/log -w start >/dev/null"
trap 'as_pg "$bin/pg_ctl -D $dir/data -m immediate stop >/dev/null"; rm -rf "$dir"' EXIT
as_pg "$bin/createdb -h 127.0.0.1 -p $port -U switchboard switchboard"
SWITCHBOARD_TEST_DATABASE_CA="$tls/ca.pem" \
SWITCHBOARD_TEST_DATABASE_URL="postgres://switchboard@127.0.0.1:$port/switchboard" \
  cargo test --locked --test api "${1:-postgres}" -- --ignored
