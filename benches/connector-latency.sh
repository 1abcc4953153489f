#!/usr/bin/env bash
# Event-to-write-back latency (p50 / p99) and events per second of the generic
# connector, on demand (not in CI): a Switchboard server over the sample store,
# a local recording server standing in for the ticketing system, EVENTS signed
# events (default 200) from SENDERS concurrent senders (default 4), each
# pausing INTERVAL_MS (default 0: as fast as the hook answers) between events.
#
#   benches/connector-latency.sh
#
# Environment: SWITCHBOARD (binary), PORT (18082), RECORDER_PORT (18083),
# DRAFT_IN_NOTE=1 (a cited draft in every note, written from the ticket's own
# retrieval), TICKETS (a CSV with short_description and description columns
# to send instead of the three built-in tickets, e.g. an unseen split),
# INCIDENTS (the history to store instead of sample/incidents.csv).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
port="${PORT:-18082}"
recorder_port="${RECORDER_PORT:-18083}"
make_work_dir
use_repo_assets
key="bench-hook-key-0123456789"
draft_in_note=false
[ -n "${DRAFT_IN_NOTE:-}" ] && draft_in_note=true
mkdir -p "$work/runbooks"
cp "$root/runbooks/inventory.yaml" "$work/runbooks/"
printf 'BENCH_HOOK_KEY: %s\n' "$key" >"$work/secrets.yaml"
chmod 600 "$work/secrets.yaml"
cat >"$work/switchboard.toml" <<TOML
data_dir = "$work/data"
[server]
listen = "127.0.0.1:$port"
[runbooks]
dir = "$work/runbooks"
inventory = "$work/runbooks/inventory.yaml"
secrets_file = "$work/secrets.yaml"
[[connectors]]
name = "bench"
kind = "generic"
base_url = "http://127.0.0.1:$recorder_port"
inbound = { hmac_secret = "BENCH_HOOK_KEY" }
draft_in_note = $draft_in_note
[connectors.fields.assignment_group]
mode = "apply"
[connectors.fields.category]
mode = "note"
[connectors.generic]
id = "/ticket/id"
title = "/ticket/title"
description = "/ticket/description"
revision = "/ticket/updated_at"
update = { method = "PATCH", path = "/api/tickets/{id}" }
TOML
export SWITCHBOARD_CONFIG="$work/switchboard.toml"
"$bin" ingest incidents "${INCIDENTS:-$root/sample/incidents.csv}" >/dev/null 2>&1
"$bin" ingest kb "$root/sample/kb" >/dev/null 2>&1
start_server "$port" "$work/serve.log"
python3 "$root/benches/connector_latency.py" --switchboard "http://127.0.0.1:$port" \
  --recorder-port "$recorder_port" --key "$key" --events "${EVENTS:-200}" --senders "${SENDERS:-4}" --interval-ms "${INTERVAL_MS:-0}" \
  ${TICKETS:+--tickets "$TICKETS"}
# What drafting did, from the server's own counters (empty with drafts off).
printf 'drafts: %s\n' "$(curl -fsS "http://127.0.0.1:$port/metrics" \
  | awk '/^switchboard_drafts_total/ { sub(/.*outcome="/, ""); sub(/"}/, "="); printf "%s ", $0 }')"
