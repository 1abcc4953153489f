#!/usr/bin/env bash
# A real django-helpdesk (PyPI, in a throw-away virtualenv, SQLite) for the
# connector tests; tests/api/helpdesk.rs drives it.
#
#   scripts/helpdesk.sh venv                     # make the virtualenv (HELPDESK_VENV)
#   scripts/helpdesk.sh prepare DIR              # migrate + users, tokens, queues -> DIR/helpdesk.json
#   scripts/helpdesk.sh serve DIR PORT HOOK_URL  # run it on 127.0.0.1:PORT, webhooks to HOOK_URL
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HELPDESK_VENV:-${TMPDIR:-/tmp}/switchboard-helpdesk-venv}"
python="$venv/bin/python"
export DJANGO_SETTINGS_MODULE=settings PYTHONPATH="$root/tests/helpdesk"
case "${1:-}" in
  venv)
    if [ ! -x "$python" ] || ! "$python" -c 'import helpdesk' 2>/dev/null; then
      python3 -m venv "$venv"
      "$venv/bin/pip" install --quiet "django-helpdesk==2.6.1"
    fi
    ;;
  prepare)
    export HELPDESK_DATA="$2"
    mkdir -p "$HELPDESK_DATA"
    "$python" -m django migrate --noinput >"$HELPDESK_DATA/migrate.log" 2>&1
    "$python" "$root/tests/helpdesk/bootstrap.py" >"$HELPDESK_DATA/helpdesk.json"
    ;;
  serve)
    export HELPDESK_DATA="$2"
    export HELPDESK_NEW_TICKET_WEBHOOK_URLS="$4" HELPDESK_FOLLOWUP_WEBHOOK_URLS="$4"
    exec "$python" -m django runserver "127.0.0.1:$3" --noreload
    ;;
  *)
    echo "usage: $0 venv | prepare DIR | serve DIR PORT HOOK_URL" >&2
    exit 2
    ;;
esac
