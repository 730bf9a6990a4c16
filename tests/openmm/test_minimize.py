"""Minimisation that survives OpenMM's unit-norm first L-BFGS step: FIRE on an analytic bond, and
the fall-back when an evaluation refuses overlapping atoms."""

import numpy as np
import openmm
import pytest

from openmm_polarml.openmm.minimize import fire, minimize

R0, K = 0.15, 5e4  # nm, kJ/mol/nm²: a stiff bond far from its length pulls hard


class _Bond:
    """E = K/2 (r - R0)² between particles 0 and 1; refuses r < 0.05 nm like PQEqForce."""

    def __init__(self, r0: float = R0):
        self.r0, self.closest = r0, np.inf

    def __call__(self, state):
        x = state.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
        d = x[0] - x[1]
        r = float(np.linalg.norm(d))
        self.closest = min(self.closest, r)
        if r < 0.05:
            raise openmm.OpenMMException(f"particles 0 and 1 are {r} nm apart, closer than 0.05 nm")
        de = K * (r - self.r0)
        forces = np.zeros_like(x)
        forces[0], forces[1] = -de * d / r, de * d / r
        return 0.5 * K * (r - self.r0) ** 2, forces


def _context(start_nm: float, r0: float = R0):
    system = openmm.System()
    for _ in range(2):
        system.addParticle(16.0)
    bond = _Bond(r0)
    system.addForce(openmm.PythonForce(bond))
    context = openmm.Context(
        system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference")
    )
    context.setPositions(np.array([[0.0, 0.0, 0.0], [start_nm, 0.0, 0.0]]))
    return context, bond


def _distance(context) -> float:
    x = context.getState(getPositions=True).getPositions(asNumpy=True)._value
    return float(np.linalg.norm(x[0] - x[1]))


def test_fire_reaches_the_bond_length_without_exceeding_its_step():
    context, bond = _context(0.40)
    iterations = fire(context, tolerance=1e-3, max_iterations=2000, max_step=0.01)
    assert iterations < 2000
    assert _distance(context) == pytest.approx(R0, abs=1e-3 / K * 10)
    assert bond.closest > R0 - 0.02  # never pulled through: each atom moved ≤ 0.01 nm per step


def test_minimize_falls_back_to_fire_when_lbfgs_lands_atoms_on_each_other():
    context, _ = _context(0.40)  # |F| = 1.25e4 kJ/mol/nm: the unit-norm first step overshoots
    with pytest.raises(openmm.OpenMMException, match="closer than"):
        openmm.LocalEnergyMinimizer.minimize(context, 1.0, 50)
    context.setPositions(np.array([[0.0, 0.0, 0.0], [0.40, 0.0, 0.0]]))
    assert minimize(context, tolerance=1.0, max_iterations=2000) == "fire"
    assert _distance(context) == pytest.approx(R0, abs=1e-4)


def test_minimize_keeps_lbfgs_where_it_works():
    context, _ = _context(0.8, r0=1.0)  # pushed apart: no trial step brings the atoms together
    assert minimize(context, tolerance=1.0, max_iterations=200) == "lbfgs"
    assert _distance(context) == pytest.approx(1.0, abs=1e-4)
