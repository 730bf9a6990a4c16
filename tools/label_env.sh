#!/usr/bin/env bash
# Separate environment for teacher labels: SevenNet-0 (sevenn 0.13.0), GFN2-xTB (tblite 0.8.0) and
# PySCF 2.14.0 (the fine-tuning demo set).
# Never installed into .venv (their torch/e3nn/numpy pins differ from the project's set).
# Usage: bash tools/label_env.sh      -> .venv-labels/ (gitignored), idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-labels
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.9.1"
"$VENV/bin/python" -m pip install -q "sevenn==0.13.0" "tblite==0.8.0" "pyscf==2.14.0" "ase==3.29.0" "numpy>=2,<2.5" tqdm
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
for name in ("sevenn", "tblite", "pyscf", "torch", "ase", "numpy"):
    print(name, md.version(name))
PY
