"""Elastic constants: exact recovery of a known linear tensor, Voigt–Reuss–Hill on an isotropic
solid, and the bulk modulus of EMT aluminium against an independent equation-of-state fit."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from openmm_polarml.analysis.elastic import (
    ElasticProblem,
    elastic_tensor,
    strain_matrix,
    symmetry_of_tensor,
    voigt_reuss_hill,
)
from openmm_polarml.units import EV_PER_A3_TO_GPA
from tests.physics_checks import equation_of_state


class HarmonicCell(Calculator):
    """σ = C ε for the strain of the cell relative to a reference cell (no forces)."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, reference_cell, c_gpa):
        super().__init__()
        self.reference = np.asarray(reference_cell)
        self.c = np.asarray(c_gpa) / EV_PER_A3_TO_GPA  # eV/Å³

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        f = np.linalg.solve(self.reference, atoms.cell.array).T  # cell = ref @ F^T
        e = 0.5 * (f + f.T) - np.eye(3)
        voigt = np.array([e[0, 0], e[1, 1], e[2, 2], 2 * e[1, 2], 2 * e[0, 2], 2 * e[0, 1]])
        self.results = {
            "energy": 0.5 * atoms.get_volume() * voigt @ self.c @ voigt,
            "forces": np.zeros((len(atoms), 3)),
            "stress": self.c @ voigt,
        }


def test_strain_matrix_uses_engineering_shear():
    assert strain_matrix(3, 0.02)[1, 2] == pytest.approx(0.01)
    assert strain_matrix(0, 0.02)[0, 0] == pytest.approx(0.02)


def test_recovers_a_known_triclinic_tensor():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(6, 6))
    c_true = a @ a.T * 20 + 100 * np.eye(6)  # GPa, symmetric positive definite
    atoms = bulk("Cu", "fcc", a=3.6)
    calc = HarmonicCell(atoms.cell.array, c_true)
    c = elastic_tensor(ElasticProblem(atoms, relax_ions=False), calc)
    np.testing.assert_allclose(c, c_true, rtol=1e-10, atol=1e-9)


def test_voigt_reuss_hill_of_an_isotropic_solid():
    lam, mu = 60.0, 30.0
    c = np.zeros((6, 6))
    c[:3, :3] = lam
    c[np.arange(3), np.arange(3)] = lam + 2 * mu
    c[np.arange(3, 6), np.arange(3, 6)] = mu
    m = voigt_reuss_hill(c)
    for key in ("K_V", "K_R", "K_H"):
        assert m[key] == pytest.approx(lam + 2 * mu / 3, rel=1e-12)
    for key in ("G_V", "G_R", "G_H"):
        assert m[key] == pytest.approx(mu, rel=1e-12)
    assert m["stable"]
    c[3, 3] = -1.0
    assert not voigt_reuss_hill(c)["stable"]


def test_emt_aluminium_cubic_and_bulk_modulus_matches_equation_of_state():
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    v0, _, b = equation_of_state(atoms, EMT, np.linspace(0.98, 1.02, 9))
    a0 = atoms.copy()
    a0.set_cell(atoms.cell * (v0 / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
    c = elastic_tensor(ElasticProblem(a0, strains=(-0.004, -0.002, 0.002, 0.004)), EMT())
    cubic = symmetry_of_tensor(c, "cubic")
    assert np.ptp(np.diag(c)[:3]) < 1e-6 * cubic["C11"]
    assert np.abs(c[:3, 3:]).max() < 1e-6 * cubic["C11"]
    k_tensor = voigt_reuss_hill(c)["K_V"]
    assert k_tensor == pytest.approx(b * EV_PER_A3_TO_GPA, rel=0.01)


def test_bad_protocols_are_refused():
    atoms = bulk("Cu", "fcc", a=3.6)
    with pytest.raises(ValueError, match="two different"):
        elastic_tensor(ElasticProblem(atoms, strains=(0.01,)), EMT())
    with pytest.raises(ValueError, match="linear regime"):
        elastic_tensor(ElasticProblem(atoms, strains=(-0.1, 0.1)), EMT())
    with pytest.raises(ValueError, match="cubic"):
        symmetry_of_tensor(np.eye(6), "monoclinic")
