#!/usr/bin/env bash
# A real Request Tracker 5 (Debian's request-tracker5, SQLite, its standalone
# server) for the connector tests; tests/api/rt.rs drives it.
#
#   scripts/rt.sh install           # install the Debian packages when missing (as root)
#   scripts/rt.sh prepare DIR PORT  # config + database + users, queues -> DIR/rt.json
#   scripts/rt.sh serve DIR PORT    # run it on 127.0.0.1:PORT
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
share=/usr/share/request-tracker5
server="$share/libexec/rt-server"
config() {
  export RT_SITE_CONFIG="$1/RT_SiteConfig.pm" RT_SITE_CONFIG_DIR="$1/site.d"
}
case "${1:-}" in
  install)
    if [ ! -x "$server" ]; then
      [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
        || { echo "Request Tracker not found: install Debian's request-tracker5, rt5-db-sqlite and rt5-standalone" >&2; exit 1; }
      echo "installing Debian's request-tracker5" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q --no-install-recommends request-tracker5 rt5-db-sqlite rt5-standalone >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends request-tracker5 rt5-db-sqlite rt5-standalone >/dev/null; }
    fi
    ;;
  prepare)
    dir="$2" port="$3"
    mkdir -p "$dir/site.d"
    cat >"$dir/RT_SiteConfig.pm" <<PERL
Set(\$DatabaseType, 'SQLite');
Set(\$DatabaseName, '$dir/rt.sqlite');
Set(\$rtname, 'switchboard-test');
Set(\$Organization, 'switchboard.test');
Set(\$WebPath, '');
Set(\$WebPort, $port);
Set(\$WebDomain, '127.0.0.1');
Set(\$WebBaseURL, 'http://127.0.0.1:$port');
Set(\$LogToSTDERR, 'error');
Set(\$LogToSyslog, undef);
Set(\$LogToFile, undef);
Set(\$MailCommand, 'testfile');
Set(\$Timezone, 'UTC');
1;
PERL
    config "$dir"
    { yes || true; } | /usr/sbin/rt-setup-database --action init --skip-create >"$dir/setup.log" 2>&1
    perl "$root/tests/rt/bootstrap.pl" >"$dir/rt.json"
    ;;
  serve)
    config "$2"
    exec "$server" --port "$3"
    ;;
  *)
    echo "usage: $0 install | prepare DIR PORT | serve DIR PORT" >&2
    exit 2
    ;;
esac
