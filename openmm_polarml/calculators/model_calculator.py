"""ASE calculator for the full model (network + PQEq + D3): energy, forces, stress, charges."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from ..data_io import atoms_to_frame, collate


def _load(model, dtype: str | None):
    from ..model import PolarMLModel
    from ..model.serialization import load_model, load_pretrained

    if isinstance(model, PolarMLModel):  # a copy in another dtype leaves the caller's model as is
        return model if dtype is None else copy.deepcopy(model).to(getattr(torch, dtype))
    if Path(str(model)).exists():
        return load_model(model, dtype=dtype)
    return load_pretrained(str(model), dtype=dtype)


class PolarMLCalculator(Calculator):
    """The polarizable ML model as an ASE calculator (eV, Å, e).

    The total charge is read from ``atoms.info["charge"]`` (default 0). Along a trajectory
    (MD, relaxation) each charge/shell solve starts from the solutions of the previous calls,
    extrapolated (``warm_start``); the solve still converges to the engine's tolerance.

    Parameters
    ----------
    model : PolarMLModel, str or Path
        A model, a saved model / checkpoint file, or the name of a shipped model
        (default ``"small_demo"``). A model instance is used as is (no ``dtype`` given), and its
        ``pqeq_warm_start`` flag is set to ``warm_start``.
    dtype : str or None
        ``"float32"`` or ``"float64"`` (default: the model's own).
    external_field : sequence of float or None
        Homogeneous field (V/Å).
    warm_start : bool
        Start each solve from the previous solutions.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "charges", "dipole"]

    def __init__(
        self,
        model="small_demo",
        dtype: str | None = None,
        external_field: Sequence[float] | None = None,
        warm_start: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.model = _load(model, dtype).eval()
        self.model.pqeq_warm_start = bool(warm_start)
        self.dtype = next(self.model.parameters()).dtype
        self.external_field = None if external_field is None else list(external_field)

    def reset(self):
        super().reset()
        self.model.warm_start.clear()

    def _batch(self, atoms) -> dict:
        plain = atoms.copy()  # no calculator attached: labels are not read back from us
        if self.external_field is not None:
            plain.info["external_field"] = self.external_field
        return collate([atoms_to_frame(plain)], self.dtype)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pbc = self.atoms.pbc
        if pbc.any() and not pbc.all():
            raise ValueError("mixed periodicity is not supported: use pbc=True or pbc=False")
        stress = "stress" in properties and bool(pbc.all())
        out = self.model(self._batch(self.atoms), compute_forces=True, compute_stress=stress)
        energy = float(out["energy"][0].detach())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": out["forces"].detach().double().numpy(),
            "charges": out["charges"].detach().double().numpy(),
            "dipole": out["dipole"][0].detach().double().numpy(),
        }
        if "pqeq_iterations" in out:  # solver iterations of this call (not an ASE property)
            self.results["pqeq_iterations"] = int(out["pqeq_iterations"][0])
        if stress:
            s = out["stress"][0].detach().double().numpy()
            self.results["stress"] = np.array(
                [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]
            )
