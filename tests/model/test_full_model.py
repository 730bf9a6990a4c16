"""The full model (network + PQEq + D3) under an external field: exact forces, stress, Born charges."""

import numpy as np
import pytest
import torch

from openmm_polarml.data_io import keys as K
from tests.model.helpers import D3, batch_of, crystal, molecule, pqeq_module, tiny_model


def _model(long_range, transfer="global"):
    stub, real = pqeq_module()
    spec = {"long_range": long_range, "charge_transfer": transfer}
    model = tiny_model("float64", d3=D3, pqeq=spec if real else None)
    if not real:
        model.pqeq = stub
    return model


def _with_field(data, field):
    return {**data, K.FIELD: torch.tensor([field], dtype=torch.float64)}


@pytest.mark.parametrize("transfer", ["global", "split"])
@pytest.mark.parametrize("periodic", [False, True])
def test_forces_and_stress_match_finite_differences(periodic, transfer):
    model = _model("ewald" if periodic else "direct", transfer)
    atoms = crystal(7, rattle=0.1) if periodic else molecule(8, n=5)
    data = _with_field(batch_of(atoms), [0.05, -0.02, 0.03])
    out = model(data, compute_forces=True, compute_stress=periodic)
    assert abs(float(out["energy_pqeq"][0].detach())) > 1e-3  # the PQEq term really contributes
    h = 1e-5

    def energy(pos, cell):
        d = {**data, K.POSITIONS: pos, K.CELL: cell}
        return float(model(d, compute_forces=False)["energy"][0])

    pos0, cell0 = data[K.POSITIONS], data[K.CELL]
    for atom, comp in [(0, 0), (1, 2), (3, 1)]:
        dp = torch.zeros_like(pos0)
        dp[atom, comp] = h
        fd = -(energy(pos0 + dp, cell0) - energy(pos0 - dp, cell0)) / (2 * h)
        assert abs(fd - float(out["forces"][atom, comp])) < 1e-6
    if periodic:
        volume = float(torch.linalg.det(cell0[0]))
        for a, b in [(0, 0), (1, 2), (2, 0)]:
            eps = torch.zeros(3, 3, dtype=torch.float64)
            eps[a, b] = eps[b, a] = h / 2 if a != b else h
            vals = []
            for s in (1, -1):
                m = torch.eye(3, dtype=torch.float64) + s * eps
                vals.append(energy(pos0 @ m, cell0 @ m))
            fd = (vals[0] - vals[1]) / (2 * h) / volume
            assert abs(fd - float(out["stress"][0, a, b])) < 1e-7


@pytest.mark.parametrize("transfer", ["global", "split"])
def test_born_charges_equal_dipole_derivative_and_sum_rule(transfer):
    model = _model("direct", transfer)
    atoms = molecule(9, n=4)
    data = batch_of(atoms)
    born = model.born_charges(data, step=1e-4)  # [N, field a, force b]
    assert float(born.abs().max()) > 1e-2
    # acoustic sum rule for a neutral system
    assert np.abs(born.sum(0).numpy()).max() < 1e-6
    # Z*_i,ab = dμ_a/dr_ib (mixed second derivative of the energy)
    h = 1e-5
    for atom, b in [(0, 0), (2, 1)]:
        dips = []
        for s in (h, -h):
            pos = data[K.POSITIONS].clone()
            pos[atom, b] += s
            dips.append(model({**data, K.POSITIONS: pos}, compute_forces=False)["dipole"][0])
        fd = (dips[0] - dips[1]) / (2 * h)
        assert torch.allclose(fd, born[atom, :, b], atol=1e-5)


def test_total_charge_is_respected():
    model = _model("direct")
    data = {**batch_of(molecule(10, n=5)), K.TOTAL_CHARGE: torch.tensor([1.0], dtype=torch.float64)}
    out = model(data, compute_forces=False)
    assert abs(float(out["charges"].sum()) - 1.0) < 1e-8


def test_fragment_charges_are_respected():
    model = _model("direct")
    data = batch_of(molecule(11, n=5))
    data = {**data, "fragments": [[[0, 1], [2, 3, 4]]], "fragment_charges": [[1.0, -1.0]]}
    q = model(data, compute_forces=False)["charges"].detach()
    assert abs(float(q[:2].sum()) - 1.0) < 1e-8
    assert abs(float(q[2:].sum()) + 1.0) < 1e-8


@pytest.mark.parametrize("periodic", [False, True])
def test_energy_field_derivative_is_minus_dipole_and_forces_match(periodic):
    """Shared physics checks: ∂E/∂F = −μ and 4-point finite-difference forces, full model."""
    from tests.physics_checks import (
        TOLERANCE,
        assert_close,
        central_difference_field,
        central_difference_forces,
    )

    model = _model("ewald" if periodic else "direct")
    atoms = crystal(14, rattle=0.1) if periodic else molecule(15, n=5)
    base = batch_of(atoms)
    field0 = torch.tensor([0.02, 0.01, -0.03], dtype=torch.float64)

    def energy_of_field(field):
        return float(model(_with_field(base, field.tolist()), compute_forces=False)["energy"][0])

    out = model(_with_field(base, field0.tolist()), compute_forces=True)
    fd = central_difference_field(energy_of_field, field0)
    assert_close(fd, -out["dipole"][0].detach(), rtol=1e-6, atol=1e-7, what="dE/dF vs -dipole")

    def energy_of_positions(pos):
        data = {**_with_field(base, field0.tolist()), K.POSITIONS: pos}
        return float(model(data, compute_forces=False)["energy"][0])

    fd_f = central_difference_forces(energy_of_positions, base[K.POSITIONS], [0, 2])
    assert_close(
        out["forces"][[0, 2]].detach(),
        fd_f,
        rtol=TOLERANCE[torch.float64],
        atol=1e-7,
        what="forces",
    )


def test_full_model_supercell_is_extensive():
    model = _model("ewald")
    atoms = crystal(16, rattle=0.1)
    e1 = model(batch_of(atoms), compute_forces=False)["energy"][0].detach()
    e2 = model(batch_of(atoms.repeat((2, 1, 1))), compute_forces=False)["energy"][0].detach()
    assert abs(float(e2 - 2 * e1)) < 1e-6 * abs(float(e2))


def test_split_charge_model_round_trips_with_its_bond_hardness(tmp_path):
    from openmm_polarml.model.serialization import load_model, save_model

    stub, real = pqeq_module()
    if not real:
        pytest.skip("needs the real PQEq engine")
    spec = {"long_range": "direct", "charge_transfer": "split", "bond_hardness": 1.7}
    model = tiny_model("float64", pqeq={**spec, "bond_hardness_trainable": True})
    with torch.no_grad():
        model.pqeq.bond_hardness.raw[8] += 0.3  # a fitted value, not the default
    save_model(model, tmp_path / "split.pt")
    loaded = load_model(tmp_path / "split.pt")
    assert loaded.pqeq.charge_transfer == "split"
    assert torch.equal(loaded.pqeq.bond_hardness.raw, model.pqeq.bond_hardness.raw.detach())
    data = batch_of(molecule(3, n=4))
    a = model(data, compute_forces=False)["energy"]
    b = loaded(data, compute_forces=False)["energy"]
    assert torch.allclose(a, b, rtol=1e-12, atol=0.0)
