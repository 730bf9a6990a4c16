"""ASE calculators: the full model and PQEq alone, against the model, finite differences and
cold solves."""

import numpy as np
import pytest
from ase.build import bulk

from openmm_polarml.calculators import PolarMLCalculator, PQEqCalculator
from tests.model.helpers import D3, batch_of, crystal, molecule, pqeq_module, tiny_model

pytestmark = pytest.mark.skipif(not pqeq_module()[1], reason="the PQEq engine does not import")


def _numerical_forces(atoms, calc, h=1e-5):
    forces = np.zeros((len(atoms), 3))
    for a in range(len(atoms)):
        for c in range(3):
            energies = []
            for s in (h, -h):
                moved = atoms.copy()
                moved.positions[a, c] += s
                energies.append(calc.get_potential_energy(moved))
            forces[a, c] = -(energies[0] - energies[1]) / (2 * h)
    return forces


def test_model_calculator_equals_the_model_and_finite_differences():
    model = tiny_model("float64", d3=D3, pqeq={"long_range": "ewald"})
    atoms = crystal(3, rattle=0.1)
    calc = PolarMLCalculator(model, warm_start=False)
    atoms.calc = calc
    out = model(batch_of(atoms), compute_forces=True, compute_stress=True)
    assert abs(atoms.get_potential_energy() - float(out["energy"][0])) < 1e-10
    assert np.allclose(atoms.get_forces(), out["forces"].detach().numpy(), atol=1e-10)
    s = out["stress"][0].detach().numpy()
    assert np.allclose(atoms.get_stress(), s[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]], atol=1e-10)
    assert abs(atoms.get_charges().sum()) < 1e-8
    assert np.allclose(_numerical_forces(atoms, calc), atoms.get_forces(), atol=1e-6)


def test_model_calculator_field_couples_to_the_dipole():
    model = tiny_model("float64", pqeq={"long_range": "direct"})
    atoms = molecule(5, n=5)
    h = 1e-4
    energies = [
        PolarMLCalculator(model, external_field=[0.0, s, 0.0]).get_potential_energy(atoms)
        for s in (h, -h)
    ]
    calc = PolarMLCalculator(model)
    calc.get_potential_energy(atoms)
    dipole_y = calc.results["dipole"][1]  # e·Å; dE/dF_y = −μ_y (eV per V/Å)
    assert abs(dipole_y) > 1e-3
    assert abs(-(energies[0] - energies[1]) / (2 * h) - dipole_y) < 1e-6


def test_model_calculator_warm_start_matches_cold_solves_along_a_trajectory():
    model = tiny_model("float64", pqeq={"long_range": "pme", "solver": "iterative"})
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=4)
    step = np.random.default_rng(5).normal(0.0, 0.01, atoms.positions.shape)
    warm, cold = PolarMLCalculator(model), PolarMLCalculator(model, warm_start=False)
    for _ in range(4):
        atoms.positions += step
        f_warm = warm.get_forces(atoms)
        f_cold = cold.get_forces(atoms)
        assert np.abs(f_warm - f_cold).max() < 1e-5  # both converged to 1e-6 gradients
        assert abs(warm.results["energy"] - cold.results["energy"]) < 1e-8 * len(atoms)


def test_model_calculator_loads_the_shipped_model_by_name():
    calc = PolarMLCalculator("small_demo")
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    atoms.rattle(0.02, seed=0)
    forces = calc.get_forces(atoms)
    assert forces.shape == (8, 3) and np.isfinite(forces).all()
    assert np.abs(forces.sum(0)).max() < 1e-4  # translation invariance (float32 model)
    charges = calc.get_charges(atoms)
    assert charges[atoms.numbers == 11].min() > 0 > charges[atoms.numbers == 17].max()


def test_model_calculator_rejects_mixed_periodicity():
    atoms = crystal(0)
    atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match="mixed periodicity"):
        PolarMLCalculator(tiny_model("float64", pqeq={"long_range": "ewald"})).get_forces(atoms)


def test_pqeq_calculator_forces_are_the_energy_gradient_and_charge_is_conserved():
    atoms = molecule(6, n=5)
    atoms.info["charge"] = 1.0
    calc = PQEqCalculator()
    atoms.calc = calc
    assert abs(atoms.get_charges().sum() - 1.0) < 1e-10
    assert np.allclose(_numerical_forces(atoms, calc), atoms.get_forces(), atol=1e-6)


def _sodium_in_water():
    from ase import Atoms

    water = Atoms("OH2", positions=[[0, 0, 0], [0.7572, 0.5865, 0], [-0.7572, 0.5865, 0]])
    atoms = Atoms("Na", positions=[[0.0, 0.0, 0.0]])
    for shift in ([2.4, 0.1, 0.0], [-2.4, 0.0, 0.2], [0.1, 2.5, 0.0]):
        w = water.copy()
        w.positions += shift
        atoms += w
    atoms.info["charge"] = 1
    return atoms


def test_model_calculator_follows_the_model_charge_model():
    """The calculator solves the charge model the model was trained with; 'molecules' keeps
    the ion at +1 e and every water neutral, with forces that are the exact gradient."""
    model = tiny_model("float64", pqeq={"long_range": "direct"})
    atoms = _sodium_in_water()
    assert PolarMLCalculator(model).fragments == "none"  # the model's own
    global_q = atoms.copy()
    global_q.calc = PolarMLCalculator(model, warm_start=False)
    assert abs(global_q.get_charges()[0] - 1.0) > 1e-3  # one constraint: charge flows to water
    model.config["fragments"] = "molecules"
    calc = PolarMLCalculator(model, warm_start=False)
    assert calc.fragments == "molecules"
    atoms.calc = calc
    q = atoms.get_charges()
    assert q[0] == pytest.approx(1.0, abs=1e-10)
    for k in range(3):
        assert q[1 + 3 * k : 4 + 3 * k].sum() == pytest.approx(0.0, abs=1e-10)
    assert np.allclose(_numerical_forces(atoms, calc), atoms.get_forces(), atol=1e-6)
    with pytest.raises(ValueError, match="fragments must be"):
        PolarMLCalculator(model, fragments="residues")
