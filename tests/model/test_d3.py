"""D3(BJ): agreement with tad-dftd3, periodic images, scripting, finite differences."""

import pytest
import torch
from ase.build import molecule

from openmm_polarml.data_io import keys as K
from openmm_polarml.model.d3 import D3BJ, load_d3_tables
from tests.model.helpers import batch_of, crystal

pytest.importorskip("tad_dftd3")


def _args(data):
    return [data[k] for k in (K.POSITIONS, K.NUMBERS, K.CELL, K.PBC, K.BATCH, K.PTR)]


def test_matches_tad_dftd3_for_a_molecule():
    import tad_dftd3
    from tad_mctc import units as au

    atoms = molecule("CH3CH2OH")
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=40.0, cn_cutoff=40.0, switch_width=0.5).double()
    ours = d3(*_args(batch_of(atoms))).sum()
    pos = torch.tensor(atoms.positions) * au.AA2AU
    par = {"s6": 1.0, "s8": 0.7875, "a1": 0.4289, "a2": 4.4407, "s9": 0.0}
    ref = (
        tad_dftd3.dftd3(
            torch.tensor(atoms.numbers), pos, {k: torch.tensor(v) for k, v in par.items()}
        ).sum()
        * au.AU2EV
    )
    assert abs(float(ours - ref)) < 1e-10 * abs(float(ref))


def test_periodic_supercell_and_script():
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=8.0, cn_cutoff=6.0).double()
    atoms = crystal(0)
    e1 = d3(*_args(batch_of(atoms))).sum()
    e27 = d3(*_args(batch_of(atoms.repeat(3)))).sum()
    assert float(e1) < 0
    assert abs(float(e27 - 27 * e1)) < 1e-10 * abs(float(e27))
    scripted = torch.jit.script(d3)
    assert torch.allclose(scripted(*_args(batch_of(atoms))).sum(), e1, rtol=1e-14)


def test_forces_by_finite_differences():
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=7.0, cn_cutoff=6.0).double()
    data = batch_of(crystal(3))
    pos = data[K.POSITIONS].clone().requires_grad_(True)
    args = _args(data)
    args[0] = pos
    (grad,) = torch.autograd.grad(d3(*args).sum(), pos)
    h = 1e-5
    for atom, comp in [(0, 0), (3, 2), (5, 1)]:
        vals = []
        for s in (h, -h):
            p = data[K.POSITIONS].clone()
            p[atom, comp] += s
            args[0] = p
            vals.append(float(d3(*args).sum()))
        fd = (vals[0] - vals[1]) / (2 * h)
        assert abs(fd - float(grad[atom, comp])) < 1e-8
