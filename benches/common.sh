# Shared by the on-demand bench scripts (sourced, not run).
# Sets `root`, `bin` (SWITCHBOARD, else the release binary, else the dev one) and
# `use_repo_assets` (points a server at this checkout's model, prompts and runbooks).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${SWITCHBOARD:-}"
if [ -z "$bin" ]; then
  if [ -x "$root/target/release/switchboard" ]; then bin="$root/target/release/switchboard"; else bin="$root/target/debug/switchboard"; fi
fi

use_repo_assets() {
  export SWITCHBOARD_MODEL__DIR="$root/models/all-MiniLM-L6-v2"
  export SWITCHBOARD_PROMPTS_DIR="$root/prompts"
  export SWITCHBOARD_RUNBOOKS__DIR="$root/runbooks"
  export SWITCHBOARD_RUNBOOKS__INVENTORY="$root/runbooks/inventory.yaml"
}

# Starts `$bin serve` in the background, its output in LOG, sets `server` to its pid and
# waits until it is ready on 127.0.0.1:PORT (up to 10 minutes); if the server exits
# first, prints LOG and fails.
start_server() {
  local port="$1" log="$2"
  "$bin" serve >"$log" 2>&1 &
  server=$!
  for _ in $(seq 1 1200); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$server" 2>/dev/null || { cat "$log"; return 1; }
    sleep 0.5
  done
  echo "the server was not ready after 10 minutes" >&2
  return 1
}

# Makes the throw-away virtualenv DIR from PyPI with PACKAGES unless it exists already.
python_venv() {
  local dir="$1"
  shift
  if [ ! -x "$dir/bin/python" ]; then
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet "$@"
  fi
}

# Sets `venv` to the PyTorch virtualenv shared by pytorch-compare.sh and finetune-ceiling.sh
# (PYTORCH_VENV, else one under TMPDIR), making it first if needed.
pytorch_venv() {
  venv="${PYTORCH_VENV:-${TMPDIR:-/tmp}/switchboard-pytorch-venv}"
  python_venv "$venv" "torch==2.15.0" "sentence-transformers==6.2.0"
}

# Installs wrk (Debian's package) when it is missing.
ensure_wrk() {
  command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null || sudo apt-get install -y wrk >/dev/null; }
}

# Makes the scratch directory `work`, removed (and the server stopped) at exit.
make_work_dir() {
  work="$(mktemp -d)"
  trap 'cleanup_work' EXIT INT TERM
}
cleanup_work() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}

# Writes $work/switchboard.toml for a server on 127.0.0.1:PORT over DATA_DIR (default
# $work/data) with one agent token, exports SWITCHBOARD_CONFIG, and sets `token` to
# that token.
agent_config() {
  local port="$1" data_dir="${2:-$work/data}" hash
  token="bench-agent-token-0123456789"
  hash="$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)"
  cat >"$work/switchboard.toml" <<TOML
data_dir = "$data_dir"
[server]
listen = "127.0.0.1:$port"
[[auth.tokens]]
name = "bench-agent"
role = "agent"
sha256 = "$hash"
TOML
  export SWITCHBOARD_CONFIG="$work/switchboard.toml"
}

# Writes DIR/triage.lua, the wrk script that POSTs five realistic tickets to
# /v1/triage in rotation (with `token` as a bearer token when it is set) and
# prints the responses by status at the end, and DIR/tickets.csv (each
# ticket 200 times) for raw embedding figures.
write_triage_script() {
  local dir="$1"
  python3 - "$dir" <<'PY'
import csv, json, sys
work = sys.argv[1]
tickets = [
    ("VPN keeps dropping", "Since this morning my VPN disconnects every few minutes when working from home."),
    ("Outlook asks for password", "Outlook prompts for my credentials every few minutes and does not sync."),
    ("Printer offline", "The printer on floor 3 shows offline for everyone, jobs stay in the queue."),
    ("Disk full on batch server", "No space left on device: /srv/switchboard/cache grew overnight."),
    ("Cannot log in to ERP", "My account is locked after the password change, ERP login fails with error 401."),
]
with open(f"{work}/tickets.lua", "w") as out:
    out.write("local tickets = {\n")
    for title, description in tickets:
        body = json.dumps({"title": title, "description": description})
        out.write("  " + json.dumps(body) + ",\n")
    out.write("}\n")
with open(f"{work}/tickets.csv", "w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow(["id", "short_description", "description", "assignment_group"])
    for n in range(1000):
        title, description = tickets[n % len(tickets)]
        writer.writerow([f"L{n}", title, description, "x"])
PY
  { cat "$dir/tickets.lua"; printf 'local headers = { ["Content-Type"] = "application/json"%s }\n' \
      "${token:+, [\"Authorization\"] = \"Bearer $token\"}"; cat <<'LUA'
-- Rotates through a few realistic tickets so requests are not identical.
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/v1/triage", headers, tickets[(n % #tickets) + 1])
end
-- Responses by status, summed over wrk's threads and printed at the end.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= 200 and not refusal then refusal = body end
end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + count end
  end
  for status, count in pairs(total) do io.write(string.format("status %s: %d\n", status, count)) end
  for _, thread in ipairs(threads) do
    local body = thread:get("refusal")
    if body then io.write("status first refusal: " .. body .. "\n") break end
  end
end
LUA
  } >"$dir/triage.lua"
}
