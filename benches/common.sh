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
