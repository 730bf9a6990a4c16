"""The ASE MD example runs end to end with the shipped model and warm-starts its solves."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.model.helpers import pqeq_module

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ase_md_calculator.py"


@pytest.mark.skipif(not pqeq_module()[1], reason="the PQEq engine does not import")
def test_ase_md_example_runs_and_warm_starts(tmp_path):
    out = tmp_path / "ase_md"
    cmd = [sys.executable, str(EXAMPLE), "--steps", "8", "--every", "4", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    log = json.loads((out / "ase_md.json").read_text())
    assert (out / "ase_md.png").stat().st_size > 10_000
    assert len(log["iterations"]) >= 8
    # the first solve starts cold; later ones from the extrapolated previous solutions
    assert max(log["iterations"][4:]) < log["iterations"][0]
    assert all(q > 0 for q in log["na_charge"])
