"""The network's charge-state input: each atom's reference charge q⁰ of the charge model, the same
in training, the ASE calculator, the TorchScript artifact and OpenMM (both backends)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from openmm_polarml import units
from openmm_polarml.calculators import PolarMLCalculator
from openmm_polarml.data_io import atoms_to_frame, collate
from openmm_polarml.data_io.statistics import charge_state_energies
from openmm_polarml.model.charge_state import (
    charge_state_of_atoms,
    charge_state_of_batch,
    charge_state_of_groups,
)
from openmm_polarml.training.finetune import _charge_input
from tests.model.helpers import tiny_model
from tests.physics_checks import central_difference_forces, random_rotation

KJ, NM = units.EV_TO_KJ_PER_MOL, units.ANGSTROM_TO_NM


def hydrated_ions() -> Atoms:
    """Na⁺, Cl⁻ and two waters (Å): under the ``molecules`` charge model q⁰ = +1, −1, 0."""
    water = np.array([[0.0, 0.0, 0.0], [0.9572, 0.0, 0.0], [-0.2399, 0.9266, 0.0]])
    positions = np.concatenate(
        [water, water + [3.1, 0.2, 0.1], [[1.2, 2.9, 0.4]], [[-1.9, -1.6, 0.8]]]
    )
    return Atoms("OH2OH2NaCl", positions=positions)


def charge_model(seed=0, pqeq=None):
    """A tiny network reading charge states, with non-zero charge weights (so they matter)."""
    model = tiny_model("float64", pqeq=pqeq, seed=seed, charge_input=True)
    model.config["fragments"] = "molecules"
    net = model.shortrange.network
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed + 7)
        net.charge_embedding.weight.copy_(
            torch.randn(net.charge_embedding.weight.shape, generator=g)
        )
        net.charge_energy.copy_(torch.randn(net.charge_energy.shape, generator=g))
    return model


def test_reference_charges_spread_each_fragment_charge_evenly():
    q = charge_state_of_groups(6, [[0, 1, 2], [3], [4, 5]], [-1.0, 1.0, 0.0])
    np.testing.assert_allclose(q.numpy(), [-1 / 3, -1 / 3, -1 / 3, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(charge_state_of_groups(4, None, None, 2.0).numpy(), [0.5] * 4)
    with pytest.raises(ValueError, match="belong to no fragment"):
        charge_state_of_groups(3, [[0, 1]], [0.0])
    with pytest.raises(ValueError, match="2 fragment charges for 1"):
        charge_state_of_groups(2, [[0, 1]], [0.0, 1.0])


def test_molecules_charge_model_gives_formal_ion_charges_in_a_batch():
    atoms = hydrated_ions()
    expected = [0.0] * 6 + [1.0, -1.0]
    np.testing.assert_allclose(charge_state_of_atoms(atoms, "molecules").numpy(), expected)
    charged = atoms.copy()
    charged.info["charge"] = 1.0  # formal charges no longer add up: one fragment, Q/N each
    batch = collate([atoms_to_frame(atoms, "molecules"), atoms_to_frame(charged, "molecules")])
    np.testing.assert_allclose(
        charge_state_of_batch(batch).numpy(), expected + [1.0 / 8] * 8, atol=1e-15
    )


def test_network_that_reads_charge_states_refuses_to_guess_them():
    model = charge_model()
    atoms = hydrated_ions()
    data = collate([atoms_to_frame(atoms)])
    net = model.shortrange.network
    with pytest.raises(ValueError, match="charge_state"):
        net(data["positions"], data["numbers"], data["cell"], data["pbc"], data["batch"],
            data["ptr"])  # fmt: skip


def test_charge_energy_table_adds_exactly_its_polynomial():
    """With a zero embedding, E(q⁰) − E(0) = Σ_i c1[Z_i] q⁰_i + c2[Z_i] q⁰_i² (eV)."""
    model = charge_model(3)
    net = model.shortrange.network
    with torch.no_grad():
        net.charge_embedding.weight.zero_()
    atoms = hydrated_ions()
    data = collate([atoms_to_frame(atoms)])
    args = [data[k] for k in ("positions", "numbers", "cell", "pbc", "batch", "ptr")]
    q = torch.tensor([0.0] * 6 + [1.0, -1.0], dtype=torch.float64)
    delta = net(*args, None, q) - net(*args, None, torch.zeros_like(q))  # [N] eV
    table = net.charge_energy[data["numbers"]]  # [N, 2]
    np.testing.assert_allclose(
        delta.detach().numpy(), (table[:, 0] * q + table[:, 1] * q * q).detach().numpy(),
        atol=1e-12,
    )  # fmt: skip


@pytest.mark.parametrize("transfer", ["global", "split"])
def test_forces_are_the_gradient_and_energy_is_rotation_invariant(transfer):
    model = charge_model(1, pqeq={"long_range": "direct", "charge_transfer": transfer})
    atoms = hydrated_ions()
    data = collate([atoms_to_frame(atoms, "molecules")])
    out = model(data)
    neutral = model(collate([atoms_to_frame(atoms)]), compute_forces=False)["energy"][0]
    assert abs(float(out["energy"][0].detach() - neutral.detach())) > 1e-3  # q⁰ matters

    def energy(pos):
        out = model({**data, "positions": pos}, compute_forces=False)
        return float(out["energy"][0].detach())

    fd = central_difference_forces(energy, data["positions"], [0, 6, 7], step=1e-4)
    np.testing.assert_allclose(out["forces"][[0, 6, 7]].detach().numpy(), fd.numpy(), atol=1e-7)
    rotated = data["positions"] @ random_rotation(2).T
    assert energy(rotated) == pytest.approx(float(out["energy"][0].detach()), abs=1e-9)


def test_a_network_gaining_the_input_starts_as_it_was():
    model = tiny_model("float64", seed=4)
    config = {**model.config}
    state = model.state_dict()
    config, grown_state = _charge_input({"charge_input": True}, config, dict(state))
    from openmm_polarml.model.serialization import model_from_contents

    grown = model_from_contents(config, grown_state, "<test>")
    assert grown.shortrange.network.charge_input
    atoms = hydrated_ions()
    data = collate([atoms_to_frame(atoms, "molecules")])
    e0 = float(model(data, compute_forces=False)["energy"][0])
    assert float(grown(data, compute_forces=False)["energy"][0]) == pytest.approx(e0, abs=1e-12)


def test_joint_fit_recovers_known_ion_offsets():
    """Energies built from known element energies and charge-state terms are fitted back."""
    rng = np.random.default_rng(0)
    e_z = {1: -13.6, 8: -432.0, 11: -160.0, 17: -400.0}
    c = {11: (-1.3, 0.2), 17: (2.6, -0.4)}  # eV/e, eV/e²
    frames, energies, states = [], [], []
    for _ in range(60):
        n_w, n_na, n_cl = rng.integers(1, 6), rng.integers(0, 3), rng.integers(0, 3)
        n_h = rng.integers(0, 3)  # extra hydrogens: H and O counts independent
        numbers = [8, 1, 1] * n_w + [1] * n_h + [11] * n_na + [17] * n_cl
        q = np.array([0.0] * (3 * n_w + n_h) + [1.0] * n_na + [-1.0] * n_cl)
        if rng.random() < 0.3:  # some frames keep the ions neutral (a fallback fragment)
            q[:] = 0.0
        frames.append({"numbers": torch.tensor(numbers)})
        states.append(torch.tensor(q))
        energies.append(sum(e_z[z] + c.get(z, (0, 0))[0] * x + c.get(z, (0, 0))[1] * x * x
                            for z, x in zip(numbers, q, strict=True)))  # fmt: skip
    shifts, table = charge_state_energies(frames, energies, states, ridge=0.0)
    for z, e in e_z.items():
        assert float(shifts[z]) == pytest.approx(e, abs=1e-8)
    offsets_only = [  # errors that are ion offsets alone: the ridged fit has no bias
        e - sum(e_z[int(z)] for z in f["numbers"]) for f, e in zip(frames, energies, strict=True)
    ]
    ridged_shifts, ridged = charge_state_energies(frames, offsets_only, states)
    assert float(ridged_shifts.abs().max()) < 1e-8
    for z, (c1, c2) in c.items():
        q = 1.0 if z == 11 else -1.0
        fitted = float(ridged[z, 0]) * q + float(ridged[z, 1]) * q * q
        assert fitted == pytest.approx(c1 * q + c2 * q * q, abs=1e-8)
    for z, (c1, c2) in c.items():  # one charge per ion: the offset c1 q + c2 q² is determined
        q = 1.0 if z == 11 else -1.0
        fitted = float(table[z, 0]) * q + float(table[z, 1]) * q * q
        assert fitted == pytest.approx(c1 * q + c2 * q * q, abs=1e-8)
    assert float(table[8].abs().sum()) == 0.0  # never charged: no term


def test_calculator_artifact_and_openmm_backends_agree(tmp_path):
    """The ASE calculator, the TorchScript artifact and OpenMM (PythonForce and TorchForce) give
    the network the same charge states (the molecules charge model's formal charges)."""
    import openmm

    from openmm_polarml.export import export_model, load_exported
    from openmm_polarml.openmm import FORCE_GROUPS, PolarMLPotential
    from openmm_polarml.openmm.topology import topologyFromAtoms

    model = charge_model(5)
    atoms = hydrated_ions()
    calc_atoms = atoms.copy()
    calc_atoms.calc = PolarMLCalculator(model, warm_start=False)
    e_ref = calc_atoms.get_potential_energy() * KJ  # network only (no PQEq, no D3)
    f_ref = calc_atoms.get_forces() * KJ / NM
    meta = export_model(model, atoms, tmp_path / "net.pt")
    loaded, _ = load_exported(tmp_path / "net.pt")
    pos_nm = torch.tensor(atoms.positions * NM)
    assert float(loaded(pos_nm)) == pytest.approx(e_ref, rel=1e-10)
    assert meta["parity"]
    assert meta["charge_state_e"] == [0.0] * 6 + [1.0, -1.0]
    backends = ["python"]
    try:
        import openmmtorch  # noqa: F401

        backends.append("torch")
    except ImportError:
        pass
    potential = PolarMLPotential(model, cacheDir=tmp_path)
    for backend in backends:
        system = potential.createSystem(topologyFromAtoms(atoms), backend=backend)
        ctx = openmm.Context(system, openmm.VerletIntegrator(1e-4),
                             openmm.Platform.getPlatformByName("Reference"))  # fmt: skip
        ctx.setPositions(atoms.positions * NM)
        state = ctx.getState(getEnergy=True, getForces=True, groups={FORCE_GROUPS["network"]})
        e = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
        f = np.asarray(state.getForces(asNumpy=True).value_in_unit(
            openmm.unit.kilojoule_per_mole / openmm.unit.nanometer))  # fmt: skip
        assert e == pytest.approx(e_ref, rel=1e-9), backend
        np.testing.assert_allclose(f, f_ref, atol=1e-6 * np.abs(f_ref).max())
    neutral = charge_model(5)
    neutral.config["fragments"] = "none"  # q⁰ = 0 everywhere: a different energy
    other = atoms.copy()
    other.calc = PolarMLCalculator(neutral, warm_start=False)
    assert abs(other.get_potential_energy() * KJ - e_ref) > 1.0


def test_tiny_config_is_unchanged_without_the_input():
    model = tiny_model("float64")
    assert not model.shortrange.network.charge_input
    assert not any("charge_" in k for k in model.state_dict())


def test_refit_stays_bounded_when_ions_also_appear_at_fractional_charge():
    """An ion seen at ±1 and, in global fragments, at a small fractional q⁰ with noisy errors: the
    fit keeps c2 = 0 and c1 near the offset (a fit of both turned the noise into opposite terms
    of tens of eV, seen on the campaign data)."""
    rng = np.random.default_rng(3)
    frames, errors, states = [], [], []
    for k in range(80):
        n_w = int(rng.integers(2, 8))
        numbers = [8, 1, 1] * n_w + [11]
        if k % 4:  # Na⁺ as an ion: offset −1.1 eV, small noise
            q = np.array([0.0] * 3 * n_w + [1.0])
            error = -1.1 + 0.05 * rng.normal()
        else:  # one global fragment of charge +1: q⁰ = 1/N on every atom, error is noise
            q = np.full(len(numbers), 1.0 / len(numbers))
            error = 0.3 * rng.normal()
        frames.append({"numbers": torch.tensor(numbers)})
        states.append(torch.tensor(q))
        errors.append(error)
    _, table = charge_state_energies(frames, errors, states)
    assert float(table[11, 1]) == 0.0
    assert abs(float(table[11, 0]) + 1.1) < 0.1


def test_a_trained_charge_table_keeps_its_offsets_when_only_ions_are_seen():
    """Fine-tuning to another level of theory on Na⁺ in water: the fit cannot tell Na's
    reference energy from the Na⁺ offset; ridge_on="charges" moves the shift and leaves the
    charge term, the default ("shifts", a new table) does the opposite."""
    rng = np.random.default_rng(5)
    frames, errors, states = [], [], []
    for _ in range(40):
        n_w = int(rng.integers(2, 8))
        frames.append({"numbers": torch.tensor([8, 1, 1] * n_w + [11])})
        states.append(torch.tensor([0.0] * 3 * n_w + [1.0]))
        errors.append(-22.0 - 0.4 * n_w + 0.01 * rng.normal())  # new Na and water references
    shifts, table = charge_state_energies(frames, errors, states, ridge_on="charges")
    assert float(shifts[11]) == pytest.approx(-22.0, abs=0.05)
    assert abs(float(table[11, 0])) < 0.05
    shifts, table = charge_state_energies(frames, errors, states)
    assert float(table[11, 0]) == pytest.approx(-22.0, abs=0.05)
    assert abs(float(shifts[11])) < 0.05
    with pytest.raises(ValueError, match="ridge_on"):
        charge_state_energies(frames, errors, states, ridge_on="both")
