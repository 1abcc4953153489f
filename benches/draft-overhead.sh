#!/usr/bin/env bash
# What a draft in every connector note costs the ticket's path, on demand (not
# in CI): benches/connector-latency.sh with `draft_in_note` off, then on,
# alternating for ROUNDS rounds (default 3), each a fresh server over the
# sample store and articles. TICKETS (a CSV with short_description and
# description, e.g. an unseen split), INCIDENTS (the stored history), EVENTS,
# SENDERS and INTERVAL_MS are passed on.
#
#   INCIDENTS=../shared/datasets/gl8500_train.csv TICKETS=../shared/datasets/gl8500_dev.csv \
#     EVENTS=150 SENDERS=1 INTERVAL_MS=40 benches/draft-overhead.sh
#
# Prints one line per run: `drafts=off|on events=... p50_ms=... p99_ms=...`.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
for round in $(seq "${ROUNDS:-3}"); do
  for drafts in off on; do
    if [ "$drafts" = on ]; then export DRAFT_IN_NOTE=1; else unset DRAFT_IN_NOTE; fi
    printf 'round=%s drafts=%s ' "$round" "$drafts"
    "$here/connector-latency.sh" | tail -n 2 | paste -sd " "
  done
done
