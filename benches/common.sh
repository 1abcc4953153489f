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
