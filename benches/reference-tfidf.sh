#!/usr/bin/env bash
# The TF-IDF reference next to `switchboard eval`, on demand (not in CI): makes a
# throw-away virtualenv with scikit-learn from PyPI and scores the same files.
#   benches/reference-tfidf.sh ../shared/datasets/gl8500_train.csv ../shared/datasets/gl8500_dev.csv assignment_group
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"
venv="${REFERENCE_VENV:-${TMPDIR:-/tmp}/switchboard-reference-venv}"
python_venv "$venv" "scikit-learn==1.7.2" "numpy<3"
exec "$venv/bin/python" "$here/reference_tfidf.py" "$@"
