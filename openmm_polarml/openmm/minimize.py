"""Energy minimisation that survives the first step of OpenMM's L-BFGS.

``openmm.LocalEnergyMinimizer`` starts its line search with a step of unit norm along the force
(1 nm summed over all coordinates). In a box of a few hundred atoms that can move one atom by
0.5–1 Å. An H-bonded hydrogen that feels a strong pull towards its acceptor then lands on it
(measured: water64 with the shipped model, H 1.72 Å from O moved to 0.15 Å), and ``PQEqForce``
refuses atoms closer than 0.5 Å by throwing instead of returning an energy the line search could
back off from. :func:`minimize` runs OpenMM's minimiser first and, when an evaluation throws for
overlapping atoms, restores the start and relaxes with FIRE (Bitzek et al., PRL 97, 170201
(2006)) instead, with every atom's displacement per iteration capped at ``max_step``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["minimize", "fire"]

#: substring of the PQEqForce / PyTorch-engine message for overlapping atoms
OVERLAP_MESSAGE = "closer than"
#: FIRE's fictitious mass per coordinate (kJ/mol/nm² · step²): a force of 1,000 kJ/mol/nm moves an
#: atom by dt² nm on the first step, well below ``max_step`` at the start value dt = 0.1
FIRE_MASS = 1000.0


def _state(context, energy: bool = True):
    import openmm.unit as u

    state = context.getState(getEnergy=energy, getForces=True, getPositions=True)
    forces = state.getForces(asNumpy=True).value_in_unit(u.kilojoule_per_mole / u.nanometer)
    positions = state.getPositions(asNumpy=True).value_in_unit(u.nanometer)
    e = state.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole) if energy else None
    return np.asarray(positions), np.asarray(forces), e


def fire(context, tolerance: float = 10.0, max_iterations: int = 200, max_step: float = 0.01):
    """FIRE relaxation of ``context`` in place; returns the iterations taken.

    Parameters
    ----------
    context : openmm.Context
        Positions are read from and written to it (constraints applied after every move).
    tolerance : float
        Stop when no atom feels a force above this (kJ/mol/nm).
    max_iterations : int
        Force evaluations at most.
    max_step : float
        Largest displacement of any atom in one iteration (nm).
    """
    import openmm.unit as u

    system = context.getSystem()
    masses = np.array(
        [system.getParticleMass(i).value_in_unit(u.dalton) for i in range(system.getNumParticles())]
    )
    movable = masses > 0  # massless particles (virtual sites, fixed atoms) stay where they are
    x, f, _ = _state(context, energy=False)
    v = np.zeros_like(x)
    dt, dt_max, alpha, n_positive = 0.1, 1.0, 0.1, 0
    for iteration in range(max_iterations):
        if np.abs(f[movable]).max() < tolerance:
            return iteration
        power = float((f * v).sum())
        if power > 0:
            unit_f = f / max(np.linalg.norm(f), 1e-300)
            v = (1 - alpha) * v + alpha * np.linalg.norm(v) * unit_f
            n_positive += 1
            if n_positive > 5:
                dt, alpha = min(1.1 * dt, dt_max), 0.99 * alpha
        else:
            v[:] = 0.0
            dt, alpha, n_positive = 0.5 * dt, 0.1, 0
        v += dt * f / FIRE_MASS
        dx = dt * v
        dx[~movable] = 0.0
        norms = np.linalg.norm(dx, axis=1)
        dx *= np.minimum(1.0, max_step / np.maximum(norms, 1e-300))[:, None]
        context.setPositions(x + dx)
        context.applyConstraints(1e-6)
        x, f, _ = _state(context, energy=False)
    return max_iterations


def minimize(context, tolerance: float = 10.0, max_iterations: int = 200) -> str:
    """Minimise ``context`` in place with ``LocalEnergyMinimizer``, or FIRE where it throws for
    overlapping atoms; returns ``"lbfgs"`` or ``"fire"`` (the method that finished).

    Parameters
    ----------
    context : openmm.Context
        The context to relax.
    tolerance : float
        Force tolerance (kJ/mol/nm).
    max_iterations : int
        Iterations at most (0: OpenMM's "until converged" for L-BFGS, 1,000 for FIRE).
    """
    import openmm

    start = context.getState(getPositions=True).getPositions(asNumpy=True)
    try:
        openmm.LocalEnergyMinimizer.minimize(context, tolerance, max_iterations)
        return "lbfgs"
    except openmm.OpenMMException as err:
        if OVERLAP_MESSAGE not in str(err):
            raise
        print(
            "[minimize] OpenMM's L-BFGS moved atoms onto each other on a trial step "
            f"({str(err).splitlines()[0][:120]}...); relaxing with step-limited FIRE instead",
            flush=True,
        )
    context.setPositions(start)
    fire(context, tolerance, max_iterations or 1000)
    return "fire"
