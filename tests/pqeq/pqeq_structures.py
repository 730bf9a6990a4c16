"""Test structures (ASE Atoms) and conversions to engine tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk, molecule

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "reaxnet"


def tensors(atoms: Atoms, dtype=torch.float64):
    """(positions, numbers, cell or None, pbc) for the engine."""
    pbc = bool(atoms.pbc.all())
    cell = torch.tensor(atoms.cell.array, dtype=dtype) if pbc else None
    return torch.tensor(atoms.positions, dtype=dtype), torch.tensor(atoms.numbers), cell, pbc


def water_cluster(n: int, spacing: float = 3.1, seed: int = 0) -> Atoms:
    """``n`` water molecules on a jittered cubic grid (a finite cluster)."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(n ** (1 / 3)))
    atoms = Atoms()
    for k in range(n):
        w = molecule("H2O")
        w.rotate(rng.uniform(0, 360), rng.normal(size=3))
        w.translate(np.array([k % side, (k // side) % side, k // side**2]) * spacing)
        w.translate(rng.normal(scale=0.1, size=3))
        atoms += w
    return atoms


def water_box(n_side: int = 4, spacing: float = 3.1, seed: int = 0) -> Atoms:
    """Periodic box of n_side³ water molecules (density close to liquid water)."""
    atoms = water_cluster(n_side**3, spacing, seed)
    atoms.cell = np.eye(3) * n_side * spacing
    atoms.pbc = True
    return atoms


def nacl(reps: int = 2) -> Atoms:
    return bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(reps)


def batio3(reps: int = 2, ti_shift: float = 0.1) -> Atoms:
    a = 4.0
    unit = Atoms(
        "BaTiO3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=np.eye(3) * a,
        pbc=True,
    )
    atoms = unit.repeat(reps)
    atoms.positions[atoms.numbers == 22] += [0.0, 0.0, ti_shift]
    return atoms
