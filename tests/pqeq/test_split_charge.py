"""Split-charge equilibration (charge moves along bonds): integer ions, exact forces, and a
polarisation of periodic cells that does not depend on image choice (issue 25, part 0)."""

from __future__ import annotations

import pytest
import torch
from pqeq_structures import nacl, tensors, water_cluster

from openmm_polarml.pqeq import PQEq
from openmm_polarml.pqeq.split_charge import DEFAULT_SPLIT_CUTOFF, bond_taper
from tests.physics_checks import (
    TOLERANCE,
    assert_close,
    central_difference_forces,
    central_difference_stress,
)

F64 = torch.float64


def split_engine(**kwargs) -> PQEq:
    kwargs.setdefault("charge_transfer", "split")
    return PQEq(**kwargs)


def ion_pair(distance: float):
    positions = torch.tensor([[0.0, 0.0, 0.0], [distance, 0.3, -0.2]], dtype=F64)
    return positions, torch.tensor([11, 17])


@pytest.mark.parametrize("distance", [DEFAULT_SPLIT_CUTOFF + 0.01, 8.0, 30.0])
def test_separated_ion_pair_keeps_integer_reference_charges(distance):
    positions, numbers = ion_pair(distance)
    engine = split_engine()
    neutral = engine(positions, numbers)["charges"]
    assert torch.equal(neutral, torch.zeros(2, dtype=F64))  # one neutral fragment: atoms
    ions = engine(positions, numbers, fragments=[[0], [1]], fragment_charges=[1.0, -1.0])
    assert torch.equal(ions["charges"], torch.tensor([1.0, -1.0], dtype=F64))


def test_global_equilibration_does_not_separate_ions():
    """The defect split charges remove: global QEq keeps ~0.5 e on atoms 8 Å apart."""
    positions, numbers = ion_pair(8.0)
    q = PQEq()(positions, numbers)["charges"]
    assert float(q[0]) > 0.3


def test_bonded_pair_transfers_charge_and_conserves_it():
    positions, numbers = ion_pair(2.4)
    q = split_engine()(positions, numbers)["charges"]
    assert 0.1 < float(q[0]) < 1.0
    assert abs(float(q.sum())) < 1e-12


def test_charge_conserved_per_connected_group():
    """Two water clusters 20 Å apart: each keeps the charge of its own reference charges."""
    a, b = water_cluster(3, seed=1), water_cluster(3, seed=2)
    b.positions += [20.0, 0.0, 0.0]
    positions, numbers = tensors(a + b)[:2]
    n = len(a)
    fragments = [list(range(n)), list(range(n, 2 * n))]
    out = split_engine()(positions, numbers, fragments=fragments, fragment_charges=[1.0, 0.0])
    q = out["charges"]
    assert abs(float(q[:n].sum()) - 1.0) < 1e-12
    assert abs(float(q[n:].sum())) < 1e-12


def test_taper_is_smooth_and_bounded():
    r = torch.linspace(0.0, 6.0, 601, dtype=F64, requires_grad=True)
    w = bond_taper(r, DEFAULT_SPLIT_CUTOFF)
    (dw,) = torch.autograd.grad(w.sum(), r)
    assert float(w[0].detach()) == 1.0 and float(w[-1].detach()) == 0.0
    assert bool(((w >= 0) & (w <= 1)).all()) and bool((dw <= 0).all())
    edge = torch.tensor([DEFAULT_SPLIT_CUTOFF - 1e-6], dtype=F64, requires_grad=True)
    (slope,) = torch.autograd.grad(bond_taper(edge, DEFAULT_SPLIT_CUTOFF).sum(), edge)
    assert abs(float(slope)) < 1e-9


@pytest.mark.parametrize("with_field", [False, True])
def test_forces_are_the_negative_gradient(with_field):
    """Cluster with a cation and bonds inside the taper; shells, the bond taper and the field."""
    atoms = water_cluster(3, seed=3)
    positions, numbers = tensors(atoms)[:2]
    positions = torch.cat([positions, positions.mean(0, keepdim=True) + 0.4])
    numbers = torch.cat([numbers, torch.tensor([11])])
    field = torch.tensor([0.05, -0.02, 0.03], dtype=F64) if with_field else None
    engine = split_engine(tolerance=1e-10)
    kw = {"total_charge": 1.0, "external_field": field}
    forces = engine(positions, numbers, **kw)["forces"]
    atoms_checked = [0, 1, len(numbers) - 1]

    def energy(p):
        return float(engine(p, numbers, **kw)["energy"])

    reference = central_difference_forces(energy, positions, atoms_checked, step=1e-4)
    assert_close(forces[atoms_checked], reference, rtol=1e-6, atol=1e-7, what="forces")


def test_periodic_forces_and_dense_iterative_agree():
    atoms = nacl(1)
    atoms.rattle(0.05, seed=4)
    positions, numbers, cell = tensors(atoms)[:3]
    kw = {"cell": cell, "pbc": True}
    dense = split_engine(long_range="ewald", solver="dense", tolerance=1e-10)
    iterative = split_engine(long_range="ewald", solver="iterative", tolerance=1e-10)
    a, b = dense(positions, numbers, **kw), iterative(positions, numbers, **kw)
    assert_close(b["charges"], a["charges"], rtol=0.0, atol=1e-9, what="charges")
    assert_close(b["energy"], a["energy"], rtol=TOLERANCE[F64], what="energy")

    def energy(p):
        return float(dense(p, numbers, **kw)["energy"])

    reference = central_difference_forces(energy, positions, [0, 5], step=1e-4)
    assert_close(a["forces"][[0, 5]], reference, rtol=1e-6, atol=1e-7, what="forces")


def born_charges(atoms, wrap: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Z*_{i,αβ} = ∂μ_α/∂r_iβ ``[N, 3, 3]`` (e) by implicit differentiation, and the numbers;
    ``wrap`` stores that atom one lattice vector away."""
    positions, numbers, cell = tensors(atoms)[:3]
    positions = positions.clone()
    if wrap is not None:
        positions[wrap] += cell[0] - cell[2]
    positions.requires_grad_(True)
    engine = split_engine(long_range="ewald", solver="dense", tolerance=1e-11, accuracy=1e-10)
    mu = engine(positions, numbers, cell=cell, pbc=True, compute_forces=False)["dipole"]
    rows = [torch.autograd.grad(mu[a], positions, retain_graph=True)[0] for a in range(3)]
    return torch.stack(rows).permute(1, 0, 2).detach(), numbers


def test_born_charges_are_image_independent():
    """Rocksalt NaCl: one isotropic Z* per species, Σ Z* = 0, the same in 1×1×1 and 2×2×2 cells
    and after re-wrapping an atom (issue 25 part 0 acceptance, float64)."""
    small, numbers = born_charges(nacl(1))
    wrapped, _ = born_charges(nacl(1), wrap=3)
    large, numbers2 = born_charges(nacl(2))
    eye = torch.eye(3, dtype=F64)
    for z, num in ((small, numbers), (large, numbers2)):
        assert_close(z.sum(0), torch.zeros(3, 3, dtype=F64), 0.0, 1e-6, "acoustic sum rule")
        for element in (11, 17):
            zz = z[num == element]
            iso = zz[0, 0, 0] * eye
            assert_close(zz, iso.expand_as(zz), 0.0, 1e-6, f"Z* of element {element}")
    assert_close(wrapped, small, 0.0, 1e-6, "Z* after re-wrapping an atom")
    assert_close(large[numbers2 == 11][0], small[numbers == 11][0], 0.0, 1e-6, "Z* 1x1x1 vs 2x2x2")
    assert 0.1 < float(small[numbers == 11][0, 0, 0]) < 2.0


def test_field_energy_does_not_depend_on_wrapping():
    """Without reference charges (one neutral fragment) the energy in a field is the same
    whichever image an atom is stored in: the dipole is carried by bonds."""
    atoms = nacl(1)
    atoms.rattle(0.05, seed=5)
    positions, numbers, cell = tensors(atoms)[:3]
    field = torch.tensor([0.02, 0.01, -0.03], dtype=F64)
    engine = split_engine(long_range="ewald", tolerance=1e-10)
    moved = positions.clone()
    moved[2] += cell[1]
    a = engine(positions, numbers, cell=cell, pbc=True, external_field=field)
    b = engine(moved, numbers, cell=cell, pbc=True, external_field=field)
    assert_close(b["energy"], a["energy"], rtol=TOLERANCE[F64], what="energy after wrapping")
    assert_close(b["forces"], a["forces"], rtol=0.0, atol=1e-8, what="forces after wrapping")


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="charge_transfer"):
        PQEq(charge_transfer="local")
    with pytest.raises(ValueError, match="split_cutoff"):
        PQEq(charge_transfer="split", split_cutoff=-1.0)
    with pytest.raises(ValueError, match="mode='converged'"):
        PQEq(charge_transfer="split", mode="reaxnet")
    with pytest.raises(ValueError, match="bond hardness"):
        PQEq(charge_transfer="split", bond_hardness=0.0)


def test_stress_is_the_strain_derivative():
    atoms = nacl(1)
    atoms.rattle(0.05, seed=9)
    positions, numbers, cell = tensors(atoms)[:3]
    engine = split_engine(long_range="ewald", tolerance=1e-10, accuracy=1e-10)
    stress = engine(positions, numbers, cell=cell, pbc=True, compute_stress=True)["stress"]

    def energy(p, c):
        return float(engine(p, numbers, cell=c, pbc=True, compute_forces=False)["energy"])

    reference = central_difference_stress(energy, positions, cell, step=1e-5)
    assert_close(stress, reference, rtol=1e-6, atol=1e-8, what="stress")


def test_float32_matches_float64():
    atoms = water_cluster(4, seed=10)
    positions, numbers = tensors(atoms)[:2]
    engine = split_engine()
    a = engine(positions, numbers, total_charge=1.0)
    b = engine(positions.float(), numbers, total_charge=1.0)
    assert b["energy"].dtype == torch.float32
    assert_close(b["charges"].double(), a["charges"], rtol=0.0, atol=1e-4, what="charges")
    assert_close(b["forces"].double(), a["forces"], rtol=TOLERANCE[torch.float32], atol=1e-3)
