"""The quickstart (README command 1): its water check, and the command end to end on the crystal
path with few steps."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_water_intact_detects_broken_bonds():
    from openmm_polarml.analysis.integrity import water_intact
    from openmm_polarml.openmm.standard_systems import electrolyte

    topology, positions = electrolyte(1.6)
    assert water_intact(topology, positions)
    broken = positions.copy()
    (o, h), *_ = [(a.index, b.index) for a, b in topology.bonds()]
    broken[h] = broken[o] + [0.2, 0.0, 0.0]
    assert not water_intact(topology, broken)


@pytest.mark.slow
def test_quickstart_runs_and_writes_outputs(tmp_path):
    argv = ["--out", str(tmp_path), "--skip-electrolyte", "--steps", "20", "--report-every", "10"]
    command = [sys.executable, str(ROOT / "examples" / "quickstart.py"), *argv]
    assert subprocess.run(command, cwd=ROOT).returncode == 0
    for name in ("topology.pdb", "trajectory_nofield.dcd", "charges_field.nc", "quickstart.png"):
        assert (tmp_path / name).stat().st_size > 0
    from openmm_polarml.analysis.pqeq_report import load_pqeq_report

    report = load_pqeq_report(tmp_path / "charges_field.nc")
    assert report.n_frames == 2 and np.allclose(report.field[:, 2], 1.0)
