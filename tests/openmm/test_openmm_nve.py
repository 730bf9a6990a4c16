"""NVE energy conservation with PQEqForce (slow: run with -m slow).

611 atoms of 1 M NaCl in water (PQEq PME + flexible TIP3P bonds + TIP3P Lennard-Jones), velocity
Verlet at 0.5 fs, double precision, CPU platform. The drift is fitted after the unminimised start has
relaxed (POLARML_NVE_EQUIL_PS, default 0.5 ps) over POLARML_NVE_PS (default 2 ps; the issue's figure
is 20 ps: benchmarks/nve_drift.py runs it resumably)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))


@pytest.mark.slow
def test_nve_drift_nacl_water():
    from openmm_nve_nacl_water import run

    ps = float(os.environ.get("POLARML_NVE_PS", "2.0"))
    equil = float(os.environ.get("POLARML_NVE_EQUIL_PS", "0.5"))
    res = run(atoms=650, ps=ps, tol=1e-6, report_every=20, equilibrate_ps=equil)
    assert res["atoms"] >= 600
    assert abs(res["drift_meV_per_atom_per_ps"]) < 0.01, res
