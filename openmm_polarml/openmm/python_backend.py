"""The network (+ D3) as an ``openmm.PythonForce``: the eager model, called back from OpenMM.

The same :class:`~openmm_polarml.export.TorchForceModule` that the TorchScript artifact contains
runs here without TorchScript, so the two backends give the same energies and forces (to
rounding). OpenMM 8.5's ``PythonForce`` calls the evaluation on every force computation in the
Python process that owns the Context.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["NetworkEvaluation", "attach_python_force"]


class NetworkEvaluation:
    """``State -> (energy kJ/mol, forces [n_particles, 3] kJ/mol/nm)`` of an eager module.

    Parameters
    ----------
    module : TorchForceModule
        Eager module (nm/kJ/mol interface, optionally with ``atom_indices``).
    periodic : bool
        Whether the box is passed to the module.
    """

    def __init__(self, module, periodic: bool):
        self.module = module.eval()
        self.periodic = bool(periodic)
        self.dtype = module.dtype_ref.dtype

    def __call__(self, state):
        import openmm.unit as u

        nm = u.nanometer
        pos = np.asarray(state.getPositions(asNumpy=True).value_in_unit(nm))  # [n, 3] nm
        positions = torch.tensor(pos, dtype=self.dtype, requires_grad=True)
        box = None
        if self.periodic:
            vectors = state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(nm)
            box = torch.tensor(np.asarray(vectors), dtype=self.dtype)  # [3, 3] nm
        energy = self.module.energy(positions, box)  # kJ/mol
        (grad,) = torch.autograd.grad(energy, positions)  # [n, 3] kJ/mol/nm
        return float(energy.detach()), -grad.detach().double().numpy()


def attach_python_force(system, module, periodic: bool, force_group: int | None = None):
    """Add ``module`` (a :class:`TorchForceModule`) to ``system`` as an ``openmm.PythonForce``.

    Parameters
    ----------
    system : openmm.System
        The system; ``module`` must read all of its particles.
    module : TorchForceModule
        The eager network (+ D3) module.
    periodic : bool
        Whether the force uses periodic boundary conditions.
    force_group : int, optional
        Force group of the new force.

    Returns
    -------
    openmm.PythonForce
        The added force.
    """
    import openmm

    force = openmm.PythonForce(NetworkEvaluation(module, periodic))
    force.setName("PolarML network (PythonForce)")
    force.setUsesPeriodicBoundaryConditions(bool(periodic))
    if force_group is not None:
        force.setForceGroup(int(force_group))
    system.addForce(force)
    return force
