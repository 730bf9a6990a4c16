"""ASE calculator for the PQEq engine (energy, forces, stress, charges, dipole)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from ..pqeq import PQEq


class PQEqCalculator(Calculator):
    """Polarizable charge equilibration as an ASE calculator (eV, Å, e).

    The total charge is read from ``atoms.info["charge"]`` (default 0). The charges and shells of
    the previous call warm-start the next one when the atom count is unchanged. For periodic cells
    with a field, the first geometry seen is the field reference r⁰ (docs/conventions.md); call
    :meth:`reset` to take a new one.

    Parameters
    ----------
    long_range : str
        ``direct`` (clusters), ``ewald``, ``pme`` or ``taper``. Default: ``ewald`` when the atoms
        are periodic, else ``direct``.
    external_field : sequence of float or None
        Homogeneous field (V/Å).
    mode : str
        ``converged`` or ``reaxnet``.
    tolerance : float or None
        Solver tolerance (eV/e and eV/Å).
    fragments : list of lists of int or None
        Atom index groups with their own total charges (``fragment_charges``, default 0).
    dtype : torch.dtype
        Floating precision.
    **engine_kwargs
        Passed to :class:`~openmm_polarml.pqeq.PQEq` (``solver``, ``accuracy``, ``cutoff`` …).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "charges", "dipole"]

    def __init__(
        self,
        long_range: str | None = None,
        external_field: Sequence[float] | None = None,
        mode: str = "converged",
        tolerance: float | None = None,
        fragments: Sequence[Sequence[int]] | None = None,
        fragment_charges: Sequence[float] | None = None,
        dtype: torch.dtype = torch.float64,
        **engine_kwargs,
    ):
        super().__init__()
        self.long_range = long_range
        self.external_field = None if external_field is None else list(external_field)
        self.fragments, self.fragment_charges = fragments, fragment_charges
        self.dtype = dtype
        self.engine_kwargs = dict(mode=mode, tolerance=tolerance, **engine_kwargs)
        self._engines: dict[str, PQEq] = {}
        self._warm: tuple[torch.Tensor, torch.Tensor] | None = None
        self._field_reference: torch.Tensor | None = None

    def reset(self):
        super().reset()
        self._warm = None
        self._field_reference = None

    def _engine(self, periodic: bool) -> PQEq:
        method = self.long_range or ("ewald" if periodic else "direct")
        if method not in self._engines:
            self._engines[method] = PQEq(long_range=method, **self.engine_kwargs)
        return self._engines[method]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        pbc = atoms.pbc
        if pbc.any() and not pbc.all():
            raise ValueError("mixed periodicity is not supported: use pbc=True or pbc=False")
        periodic = bool(pbc.all())
        positions = torch.tensor(atoms.positions, dtype=self.dtype)
        cell = torch.tensor(atoms.cell.array, dtype=self.dtype) if periodic else None
        n = len(atoms)
        warm = (
            self._warm if self._warm is not None and self._warm[0].shape[0] == n else (None, None)
        )
        if periodic and self.external_field is not None and self._field_reference is None:
            self._field_reference = positions.clone()
        out = self._engine(periodic)(
            positions,
            torch.tensor(atoms.numbers),
            cell=cell,
            pbc=periodic,
            total_charge=float(atoms.info.get("charge", 0.0)),
            fragments=self.fragments,
            fragment_charges=self.fragment_charges,
            external_field=self.external_field,
            field_reference=self._field_reference if periodic else None,
            initial_charges=warm[0],
            initial_shells=warm[1],
            compute_forces=True,
            compute_stress="stress" in properties and periodic,
        )
        self._warm = (out["charges"], out["shell_displacements"])
        energy = float(out["energy"].detach())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": out["forces"].detach().numpy().astype(np.float64),
            "charges": out["charges"].numpy().astype(np.float64),
            "dipole": out["dipole"].numpy().astype(np.float64),
        }
        if "stress" in out:
            s = out["stress"].detach().numpy()
            self.results["stress"] = np.array(
                [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]
            )
