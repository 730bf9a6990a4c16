"""Forces, stress and dE/dfield are exact derivatives of the converged energy, in every mode."""

import pytest
import torch
from physics_checks import (
    central_difference_field,
    central_difference_forces,
    central_difference_stress,
)
from pqeq_structures import nacl, tensors, water_cluster

from openmm_polarml.pqeq import PQEq

FIELD = torch.tensor([0.02, -0.01, 0.03], dtype=torch.float64)  # V/Å


def periodic_water():
    atoms = water_cluster(8, spacing=3.0, seed=3)
    atoms.cell = [6.2, 6.0, 6.4]
    atoms.pbc = True
    atoms.wrap()
    return atoms


def padded_trimer():
    """A cluster in a 26 Å periodic box: the periodic taper path without its small-cell instability."""
    atoms = water_cluster(3, seed=1)
    atoms.cell = [26.0, 26.0, 26.0]
    atoms.pbc = True
    atoms.center()
    return atoms


CASES = [
    ("direct", water_cluster(3, seed=1)),
    ("taper", water_cluster(3, seed=1)),
    ("ewald", periodic_water()),
    ("pme", periodic_water()),
    ("taper", padded_trimer()),  # the taper kernel loses definiteness in cells < 2 × 12.5 Å
]


@pytest.mark.parametrize("field", [None, FIELD], ids=["nofield", "field"])
@pytest.mark.parametrize(
    "method,atoms", CASES, ids=[f"{m}-{'pbc' if a.pbc.all() else 'open'}" for m, a in CASES]
)
def test_forces_match_finite_differences(method, atoms, field):
    pos, z, cell, pbc = tensors(atoms)
    engine = PQEq(
        method, tolerance=1e-10, accuracy=1e-4, cutoff=3.0 if method in ("ewald", "pme") else None
    )
    kw = dict(
        cell=cell, pbc=pbc, external_field=field, field_reference=pos.clone() if pbc else None
    )
    out = engine(pos, z, **kw)
    fd = central_difference_forces(
        lambda p: float(engine(p, z, compute_forces=False, **kw)["energy"]), pos, [0, 1, 5]
    )
    assert torch.allclose(out["forces"][[0, 1, 5]], fd, rtol=0, atol=2e-7)


@pytest.mark.parametrize("method", ["ewald", "pme"])
def test_stress_matches_finite_differences(method):
    atoms = nacl(1)
    atoms.positions[0] += [0.1, -0.05, 0.07]
    pos, z, cell, _ = tensors(atoms)
    engine = PQEq(method, tolerance=1e-10, accuracy=1e-4, cutoff=2.8 if method != "taper" else None)
    out = engine(pos, z, cell=cell, pbc=True, compute_stress=True)
    fd = central_difference_stress(
        lambda p, c: float(engine(p, z, cell=c, pbc=True, compute_forces=False)["energy"]),
        pos,
        cell,
    )
    assert torch.allclose(out["stress"], fd, rtol=0, atol=1e-8)


@pytest.mark.parametrize("method,atoms", CASES[:3], ids=["direct", "taper", "ewald"])
def test_energy_derivative_wrt_field_is_minus_dipole(method, atoms):
    pos, z, cell, pbc = tensors(atoms)
    engine = PQEq(method, tolerance=1e-10, accuracy=1e-4, cutoff=3.0 if method == "ewald" else None)
    ref = pos.clone() if pbc else None
    out = engine(pos, z, cell=cell, pbc=pbc, external_field=FIELD, field_reference=ref)
    de_df = central_difference_field(
        lambda f: float(
            engine(
                pos,
                z,
                cell=cell,
                pbc=pbc,
                external_field=f,
                field_reference=ref,
                compute_forces=False,
            )["energy"]
        ),
        FIELD,
    )
    assert torch.allclose(de_df, -out["dipole"], rtol=0, atol=1e-8)


@pytest.mark.parametrize("evaluator", ["native", "tensor"])
@pytest.mark.parametrize("field", [None, FIELD], ids=["nofield", "field"])
@pytest.mark.parametrize(
    "method,atoms", CASES[:4], ids=[f"{m}-{'pbc' if a.pbc.all() else 'open'}" for m, a in CASES[:4]]
)
def test_plain_forces_equal_autograd_forces(method, atoms, field, evaluator, monkeypatch):
    """Without a graph (nothing requires grad) forces come from the solver's evaluator; they equal
    the autograd path (positions requiring grad) at the same converged solution."""
    from openmm_polarml.pqeq.electrostatics import native

    if evaluator == "tensor":
        monkeypatch.setattr(native, "usable", lambda *tensors: False)
    pos, z, cell, pbc = tensors(atoms)
    engine = PQEq(method, tolerance=1e-10, cutoff=3.0 if method in ("ewald", "pme") else None)
    kw = dict(
        cell=cell, pbc=pbc, external_field=field, field_reference=pos.clone() if pbc else None
    )
    plain = engine(pos, z, **kw)
    assert plain["energy"].grad_fn is None  # the plain path ran
    graph = engine(pos.clone().requires_grad_(True), z, **kw)
    assert graph["energy"].grad_fn is not None
    scale = float(graph["forces"].detach().abs().max())
    assert torch.allclose(plain["forces"], graph["forces"].detach(), rtol=0, atol=1e-10 * scale)
    assert abs(float(plain["energy"] - graph["energy"])) < 1e-10 * abs(float(graph["energy"]))
    assert torch.allclose(plain["dipole"], graph["dipole"].detach(), rtol=0, atol=1e-10)
