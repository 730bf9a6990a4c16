"""Polarisability, ε∞ and Born charges: exact derivatives checked against finite differences of
independent quantities (the dipole at ±F, the forces at ±F)."""

from __future__ import annotations

import pytest
import torch
from pqeq_structures import nacl, water_cluster

from openmm_polarml.pqeq import PQEq
from openmm_polarml.pqeq.response import (
    ResponseInput,
    born_charges,
    high_frequency_permittivity,
    polarizability,
    polarizability_volume,
)
from tests.physics_checks import assert_close

F64 = torch.float64
STEP = 1e-3  # V/Å; the response is linear up to O(F²) corrections from the shells


def engine(transfer: str, periodic: bool) -> PQEq:
    return PQEq(
        long_range="ewald" if periodic else "direct",
        charge_transfer=transfer,
        tolerance=1e-11,
        accuracy=1e-10,
    )


def rattled_nacl(reps: int = 1):
    atoms = nacl(reps)
    atoms.rattle(0.04, seed=7)
    return atoms


@pytest.mark.parametrize("transfer", ["global", "split"])
@pytest.mark.parametrize("periodic", [False, True])
def test_polarizability_matches_dipole_differences(transfer, periodic):
    atoms = rattled_nacl() if periodic else water_cluster(3, seed=8)
    system = ResponseInput.from_atoms(atoms)
    eng = engine(transfer, periodic)
    alpha = polarizability(eng, system)
    columns = []
    for b in range(3):
        field = torch.zeros(3, dtype=F64)
        field[b] = STEP
        plus = system.solve(eng, field=field)["dipole"].detach()
        minus = system.solve(eng, field=-field)["dipole"].detach()
        columns.append((plus - minus) / (2 * STEP))
    reference = torch.stack(columns, dim=1)
    assert_close(alpha, reference, rtol=1e-5, atol=1e-7, what="polarisability")
    eigenvalues = torch.linalg.eigvalsh(0.5 * (alpha + alpha.T))
    assert bool((eigenvalues > 0).all())  # a stable system is polarised along the field
    assert bool((polarizability_volume(alpha) > 0).diagonal().all())


@pytest.mark.parametrize("transfer", ["global", "split"])
def test_born_charges_match_finite_field_forces(transfer):
    """Z*_{i,αβ} = ∂μ_α/∂r_iβ (implicit derivative) equals ∂f_iβ/∂F_α (forces at ±F)."""
    atoms = rattled_nacl()
    system = ResponseInput.from_atoms(atoms)
    eng = engine(transfer, True)
    z = born_charges(eng, system)
    pos, cell = system.positions, system.cell
    for a in range(3):
        field = torch.zeros(3, dtype=F64)
        field[a] = STEP
        kw = {"cell": cell, "pbc": True}
        f_plus = eng(pos, system.numbers, external_field=field, **kw)["forces"]
        f_minus = eng(pos, system.numbers, external_field=-field, **kw)["forces"]
        reference = (f_plus - f_minus) / (2 * STEP)  # [N, β]
        assert_close(z[:, a, :], reference, rtol=1e-5, atol=1e-6, what=f"Z* row {a}")


def test_permittivity_is_intensive_and_cubic():
    eng = engine("split", True)
    small = high_frequency_permittivity(eng, ResponseInput.from_atoms(nacl(1)))
    large = high_frequency_permittivity(eng, ResponseInput.from_atoms(nacl(2)))
    assert_close(large, small, rtol=1e-6, atol=1e-7, what="ε∞ 2×2×2 vs 1×1×1")
    eye = torch.eye(3, dtype=F64)
    assert_close(small, small[0, 0] * eye, rtol=0.0, atol=1e-7, what="cubic ε∞ isotropic")
    assert float(small[0, 0]) > 1.0


def test_response_needs_a_differentiable_engine():
    system = ResponseInput.from_atoms(water_cluster(2))
    with pytest.raises(ValueError, match="differentiable_solution"):
        polarizability(PQEq(differentiable_solution=False), system)
    with pytest.raises(ValueError, match="periodic"):
        high_frequency_permittivity(PQEq(), system)
