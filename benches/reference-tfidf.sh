#!/usr/bin/env bash
# The TF-IDF reference next to `switchboard eval`, on demand (not in CI): makes a
# throw-away virtualenv with scikit-learn from PyPI and scores the same files.
#   benches/reference-tfidf.sh ../shared/datasets/gl8500_train.csv ../shared/datasets/gl8500_dev.csv assignment_group
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${REFERENCE_VENV:-${TMPDIR:-/tmp}/switchboard-reference-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "scikit-learn==1.7.2" "numpy<3"
fi
exec "$venv/bin/python" "$here/reference_tfidf.py" "$@"
