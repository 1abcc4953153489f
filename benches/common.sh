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
