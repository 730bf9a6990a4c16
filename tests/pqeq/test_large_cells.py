"""Slow physics runs: convergence on the named cells and the published Li2PO2N number."""

import pytest
import torch
from ase.io import read
from pqeq_structures import SHARED, batio3, nacl, tensors, water_box

from openmm_polarml.pqeq import PQEq

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "name,atoms",
    [("NaCl 4x4x4", nacl(4)), ("BaTiO3 5x5x5 Ti+0.1", batio3(5)), ("water 64", water_box(4))],
)
def test_converged_mode_converges_on_named_cells(name, atoms):
    pos, z, cell, _ = tensors(atoms)
    out = PQEq("pme", solver="iterative", tolerance=1e-6)(pos, z, cell=cell, pbc=True)
    assert torch.isfinite(out["energy"]).all()
    assert abs(float(out["charges"].sum())) < 1e-9
    if name.startswith("NaCl"):
        na = out["charges"][z == 11]
        assert float(na.max() - na.min()) < 1e-6


def test_reaxnet_mode_reproduces_published_li2po2n():
    atoms = read(SHARED / "Li2PO2N.cif")
    pos, z, cell, _ = tensors(atoms)
    out = PQEq("taper", mode="reaxnet")(pos, z, cell=cell, pbc=True, compute_forces=False)
    assert float(out["energy"]) == pytest.approx(-592.375, abs=0.05)
    q = out["charges"]
    assert float(q[z == 3].mean()) == pytest.approx(0.375, abs=0.01)
    assert float(q[z == 15].mean()) == pytest.approx(0.059, abs=0.01)
