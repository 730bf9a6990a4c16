#!/usr/bin/env bash
# A separate interpreter for the MACE rows of benchmarks/bench_openmm_nsday.py.
#
# mace-torch pins e3nn==0.4.4 and this package needs e3nn 0.6.0, so MACE never goes into .venv:
# it lives in .venv-bench (gitignored), with the same torch and openmm as the pinned set.
#
#     bash benchmarks/mace_env.sh            # creates/updates .venv-bench
#     VENV_BENCH=/path bash benchmarks/mace_env.sh
#
# torch 2.9.1 comes from the PyTorch CPU wheel index when it is reachable, else from the package
# index (the CUDA 12.8 build, which runs on a CPU-only machine). mace-torch 0.3.16 is the newest
# release; it provides mace_omol and the total_charge/total_spin inputs that openmm-ml 1.7's MACE
# potential imports and passes.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV_BENCH:-.venv-bench}
PYTHON=${PYTHON:-python3.11}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/pip"
"$PIP" install --upgrade pip >/dev/null
if ! "$PIP" install --retries 0 --timeout 15 --index-url https://download.pytorch.org/whl/cpu \
    "torch==2.9.1"; then
    echo "PyTorch CPU index unreachable: torch 2.9.1 from the package index" >&2
    "$PIP" install "torch==2.9.1"
fi
"$PIP" install "torch==2.9.1" "openmm==8.5.2" "openmmml==1.7" "mace-torch==0.3.16" \
    "e3nn==0.4.4" "numpy>=2,<2.5"
"$VENV/bin/python" - <<'PY'
from importlib.metadata import version

import openmmml  # noqa: F401
from mace.calculators.foundations_models import mace_omol  # noqa: F401  (openmm-ml 1.7 imports it)

print(*(f"{p} {version(p)}" for p in ("torch", "openmm", "openmmml", "e3nn", "mace-torch")))
PY
