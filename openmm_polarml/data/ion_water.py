"""Ion–water dissociation curves and bare ions, for GFN2-xTB labels (``xtb_ion_water``).

Why: the ion clusters of :mod:`~openmm_polarml.data.molecules` pack 2–14 randomly oriented waters
around an ion, so the training data never showed one or two waters bound to an ion along their
dissociation curve, nor a bare ion. The models trained on them under-bind Na⁺ to a single water
(the card's probe: −0.70 eV at the minimum against GFN2-xTB's −1.33, −0.11 against −0.41 at 5 Å)
and over-bind Cl⁻ (−0.78 against −0.49).

Each candidate is one of :data:`KINDS`:

- ``ion_water_curve``: a monatomic ion and one water, the water's dipole along the ion–water axis
  (a cation faces the oxygen, an anion one O–H bond), tilted by a Gaussian angle of
  :data:`TILT_DEG` and spun about the axis at random; the ion–O (cation) or ion–H (anion) distance
  is drawn near the minimum (``r0`` × U(0.85, 1.3), :data:`CONTACT_DISTANCE`) or along the tail up
  to :data:`MAX_DISTANCE`;
- ``ion_two_waters``: the same with two waters, their axes at least 60° apart;
- ``bare_ion``: the ion alone (the dissociation limit).

Waters are rattled by 0.02 Å; ions and molecules stay at least :data:`MIN_GAP` apart. Finite, no
field; the charge is the ion's.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from openmm_polarml.data.molecules import ANIONS, CATIONS, WATER

#: ion -> typical ion–O (cations) or ion–H (anions) distance at the binding minimum (Å)
CONTACT_DISTANCE = {
    "Li": 1.85, "Na": 2.2, "K": 2.65, "Mg": 1.95, "Ca": 2.35,
    "F": 1.45, "Cl": 2.1, "Br": 2.3, "I": 2.6,
}  # fmt: skip
#: kind -> weight in a shard
KINDS = {"ion_water_curve": 0.7, "ion_two_waters": 0.22, "bare_ion": 0.08}
MAX_DISTANCE = 7.0  # Å, the far end of the curves (beyond the 5 Å network and split cutoffs)
NEAR_FRACTION = 0.6  # share of distances drawn near the minimum
TILT_DEG = 20.0  # Gaussian tilt of the water's axis (degrees)
MIN_GAP = {"cation_H": 1.7, "anion_O": 2.3, "water_water": 2.4}  # Å
RATTLE = 0.02  # Å


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _tilted(axis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``axis`` turned by a Gaussian angle (:data:`TILT_DEG`) about a random perpendicular."""
    perp = _unit(np.cross(axis, rng.normal(size=3)))
    angle = np.deg2rad(TILT_DEG) * rng.normal()
    return _unit(np.cos(angle) * axis + np.sin(angle) * perp)


def _frame_along(direction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rotation [3, 3] taking the local z axis to ``direction``, spun randomly about it."""
    z = _unit(direction)
    x = _unit(np.cross(z, rng.normal(size=3)))
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)  # columns: local x, y, z in the lab frame


def _distance(ion: str, rng: np.random.Generator) -> float:
    r0 = CONTACT_DISTANCE[ion]
    if rng.random() < NEAR_FRACTION:
        return float(r0 * rng.uniform(0.85, 1.3))
    return float(rng.uniform(1.3 * r0, MAX_DISTANCE))


def place_water(ion: str, direction: np.ndarray, distance: float, rng) -> np.ndarray:
    """``[3, 3]`` positions (Å; O, H, H) of a water bound to an ion at the origin: a cation's
    oxygen at ``distance`` along ``direction`` with the H atoms pointing away, an anion's first H
    at ``distance`` with its O–H bond pointing at the ion (both tilted, :func:`_tilted`)."""
    local = WATER.positions - WATER.positions[0]  # [3, 3] Å, O at the origin
    if ion in CATIONS:  # C2 axis (O -> H midpoint) along +direction: O faces the ion
        bisector = _unit(local[1:].mean(axis=0))  # local +y
        basis = _frame_along(_tilted(direction, rng), rng)
        to_z = _frame_along(bisector, np.random.default_rng(0)).T  # bisector -> z
        positions = local @ to_z.T @ basis.T
        return positions + distance * direction
    oh = _unit(local[1])  # O -> H1
    basis = _frame_along(_tilted(-direction, rng), rng)  # O–H bond points at the ion
    to_z = _frame_along(oh, np.random.default_rng(0)).T
    positions = (local - local[1]) @ to_z.T @ basis.T  # H1 at the origin
    return positions + distance * direction


def _clear(ion: str, waters: list[np.ndarray]) -> bool:
    """Whether the placed waters keep :data:`MIN_GAP` to the ion and to each other."""
    for w in waters:
        d = np.linalg.norm(w, axis=1)  # [3] distances to the ion at the origin
        if ion in CATIONS and d[1:].min() < MIN_GAP["cation_H"]:
            return False
        if ion in ANIONS and d[0] < MIN_GAP["anion_O"]:
            return False
    for a in range(len(waters)):
        for b in range(a + 1, len(waters)):
            gaps = np.linalg.norm(waters[a][:, None] - waters[b][None], axis=-1)
            if gaps.min() < 1.5 or gaps[0, 0] < MIN_GAP["water_water"]:
                return False
    return True


def ion_water_candidate(rng: np.random.Generator) -> Atoms:
    """One candidate of a kind drawn from :data:`KINDS` (see the module docstring)."""
    kinds = sorted(KINDS)
    kind = kinds[int(rng.choice(len(kinds), p=np.array([KINDS[k] for k in kinds]) / 1.0))]
    ions = sorted(CONTACT_DISTANCE)
    ion = ions[int(rng.integers(len(ions)))]
    charge = {**CATIONS, **ANIONS}[ion]
    n_waters = {"bare_ion": 0, "ion_water_curve": 1, "ion_two_waters": 2}[kind]
    for _ in range(200):
        directions = [_unit(rng.normal(size=3)) for _ in range(n_waters)]
        if n_waters == 2 and np.dot(directions[0], directions[1]) > 0.5:  # >= 60° apart
            continue
        distances = [_distance(ion, rng) for _ in range(n_waters)]
        waters = [place_water(ion, d, r, rng) for d, r in zip(directions, distances, strict=True)]
        if not _clear(ion, waters):
            continue
        positions = np.vstack([np.zeros((1, 3))] + waters)  # [1 + 3n, 3] Å
        atoms = Atoms(ion + "OH2" * n_waters, positions=positions)
        if n_waters:
            atoms.positions[1:] += rng.normal(0.0, RATTLE, size=(3 * n_waters, 3))
        atoms.positions = np.round(atoms.positions - atoms.positions.mean(axis=0), 8)
        label = ",".join(f"{r:.2f}A" for r in distances)
        atoms.info = {
            "charge": int(charge),
            "generator": f"{kind}({ion}{',' if label else ''}{label})",
            "kind": kind,
        }
        return atoms
    raise RuntimeError(f"no {kind} candidate for {ion} in 200 draws")


def ion_water_candidates(n: int, rng: np.random.Generator) -> list[Atoms]:
    """``n`` candidates of :func:`ion_water_candidate`."""
    return [ion_water_candidate(rng) for _ in range(n)]
