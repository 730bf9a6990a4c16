"""NVE energy conservation with PQEqForce (slow: run with -m slow)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))


@pytest.mark.slow
def test_nve_drift_nacl_water():
    from openmm_nve_nacl_water import run

    ps = float(os.environ.get("POLARML_NVE_PS", "0.05"))
    res = run(atoms=650, ps=ps, tol=1e-8, report_every=10)
    assert res["atoms"] >= 600
    assert abs(res["drift_meV_per_atom_per_ps"]) < 0.01, res
