"""The converged solution: constraints, stationarity, invariances, linear response, bad inputs."""

import numpy as np
import pytest
import torch
from physics_checks import random_rotation
from pqeq_structures import nacl, tensors, water_cluster

from openmm_polarml.pqeq import (
    CellTooSmallError,
    InvalidInputError,
    NonNeutralCellError,
    OverlappingAtomsError,
    PolarizationCatastropheError,
    PQEq,
    UnknownElementError,
)
from openmm_polarml.pqeq.parameters import ElementParameters


@pytest.mark.slow
def test_direct_ewald_pme_agree_as_vacuum_grows():
    atoms = water_cluster(2, seed=4)
    atoms.center()
    pos, z, _, _ = tensors(atoms)
    e_direct = float(PQEq("direct", tolerance=1e-10)(pos, z, compute_forces=False)["energy"])
    gaps = {}
    for method in ("ewald", "pme"):
        gaps[method] = []
        for box in (12.0, 18.0, 27.0):
            shift = torch.full((3,), box / 2, dtype=torch.float64) - pos.mean(0)
            cell = torch.eye(3, dtype=torch.float64) * box
            out = PQEq(method, tolerance=1e-10, accuracy=1e-7)(
                pos + shift, z, cell=cell, pbc=True, compute_forces=False
            )
            gaps[method].append(abs(float(out["energy"]) - e_direct))
        assert gaps[method][0] > gaps[method][1] > gaps[method][2]
        assert gaps[method][2] < 2e-4  # dipolar images decay as L⁻³
    assert gaps["ewald"][2] == pytest.approx(gaps["pme"][2], abs=1e-5)


def test_direct_and_ewald_agree_in_vacuum_padded_cell():
    atoms = water_cluster(2, seed=4)
    pos, z, _, _ = tensors(atoms)
    e_direct = float(PQEq("direct", tolerance=1e-10)(pos, z, compute_forces=False)["energy"])
    gaps = []
    for box in (10.0, 16.0):
        shift = torch.full((3,), box / 2, dtype=torch.float64) - pos.mean(0)
        cell = torch.eye(3, dtype=torch.float64) * box
        out = PQEq("ewald", tolerance=1e-10)(
            pos + shift, z, cell=cell, pbc=True, compute_forces=False
        )
        gaps.append(abs(float(out["energy"]) - e_direct))
    assert gaps[1] < gaps[0] / 3 and gaps[1] < 1e-3


def test_charge_constraints_and_stationary_point():
    atoms = water_cluster(4, seed=5)
    pos, z, _, _ = tensors(atoms)
    fragments = [list(range(3 * k, 3 * k + 3)) for k in range(4)]
    engine = PQEq("direct", tolerance=1e-10)
    out = engine(pos, z, fragments=fragments, fragment_charges=[0.0, 1.0, -1.0, 0.0])
    q = out["charges"]
    for frag, total in zip(fragments, [0.0, 1.0, -1.0, 0.0], strict=True):
        assert float(q[frag].sum()) == pytest.approx(total, abs=1e-12)
    total = engine(pos, z, total_charge=1.0)["charges"].sum()
    assert float(total) == pytest.approx(1.0, abs=1e-12)
    # perturbing q under the constraints or d raises the energy (a minimum, not a saddle)
    from openmm_polarml.pqeq.electrostatics.coulomb import SiteCoulomb
    from openmm_polarml.pqeq.energy import AtomTerms, pqeq_energy

    p = ElementParameters().per_atom(z)
    terms = AtomTerms(p["chi"], p["eta"], p["spring"], p["shell_charge"])
    coulomb = SiteCoulomb("direct", pos, p["alpha"], p["spring"] > 0)
    d = out["shell_displacements"]
    e0 = float(pqeq_energy(q, d, pos, None, terms, coulomb, None, None))
    rng = np.random.default_rng(0)
    for _ in range(5):
        dq = torch.tensor(rng.normal(size=len(q)) * 1e-3)
        for frag in fragments:
            dq[frag] -= dq[frag].mean()
        dd = torch.tensor(rng.normal(size=d.shape) * 1e-3)
        assert float(pqeq_energy(q + dq, d, pos, None, terms, coulomb, None, None)) > e0
        assert float(pqeq_energy(q, d + dd, pos, None, terms, coulomb, None, None)) > e0


def test_rotation_translation_permutation_invariance():
    atoms = water_cluster(3, seed=6)
    pos, z, _, _ = tensors(atoms)
    engine = PQEq("direct", tolerance=1e-11)
    ref = engine(pos, z)
    rot = random_rotation(1)
    moved = engine(pos @ rot.T + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64), z)
    assert float(moved["energy"]) == pytest.approx(float(ref["energy"]), rel=1e-10)
    assert torch.allclose(moved["forces"], ref["forces"] @ rot.T, atol=1e-8)
    perm = torch.randperm(len(z), generator=torch.Generator().manual_seed(0))
    permuted = engine(pos[perm], z[perm])
    assert torch.allclose(permuted["charges"], ref["charges"][perm], atol=1e-9)


def test_periodic_image_invariance_and_equal_na_charges():
    atoms = nacl(2)
    pos, z, cell, _ = tensors(atoms)
    engine = PQEq("ewald", tolerance=1e-10)
    ref = engine(pos, z, cell=cell, pbc=True)
    na = ref["charges"][z == 11]
    assert float(na.max() - na.min()) < 1e-9
    wrapped = pos.clone()
    wrapped[3] += cell[0] - 2 * cell[2]
    out = engine(wrapped, z, cell=cell, pbc=True)
    assert float(out["energy"]) == pytest.approx(float(ref["energy"]), rel=1e-10)
    # field coupling stays invariant when an atom is re-wrapped against a fixed reference
    field = [0.0, 0.0, 0.01]
    f_ref = engine(pos, z, cell=cell, pbc=True, external_field=field, field_reference=pos)
    f_wrap = engine(wrapped, z, cell=cell, pbc=True, external_field=field, field_reference=pos)
    assert float(f_wrap["energy"]) == pytest.approx(float(f_ref["energy"]), rel=1e-10)


def polarizability(engine, pos, z, fragments=None, h=1e-3):
    cols = []
    for c in range(3):
        f = torch.zeros(3, dtype=torch.float64)
        f[c] = h
        plus = engine(pos, z, external_field=f, fragments=fragments, compute_forces=False)["dipole"]
        minus = engine(pos, z, external_field=-f, fragments=fragments, compute_forces=False)[
            "dipole"
        ]
        cols.append((plus - minus) / (2 * h))
    return torch.stack(cols, dim=1)  # [3, 3] e·Å²/V


def test_linear_response_symmetric_polarizability_and_fragments():
    engine = PQEq("direct", tolerance=1e-11)
    one = water_cluster(1, seed=7)
    pos1, z1, _, _ = tensors(one)
    alpha1 = polarizability(engine, pos1, z1)
    assert torch.allclose(alpha1, alpha1.T, atol=1e-7)
    # the response is linear in the small-field limit: the deviation shrinks as F²
    mu0 = engine(pos1, z1)["dipole"]

    def nonlinearity(h):
        f = torch.tensor([0.0, 0.0, h], dtype=torch.float64)
        mu1 = engine(pos1, z1, external_field=f)["dipole"] - mu0
        mu2 = engine(pos1, z1, external_field=2 * f)["dipole"] - mu0
        return float(torch.linalg.norm(mu2 - 2 * mu1) / torch.linalg.norm(mu1))

    coarse, fine = nonlinearity(1e-2), nonlinearity(1e-3)
    assert fine < 1e-4 and fine < coarse / 5
    cluster = water_cluster(8, seed=7)
    pos, z, _, _ = tensors(cluster)
    frags = [list(range(3 * k, 3 * k + 3)) for k in range(8)]
    per_molecule_free = float(torch.trace(polarizability(engine, pos, z))) / 3 / 8
    per_molecule_frag = float(torch.trace(polarizability(engine, pos, z, frags))) / 3 / 8
    single = float(torch.trace(alpha1)) / 3
    assert abs(per_molecule_frag / single - 1) < 0.35  # fragments: close to the isolated molecule
    assert per_molecule_free > 1.5 * per_molecule_frag  # plain QEq: inter-molecular charge flow


def test_bad_inputs_raise_clear_errors():
    atoms = water_cluster(1)
    pos, z, _, _ = tensors(atoms)
    engine = PQEq("direct")
    with pytest.raises(UnknownElementError):
        engine(pos, torch.tensor([8, 1, 120]))
    bad = pos.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(InvalidInputError, match="NaN"):
        engine(bad, z)
    close = pos.clone()
    close[1] = close[0] + 0.1
    with pytest.raises(OverlappingAtomsError):
        engine(close, z)
    crystal = nacl(1)
    p, zc, cell, _ = tensors(crystal)
    with pytest.raises(NonNeutralCellError):
        PQEq("ewald")(p, zc, cell=cell, pbc=True, total_charge=1.0)
    with pytest.raises(CellTooSmallError):
        PQEq("ewald", cutoff=6.0)(p, zc, cell=cell, pbc=True)
    with pytest.raises(InvalidInputError):
        PQEq("ewald")(pos, z)
    soft = ElementParameters()
    soft.spring_raw.fill_(
        -30.0
    )  # springs at the stability floor: shells run away in a strong field
    with pytest.raises(PolarizationCatastropheError):
        PQEq("direct", parameters=soft)(pos, z, external_field=[0.0, 0.0, 2.0])
    from openmm_polarml.pqeq import ConvergenceError

    with pytest.raises(ConvergenceError):
        PQEq("direct", tolerance=1e-14, max_iterations=1, solver="iterative")(pos, z)


def test_float32_inputs_are_solved_in_float64_and_returned_in_float32():
    """float32 sums stall near 1e-4 eV/e in large cells; the solve runs in float64 instead."""
    pos, z, cell, pbc = tensors(nacl(2))
    out32 = PQEq("pme")(pos.float(), z, cell=cell.float(), pbc=pbc)
    out64 = PQEq("pme", tolerance=1e-4)(pos, z, cell=cell, pbc=pbc)
    assert out32["charges"].dtype == torch.float32 and out32["forces"].dtype == torch.float32
    assert torch.allclose(out32["charges"].double(), out64["charges"], atol=1e-5)
    assert float(out32["energy"]) == pytest.approx(float(out64["energy"]), rel=1e-6)


@pytest.mark.parametrize("long_range", ["ewald", "pme", "taper"])
def test_overlap_across_a_periodic_boundary_is_rejected(long_range):
    """Two atoms 0.3 Å apart through the cell face (far apart inside the cell) are caught."""
    crystal = nacl(2)
    p, zc, cell, _ = tensors(crystal)
    moved = p.clone()
    moved[0] = torch.tensor([0.1, 0.1, 0.1], dtype=p.dtype)
    partner = int(torch.argmin(((p - p[0]) ** 2).sum(-1) + 1e9 * (zc == zc[0])))  # another atom
    moved[partner] = moved[0] - torch.tensor([0.3, 0.0, 0.0], dtype=p.dtype) + cell[0]
    with pytest.raises(OverlappingAtomsError, match="closer than 0.5"):
        PQEq(long_range)(moved, zc, cell=cell, pbc=True)
