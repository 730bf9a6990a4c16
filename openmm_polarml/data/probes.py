"""Probe structures of the model card: ion-pair dissociation, far-separated charged clusters and
ion–water binding curves.

All probes are labelled with GFN2-xTB (the ``gfn2`` head's level of theory) by
:func:`openmm_polarml.data.teachers.label`; the model card compares the model's energy curves
against those labels (``examples/foundation_card.py``).

- ``ion_pair``: a gas-phase alkali-halide diatomic (NaCl, LiF, KCl) from 1.8 to 9 Å, neutral.
- ``charged_clusters``: Na⁺(H₂O)₄ and Cl⁻(H₂O)₄, each rigid, with their centres 6–30 Å apart
  (total charge 0), plus each cluster alone (charges +1 and −1) for the separated limit. Far
  apart the interaction must approach the Coulomb law of two unit charges, −14.40 eV·Å / R.
- ``ion_water``: one rigid water (O–H 0.9572 Å, H–O–H 104.52°) and one ion at ion–O distance
  ``r``: Na⁺ on the water's C2 axis on the O side (facing the O lone pairs), 1.7–5 Å, and Cl⁻ on
  the line of one O–H bond beyond the H (a linear Cl⁻···H–O hydrogen bond), 2.6–6 Å; plus the
  ion alone and the water alone (``part`` ``ion`` / ``water``) for the separated limit, so the
  binding energy is E(pair) − E(ion) − E(water). GFN2-xTB's SCF (tblite 0.8.0, 250 cycles) does
  not converge for Na⁺–OH₂ at most distances between 4.25 and 6 Å, so the Na⁺ grid jumps from
  4.2 Å to 5.0 Å, a distance where it does.

- ``hh_contact``: a rigid water whose H points along a methyl C–H of propane or ethanol (neither
  among the molecules of the contact training pairs, :mod:`~openmm_polarml.data.contacts`),
  collinear C–H···H–O, at H···H 0.9–4 Å, plus each molecule alone: the short-range H···H
  repulsion that the stage-3/4 models lacked.

:func:`probe_key` names a probe structure by its ``info`` (probe, pair, part, ion, r), so the
stored labels can be matched to :func:`probe_structures` and only missing ones labelled.
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
#: Å, ion–O distances of the ion–water curves (denser around each GFN2-xTB minimum)
ION_WATER_DISTANCES = {
    "Na": (
        1.7,
        1.8,
        1.9,
        2.0,
        2.05,
        2.1,
        2.15,
        2.2,
        2.25,
        2.3,
        2.4,
        2.5,
        2.6,
        2.8,
        3.0,
        3.2,
        3.5,
        3.8,
        4.2,
        5.0,
    ),
    "Cl": (
        2.6,
        2.7,
        2.8,
        2.9,
        2.95,
        3.0,
        3.05,
        3.1,
        3.15,
        3.2,
        3.3,
        3.4,
        3.5,
        3.7,
        4.0,
        4.4,
        4.8,
        5.2,
        5.6,
        6.0,
    ),
}
#: e, charge of each ion of the ion–water curves
ION_WATER_CHARGES = {"Na": 1, "Cl": -1}
#: Å and degrees, the rigid water of the ion–water curves
WATER_OH, WATER_HOH = 0.9572, 104.52


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


def rigid_water() -> Atoms:
    """H₂O with O at the origin and the H atoms at +y in the xy plane (C2 axis along +y)."""
    half = np.deg2rad(WATER_HOH) / 2
    h = WATER_OH * np.array([[np.sin(half), np.cos(half), 0.0], [-np.sin(half), np.cos(half), 0.0]])
    return Atoms("OH2", positions=np.vstack([np.zeros(3), h]))  # [3, 3] Å


def ion_direction(ion: str, water: Atoms) -> np.ndarray:
    """Unit vector from the water's O to the ion: −C2 axis (Na), along the first O–H bond (Cl)."""
    if ion == "Na":
        return np.array([0.0, -1.0, 0.0])  # the H atoms sit at +y
    if ion == "Cl":
        oh = water.positions[1] - water.positions[0]
        return oh / np.linalg.norm(oh)
    raise ValueError(f"ion_water_curve: no geometry for ion {ion!r} (Na, Cl)")


def ion_water_curve(ion: str, distances=None) -> list[Atoms]:
    """The ion alone, the water alone, then ion + water at ion–O ``distances`` (Å).

    Parameters
    ----------
    ion : str
        ``"Na"`` (Na⁺ on the C2 axis facing the O lone pairs) or ``"Cl"`` (Cl⁻ on the line of
        one O–H bond, beyond the H).
    distances : sequence of float, optional
        Ion–O distances in Å; :data:`ION_WATER_DISTANCES` of ``ion`` by default.

    Returns
    -------
    list of Atoms
        ``info``: ``probe="ion_water"``, ``ion``, ``part`` (``ion``, ``water``, ``pair``),
        ``charge`` (e) and, for the pairs, ``r`` (ion–O distance, Å). Pair atoms: O, H, H, ion.
    """
    water = rigid_water()
    direction = ion_direction(ion, water)  # [3]
    charge = ION_WATER_CHARGES[ion]
    alone = Atoms(ion, positions=[[0.0, 0.0, 0.0]])
    alone.info = {"probe": "ion_water", "ion": ion, "part": "ion", "charge": charge}
    solvent = water.copy()
    solvent.info = {"probe": "ion_water", "ion": ion, "part": "water", "charge": 0}
    frames = [alone, solvent]
    for r in ION_WATER_DISTANCES[ion] if distances is None else distances:
        pair = water + Atoms(ion, positions=[float(r) * direction])
        pair.info = {
            "probe": "ion_water",
            "ion": ion,
            "part": "pair",
            "r": float(r),
            "charge": charge,
        }
        frames.append(pair)
    return frames


#: g2 molecules whose methyl H meets a water H in the ``hh_contact`` probe
HH_CONTACT_MOLECULES = ("C3H8", "CH3CH2OH")
#: Å, the H···H distances of the ``hh_contact`` probe
HH_CONTACT_DISTANCES = (0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.4, 3.0, 4.0)


def _methyl_hydrogen(molecule: Atoms) -> tuple[int, int]:
    """(C, H) of the first C–H bond of the carbon with the most hydrogens."""
    d = molecule.get_all_distances()
    carbons = [i for i, z in enumerate(molecule.numbers) if z == 6]
    hydrogens_of = {
        c: [h for h in np.flatnonzero(molecule.numbers == 1) if d[c, h] < 1.2] for c in carbons
    }
    carbon = max(carbons, key=lambda c: len(hydrogens_of[c]))
    return carbon, int(hydrogens_of[carbon][0])


def _aligning_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation matrix [3, 3] turning unit vector ``a`` onto unit vector ``b`` (not antiparallel)."""
    k = np.cross(a, b)
    s, c = np.linalg.norm(k), float(np.dot(a, b))
    if s < 1e-12:
        return np.eye(3)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + cross + cross @ cross * ((1 - c) / s**2)


def hh_contact_curve(name: str, distances=HH_CONTACT_DISTANCES) -> list[Atoms]:
    """The g2 molecule ``name`` alone, the water alone, then both with a water H at H···H
    ``distances`` (Å) from a methyl H, collinear C–H···H–O.

    Returns
    -------
    list of Atoms
        ``info``: ``probe="hh_contact"``, ``pair`` (the molecule), ``part`` (``molecule``,
        ``water``, ``pair``), ``charge`` 0, ``molecule_atoms`` and, for the pairs, ``r`` (Å).
        Pair atoms: the molecule's, then O, H, H.
    """
    from ase.collections import g2

    molecule = g2[name].copy()
    carbon, hydrogen = _methyl_hydrogen(molecule)
    axis = molecule.positions[hydrogen] - molecule.positions[carbon]
    axis /= np.linalg.norm(axis)  # [3] C→H
    water = rigid_water()
    oh = water.positions[1] - water.positions[0]
    turn = _aligning_rotation(oh / np.linalg.norm(oh), -axis)  # water H1 points back at the H
    local = (water.positions - water.positions[1]) @ turn.T  # [3, 3] Å, H1 at the origin
    base = {"probe": "hh_contact", "pair": name, "charge": 0, "molecule_atoms": len(molecule)}
    alone = Atoms(molecule.numbers, positions=molecule.positions)
    alone.info = {**base, "part": "molecule"}
    solvent = water.copy()
    solvent.info = {**base, "part": "water"}
    frames = [alone, solvent]
    for r in distances:
        pair = alone + Atoms(
            water.numbers, positions=local + molecule.positions[hydrogen] + r * axis
        )
        pair.info = {**base, "part": "pair", "r": float(r)}
        frames.append(pair)
    return frames


def probe_key(atoms: Atoms) -> tuple:
    """(probe, pair, part, ion, r rounded to 10⁻⁶ Å or None): names a probe structure."""
    info = atoms.info
    r = info.get("r")
    names = tuple(str(info.get(k, "")) for k in ("probe", "pair", "part", "ion"))
    return names + (None if r is None else round(float(r), 6),)


def probe_structures() -> list[Atoms]:
    """All probe structures: the ion-pair curves, the charged clusters, the ion–water curves, the
    H···H contact curves."""
    frames = [a for cation, anion in ION_PAIRS for a in ion_pair_curve(cation, anion)]
    frames += charged_clusters()
    frames += [a for ion in ION_WATER_DISTANCES for a in ion_water_curve(ion)]
    return frames + [a for name in HH_CONTACT_MOLECULES for a in hh_contact_curve(name)]
