#!/usr/bin/env bash
# One entry point for a fresh machine: creates .venv, installs the pinned set from pyproject.toml,
# builds the package (csrc/ against the installed torch and openmm), then runs a job.
#   bash tools/polarml.sh main    # the main job (see README)
#   bash tools/polarml.sh test    # the test suite (what CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${POLARML_VENV:-.venv}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

setup() {
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  local pins
  pins=$("$VENV/bin/python" - <<'PYEOF'
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = p["dependencies"] + p["optional-dependencies"]["build"] + p["optional-dependencies"]["test"]
print("\n".join(deps))
PYEOF
)
  local stamp="$VENV/.pins"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$pins" ]; then
    echo "[polarml] installing the pinned dependency set (first run: several minutes)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    echo "$pins" | xargs "$VENV/bin/python" -m pip install -q
    echo "$pins" > "$stamp"
  fi
  echo "[polarml] building openmm_polarml (csrc/ against the installed torch and openmm)"
  "$VENV/bin/python" -m pip install -q --no-build-isolation --no-deps -e .
}

case "${1:-}" in
  main) setup; shift; "$VENV/bin/python" examples/quickstart.py "$@" ;;
  test)
    setup; shift
    set +e
    "$VENV/bin/python" -m pytest "$@"
    rc=$?
    set -e
    if [ $rc -eq 5 ]; then echo "[polarml] pytest collected no tests: failing"; exit 1; fi
    exit $rc ;;
  setup) setup ;;
  *) echo "usage: bash tools/polarml.sh {main|test|setup} [args]"; exit 2 ;;
esac
