"""The network (+ D3) as an ``openmm.PythonForce``: the eager model, called back from OpenMM.

The same :class:`~openmm_polarml.export.TorchForceModule` that the TorchScript artifact contains
runs here without TorchScript, so the two backends give the same energies and forces (to
rounding). OpenMM 8.5's ``PythonForce`` calls the evaluation on every force computation in the
Python process that owns the Context.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["NetworkEvaluation", "attach_python_force", "network_module", "rebuild_evaluation"]


def network_module(
    model, numbers, periodic: bool, include_d3: bool, atom_indices=None, charge_state=None
):
    """The eager :class:`~openmm_polarml.export.TorchForceModule` of ``model`` (a fresh copy).

    Parameters
    ----------
    model : PolarMLModel
        The model, on its selected head.
    numbers : sequence of int
        Atomic numbers of the ML atoms.
    periodic : bool
        Whether the module takes the box.
    include_d3 : bool
        Whether D3 runs inside the module.
    atom_indices : sequence of int, optional
        Particle indices of the ML atoms (ML/MM); None: all particles.
    charge_state : sequence of float, optional
        ``[N]`` reference charges (e) of the ML atoms, for a network that reads charge states
        (:mod:`openmm_polarml.model.charge_state`).
    """
    from ..export.torchforce import TorchForceModule, fresh_copy
    from ..model.shortrange import ShortRange

    shortrange = fresh_copy(model).shortrange
    if not include_d3:
        shortrange = ShortRange(shortrange.network, None)
    index = None if atom_indices is None else torch.as_tensor(list(atom_indices))
    charge = None if charge_state is None else torch.as_tensor(list(charge_state), dtype=float)
    module = TorchForceModule(
        shortrange, torch.as_tensor(list(numbers)), periodic, False, index, charge
    )
    return module.to(model.shortrange.network.shift.dtype)


def rebuild_evaluation(recipe: dict) -> NetworkEvaluation:
    """A :class:`NetworkEvaluation` from its pickled recipe (model configuration and weights, the
    ML atoms, periodicity, whether D3 is inside): what ``XmlSerializer.deserialize`` calls."""
    from ..model.serialization import model_from_contents

    model = model_from_contents(recipe["config"], recipe["state"], "<PythonForce>").eval()
    module = network_module(
        model, recipe["numbers"], recipe["periodic"], recipe["include_d3"],
        recipe["atom_indices"], recipe.get("charge_state"),
    )  # fmt: skip
    return NetworkEvaluation(module, recipe["periodic"], recipe)


class NetworkEvaluation:
    """``State -> (energy kJ/mol, forces [n_particles, 3] kJ/mol/nm)`` of an eager module.

    Parameters
    ----------
    module : TorchForceModule
        Eager module (nm/kJ/mol interface, optionally with ``atom_indices``).
    periodic : bool
        Whether the box is passed to the module.
    recipe : dict, optional
        What rebuilds the module in another process (see :func:`rebuild_evaluation`): with it
        the evaluation pickles, so a System with this force survives ``XmlSerializer``. The
        weights travel inside the XML (compiled e3nn code itself cannot be pickled).
    """

    def __init__(self, module, periodic: bool, recipe: dict | None = None):
        self.module = module.eval()
        self.periodic = bool(periodic)
        self.dtype = module.dtype_ref.dtype
        self.recipe = recipe

    def __reduce__(self):
        if self.recipe is None:
            raise TypeError(
                "this NetworkEvaluation has no recipe and cannot be pickled: build the System "
                "with PolarMLPotential.createSystem(backend='python')"
            )
        return (rebuild_evaluation, (self.recipe,))

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


def attach_python_force(
    system, module, periodic: bool, force_group: int | None = None, recipe: dict | None = None
):
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
    recipe : dict, optional
        See :class:`NetworkEvaluation` (makes the force serialisable).

    Returns
    -------
    openmm.PythonForce
        The added force.
    """
    import openmm

    force = openmm.PythonForce(NetworkEvaluation(module, periodic, recipe))
    force.setName("PolarML network (PythonForce)")
    force.setUsesPeriodicBoundaryConditions(bool(periodic))
    if force_group is not None:
        force.setForceGroup(int(force_group))
    system.addForce(force)
    return force
