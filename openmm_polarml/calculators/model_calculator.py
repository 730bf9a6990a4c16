"""ASE calculator for the full model (network + PQEq + D3): energy, forces, stress, charges."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from ..data_io import atoms_to_frame, collate
from ..model.elements import check_elements, supported_elements
from ..model.serialization import resolve_model

#: keywords of ase's Calculator that PolarMLCalculator passes on
_ASE_KEYWORDS = {"restart", "ignore_bad_restart_file", "label", "atoms", "directory"}


class PolarMLCalculator(Calculator):
    """The polarizable ML model as an ASE calculator (eV, Å, e).

    The total charge is read from ``atoms.info["charge"]`` (default 0). Along a trajectory
    (MD, relaxation) each charge/shell solve starts from the solutions of the previous calls,
    extrapolated (``warm_start``); the solve still converges to the engine's tolerance.

    Parameters
    ----------
    model : PolarMLModel, str or Path
        A model, a saved model / checkpoint file, or the name of a shipped model
        (default ``"foundation"``). A model instance is used as is (no ``dtype`` or ``head``
        given), and its ``pqeq_warm_start`` flag is set to ``warm_start``.
    dtype : str or None
        ``"float32"`` or ``"float64"`` (default: the model's own).
    external_field : sequence of float or None
        Homogeneous field (V/Å).
    warm_start : bool
        Start each solve from the previous solutions.
    head : str or None
        Readout head (level of theory) of a multi-head model: ``"pbe"`` (crystals, 89
        elements) or ``"gfn2"`` (molecules, water, electrolytes; 19 elements) for the shipped
        ``foundation``; default the model's own.
    fragments : str or None
        The charge model: which atom groups keep their own total charge. ``None`` (default):
        the model's own (``model.config["fragments"]``, the one it was trained with):
        ``"molecules"`` (molecules with formal charges, see
        :mod:`openmm_polarml.pqeq.charge_groups`) or ``"none"`` (one total-charge constraint,
        ``atoms.info["charge"]``). Explicit per-atom labels in ``atoms.arrays["fragment"]``
        with ``atoms.info["fragment_charges"]`` (e) override both.
    neutralizing_background : bool or None
        Periodic cells with a net charge: add a uniform neutralising background (the Ewald
        convention) instead of refusing them; None keeps the model's setting (refuse).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "charges", "dipole"]

    def __init__(
        self,
        model="foundation",
        dtype: str | None = None,
        external_field: Sequence[float] | None = None,
        warm_start: bool = True,
        head: str | None = None,
        fragments: str | None = None,
        neutralizing_background: bool | None = None,
        **kwargs,
    ):
        unknown = sorted(set(kwargs) - _ASE_KEYWORDS)
        if unknown:
            raise TypeError(
                f"PolarMLCalculator got unknown keyword(s) {unknown}; it takes model, dtype, "
                "external_field, warm_start, head, fragments, neutralizing_background and ASE's "
                f"{sorted(_ASE_KEYWORDS)}"
            )
        super().__init__(**kwargs)
        self.model = resolve_model(model, dtype, head).eval()
        self.elements = supported_elements(self.model)
        if neutralizing_background is not None:
            if self.model.pqeq is None:
                raise ValueError("neutralizing_background needs a model with PQEq")
            self.model.pqeq.neutralizing_background = bool(neutralizing_background)
        self.fragments = (
            self.model.config.get("fragments", "none") if fragments is None else fragments
        )
        if self.fragments not in ("none", "molecules"):
            raise ValueError(
                f"fragments must be 'none' or 'molecules' (or None: the model's own), got "
                f"{fragments!r}"
            )
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
        return collate([atoms_to_frame(plain, self.fragments)], self.dtype)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pbc = self.atoms.pbc
        if pbc.any() and not pbc.all():
            raise ValueError("mixed periodicity is not supported: use pbc=True or pbc=False")
        check_elements(self.model, self.atoms.numbers, self.elements)
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
