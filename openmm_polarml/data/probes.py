"""Probe structures of the model card: ion-pair dissociation and far-separated charged clusters.

Both probes are labelled with GFN2-xTB (the ``gfn2`` head's level of theory) by
:func:`openmm_polarml.data.teachers.label`; the model card compares the model's energy curves
against those labels (``examples/foundation_card.py``).

- ``ion_pair``: a gas-phase alkali-halide diatomic (NaCl, LiF, KCl) from 1.8 to 9 Å, neutral.
- ``charged_clusters``: Na⁺(H₂O)₄ and Cl⁻(H₂O)₄, each rigid, with their centres 6–30 Å apart
  (total charge 0), plus each cluster alone (charges +1 and −1) for the separated limit. Far
  apart the interaction must approach the Coulomb law of two unit charges, −14.40 eV·Å / R.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from openmm_polarml.data.molecules import WATER, pack

#: Å, the gas-phase ion-pair curve
ION_PAIR_DISTANCES = (
    1.4,
    1.6,
    1.8,
    2.0,
    2.2,
    2.4,
    2.6,
    2.8,
    3.0,
    3.3,
    3.7,
    4.2,
    5.0,
    6.0,
    7.5,
    9.0,
)
ION_PAIRS = (("Na", "Cl"), ("Li", "F"), ("K", "Cl"))
#: Å, centre-to-centre separations of the two charged clusters
CLUSTER_SEPARATIONS = (6.0, 7.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0)
CLUSTER_WATERS = 4


def ion_pair_curve(cation: str, anion: str, distances=ION_PAIR_DISTANCES) -> list[Atoms]:
    """Neutral gas-phase ``cation``–``anion`` diatomics at ``distances`` (Å)."""
    frames = []
    for r in distances:
        atoms = Atoms(cation + anion, positions=[[0.0, 0.0, 0.0], [float(r), 0.0, 0.0]])
        atoms.info = {"probe": "ion_pair", "pair": cation + anion, "r": float(r), "charge": 0}
        frames.append(atoms)
    return frames


def solvated_ion(symbol: str, n_waters: int = CLUSTER_WATERS, seed: int = 0) -> Atoms:
    """One ion and ``n_waters`` waters packed around it (seeded), centred at the origin."""
    rng = np.random.default_rng(seed)
    radius = max(2.5, (3 * 30.0 * (n_waters + 1) / (4 * np.pi)) ** (1 / 3))
    cluster = pack([Atoms(symbol)] + [WATER] * n_waters, rng, radius=radius)
    cluster.positions -= cluster.positions[0]  # the ion at the origin
    return cluster


def charged_clusters(separations=CLUSTER_SEPARATIONS, n_waters: int = CLUSTER_WATERS) -> list:
    """Na⁺(H₂O)ₙ alone, Cl⁻(H₂O)ₙ alone, then both with the ions ``separations`` Å apart."""
    cation, anion = solvated_ion("Na", n_waters, 0), solvated_ion("Cl", n_waters, 1)
    cation.info = {"probe": "charged_clusters", "part": "cation", "charge": 1}
    anion.info = {"probe": "charged_clusters", "part": "anion", "charge": -1}
    frames = [cation, anion]
    for r in separations:
        shifted = anion.copy()
        shifted.positions += [float(r), 0.0, 0.0]
        pair = cation.copy() + shifted
        pair.info = {"probe": "charged_clusters", "part": "pair", "r": float(r), "charge": 0}
        frames.append(pair)
    return frames


def probe_structures() -> list[Atoms]:
    """All probe structures: the ion-pair curves, then the charged clusters."""
    frames = [a for cation, anion in ION_PAIRS for a in ion_pair_curve(cation, anion)]
    return frames + charged_clusters()
