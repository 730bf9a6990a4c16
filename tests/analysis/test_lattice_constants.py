"""Lattice constants (analysis/lattice.py, examples/lattice_constants.py): cells, and the relaxation against an equation-of-state fit."""

import numpy as np
import pytest
from ase.calculators.emt import EMT

from openmm_polarml.analysis import lattice as lc
from tests.physics_checks import equation_of_state


@pytest.mark.parametrize("name", ["NaCl", "Si", "Fe", "BaTiO3"])
def test_crystals_are_conventional_cubic_cells_at_the_experimental_constant(name):
    atoms = lc.crystal(name)
    a = lc.EXPERIMENT_A[name]
    np.testing.assert_allclose(atoms.cell.array, np.eye(3) * a, atol=1e-12)
    assert len(atoms) == {"NaCl": 8, "Si": 8, "Fe": 2, "BaTiO3": 5}[name]


def test_relaxed_constant_matches_an_equation_of_state_fit():
    start = lc.crystal("Cu")  # 4-atom fcc cell at 3.615 A
    a_relaxed = lc.relaxed_lattice_constant(start, EMT())
    v0, _, _ = equation_of_state(start, EMT, np.linspace(0.97, 1.03, 9))
    assert a_relaxed == pytest.approx(np.cbrt(v0), abs=2e-3)
