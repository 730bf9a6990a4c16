"""D3(BJ) in OpenMM through the native kernel, as an ``openmm.PythonForce``.

The exported TorchScript artifact can carry D3 itself (the TorchScript module, portable to any
openmm-torch host), or leave it out (``export_model(..., include_d3=False)``) so that this force
evaluates it with the native OpenMP kernel of :mod:`openmm_polarml.model.d3_native` — the same
energies to 1e-12, several times faster on CPU. The force runs in the Python process that owns
the Context (``PythonForce`` calls back into it on every evaluation).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from .. import units


def _d3_module(source):
    """The eager ``D3BJ`` of a model, a ``D3BJ``, or the model configuration of an artifact."""
    from openmm_polarml.model.d3 import D3BJ
    from openmm_polarml.model.full import PolarMLModel

    if isinstance(source, D3BJ):
        return source
    if isinstance(source, PolarMLModel):
        if not source.shortrange.has_d3:
            raise ValueError("the model has no D3 term (built with d3=None)")
        return source.shortrange.d3
    from openmm_polarml.model.builder import build_d3, resolve_config

    from ..export.torchforce import load_exported

    _, meta = load_exported(source)
    cfg = resolve_config(meta["model_config"])
    if not cfg["d3"]:
        raise ValueError(f"the artifact {source} was exported from a model without D3")
    from openmm_polarml.model.d3 import load_d3_tables

    load_d3_tables(cfg["d3"])  # the reference tables come from tad-dftd3: fail clearly here
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)  # D3BJ keeps its tables in the default dtype
        return build_d3(cfg)
    finally:
        torch.set_default_dtype(previous)


def attach_d3_force(
    system,
    source,
    numbers=None,
    force_group: int | None = None,
):
    """Add the model's D3(BJ) energy to ``system`` as an ``openmm.PythonForce``.

    Parameters
    ----------
    system : openmm.System
        The system (particle order = the model's atom order).
    source : PolarMLModel, D3BJ, str or Path
        A model or its D3 module, or an exported artifact (its recorded configuration rebuilds
        D3; needs ``tad-dftd3`` for the reference tables).
    numbers : sequence of int, optional
        Atomic numbers of the particles; default: the artifact's (required for a model).
    force_group : int, optional
        Force group of the new force.

    Returns
    -------
    openmm.PythonForce
        The added force (periodic when the system is).
    """
    import openmm

    from ..model import d3_native

    if numbers is None:
        if not isinstance(source, (str, Path)):
            raise ValueError("give the particles' atomic numbers (numbers=...) with a model")
        from ..export.torchforce import load_exported

        numbers = load_exported(source)[1]["numbers"]
    if len(numbers) != system.getNumParticles():
        raise ValueError(
            f"system has {system.getNumParticles()} particles, numbers has {len(numbers)}"
        )
    if not d3_native.native_available():
        raise RuntimeError(
            "the native D3 kernel is not built (or POLARML_NATIVE_KERNELS=0): keep D3 in the "
            "TorchForce artifact instead (export_model(..., include_d3=True))"
        )
    periodic = system.usesPeriodicBoundaryConditions()
    d3 = copy.deepcopy(_d3_module(source)).double()  # the caller's model keeps its dtype
    evaluate = _D3Evaluation(d3, numbers, periodic)
    force = openmm.PythonForce(evaluate)
    force.setName("D3BJ (native)")
    force.setUsesPeriodicBoundaryConditions(periodic)
    if force_group is not None:
        force.setForceGroup(int(force_group))
    system.addForce(force)
    return force


class _D3Evaluation:
    """``State -> (energy kJ/mol, forces [N, 3] kJ/mol/nm)`` with the native D3 kernel."""

    def __init__(self, d3, numbers, periodic: bool):
        self.d3 = d3
        self.numbers = torch.as_tensor(np.asarray(numbers), dtype=torch.long)
        self.periodic = bool(periodic)
        n = self.numbers.shape[0]
        self.pbc = torch.full((1, 3), self.periodic, dtype=torch.bool)
        self.batch = torch.zeros(n, dtype=torch.long)
        self.ptr = torch.tensor([0, n])

    def __call__(self, state):
        import openmm.unit as u

        nm = u.nanometer
        pos_nm = state.getPositions(asNumpy=True).value_in_unit(nm)
        pos = torch.tensor(np.asarray(pos_nm) * units.NM_TO_ANGSTROM, requires_grad=True)
        cell = torch.zeros(1, 3, 3, dtype=torch.float64)
        if self.periodic:
            box = np.asarray(state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(nm))
            cell = torch.tensor(box * units.NM_TO_ANGSTROM).reshape(1, 3, 3)
        args = (self.numbers, cell, self.pbc, self.batch, self.ptr)
        energy = self.d3.native_energies(pos, *args).sum()  # eV
        (grad,) = torch.autograd.grad(energy, pos)  # eV/Å
        forces = -grad.numpy() * units.EV_TO_KJ_PER_MOL / units.ANGSTROM_TO_NM
        return float(energy.detach()) * units.EV_TO_KJ_PER_MOL, forces
