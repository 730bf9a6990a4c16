"""Equilibrium cubic lattice constants by isotropic relaxation, with experimental references.

Imports only numpy and ase at module level, so the label interpreter (SevenNet-0) relaxes the
same cells with the same settings (``openmm_polarml.standalone.bare_subpackage``). Lattice
constants in Å, forces in eV/Å.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk

__all__ = [
    "EXPERIMENT_A",
    "FMAX_EV_A",
    "crystal",
    "relaxed_lattice_constant",
    "sevenn_calculator",
    "model_calculator",
    "lattice_summary",
]

#: Å, experimental room-temperature cubic lattice constants (CRC Handbook; BaTiO3 above its
#: 393 K transition, SrTiO3 at room temperature)
EXPERIMENT_A = {
    "NaCl": 5.640, "KCl": 6.293, "LiF": 4.026, "MgO": 4.212, "Si": 5.431,
    "Al": 4.050, "Cu": 3.615, "Fe": 2.866, "BaTiO3": 4.00, "SrTiO3": 3.905,
}  # fmt: skip

FMAX_EV_A = 1e-3


def crystal(name: str) -> Atoms:
    """The conventional cubic cell of ``name`` at its experimental lattice constant."""
    a = EXPERIMENT_A[name]
    if name.endswith("TiO3"):
        frac = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
        return Atoms(name, scaled_positions=frac, cell=[a] * 3, pbc=True)
    structure = {"Si": "diamond", "Al": "fcc", "Cu": "fcc", "Fe": "bcc"}.get(name, "rocksalt")
    return bulk(name, structure, a=a, cubic=True)


def relaxed_lattice_constant(atoms: Atoms, calc) -> float:
    """Å, the cube root of the conventional cell's volume after relaxing positions and,
    isotropically, the cell."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = atoms.copy()
    atoms.calc = calc
    converged = BFGS(FrechetCellFilter(atoms, hydrostatic_strain=True), logfile=None).run(
        fmax=FMAX_EV_A, steps=300
    )
    if not converged:
        raise RuntimeError(f"{atoms.get_chemical_formula()}: relaxation not converged in 300 steps")
    return float(np.cbrt(atoms.get_volume()))


def sevenn_calculator():
    """SevenNet-0 on the CPU (the ``pbe`` head's teacher; label interpreter only)."""
    from sevenn.calculator import SevenNetCalculator

    return SevenNetCalculator("7net-0", device="cpu")


def model_calculator():
    """The shipped model's ``pbe`` head in float64 as an ASE calculator."""
    from openmm_polarml.calculators import PolarMLCalculator

    return PolarMLCalculator("foundation", head="pbe", dtype="float64")


def lattice_summary(rows: dict, model) -> dict:
    """The record of ``lattice_constants.json``: method, teacher, the model's fingerprint and
    ``rows`` (crystal -> ``teacher_A``, ``model_A``, ``experiment_A``)."""
    from openmm_polarml.openmm.artifacts import model_fingerprint

    return {
        "method": "isotropic relaxation of the conventional cubic cell from the experimental "
        f"lattice constant, BFGS to {FMAX_EV_A:g} eV/Å (ASE FrechetCellFilter)",
        "teacher": "SevenNet-0 (sevenn 0.13.0)",
        "model_sha256": model_fingerprint(model), "head": "pbe", "dtype": "float64",
        "crystals": rows,
    }  # fmt: skip
