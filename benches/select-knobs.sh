#!/usr/bin/env bash
# Chooses the triage knobs by cross-validation on TRAIN only, on demand (not in CI):
# runs `switchboard eval` once per candidate setting (each a list of SWITCHBOARD_*
# assignments), reads each field's cross-fitted train accuracy and macro-F1 (10 folds:
# neighbours and a head that never saw the fold), picks the candidate with the best
# mean of the two over the fields, and only then prints the TEST (dev) figures, of the
# winner and of the default, scored once.
#   benches/select-knobs.sh TRAIN TEST LABEL [LABEL ...]
# Environment: SWITCHBOARD (binary), CACHE (embedding cache file, reused), CANDIDATES
# (file of candidates, one a line, e.g. "SWITCHBOARD_TRIAGE__CLASSIFIER__CLASS_BALANCE=1.0";
# an empty line is the default settings; default: the built-in list below).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
train="${1:?usage: benches/select-knobs.sh TRAIN TEST LABEL [LABEL ...]}"
test="${2:?}"
shift 2
labels=()
for label in "$@"; do labels+=(--label "$label"); done
cache="${CACHE:-$(mktemp -u).cache}"
out="$(mktemp -d)"
if [ -n "${CANDIDATES:-}" ]; then
  mapfile -t candidates <"$CANDIDATES"
else
  candidates=(
    ""
    "SWITCHBOARD_TRIAGE__CLASSIFIER__CLASS_BALANCE=0.3"
    "SWITCHBOARD_TRIAGE__CLASSIFIER__CLASS_BALANCE=1.0"
    "SWITCHBOARD_TRIAGE__CLASSIFIER__WEIGHT=0.6"
    "SWITCHBOARD_TRIAGE__CLASSIFIER__WEIGHT=1.0"
    "SWITCHBOARD_TRIAGE__CLASSIFIER__CHAR_GRAMS=true"
    "SWITCHBOARD_TRIAGE__NEIGHBOURS=20"
  )
fi
echo "binary: $bin  train: $train  labels: $*"
for n in "${!candidates[@]}"; do
  # shellcheck disable=SC2086 # each candidate is a list of assignments
  env ${candidates[$n]} "$bin" eval --train "$train" --test "$test" "${labels[@]}" \
    --target-precision 0.9 --embedding-cache "$cache" >"$out/$n.txt" 2>/dev/null
done
python3 - "$out" "${candidates[@]}" <<'PY'
import re, sys
out, candidates = sys.argv[1], sys.argv[2:]
pattern = re.compile(r"^(\S+): cross-fitted train: accuracy ([\d.]+), macro-F1 ([\d.]+); test: accuracy ([\d.]+), macro-F1 ([\d.]+)")
runs = []
for n, candidate in enumerate(candidates):
    fields = {}
    coverage = {}
    for line in open(f"{out}/{n}.txt"):
        m = pattern.match(line)
        if m:
            fields[m[1]] = tuple(float(x) for x in m.groups()[1:])
        m = re.match(r"^(\S+): target precision .*cross-fitted train: coverage ([\d.]+), precision ([\d.]+); test: coverage ([\d.]+), precision ([\d.]+)", line)
        if m:
            coverage[m[1]] = tuple(float(x) for x in m.groups()[1:])
    if not fields:
        sys.exit(f"candidate {candidate or '(default)'} printed no cross-fitted figures: {out}/{n}.txt")
    score = sum(f[0] + f[1] for f in fields.values()) / (2 * len(fields))
    runs.append((score, candidate or "(default)", fields, coverage))
print("cross-validated on train (accuracy / macro-F1 / coverage at precision 0.9, per field):")
for score, name, fields, coverage in runs:
    cells = "  ".join(f"{k} {v[0]:.4f}/{v[1]:.4f}/{coverage.get(k, (0,))[0]:.4f}" for k, v in fields.items())
    print(f"  {score:.4f}  {name:<52} {cells}")
best = max(runs, key=lambda r: r[0])
print(f"chosen by cross-validation: {best[1]}")
for score, name, fields, coverage in (best, runs[0]):
    cells = "  ".join(f"{k} {v[2]:.4f}/{v[3]:.4f}/{coverage.get(k, (0,0,0))[2]:.4f}" for k, v in fields.items())
    print(f"test, scored once: {name:<40} {cells}")
PY
