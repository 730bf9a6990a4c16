"""Short intermolecular contacts of small-molecule pairs, for GFN2-xTB labels (``xtb_dimer_contacts``).

Why: every packed cluster and box of :mod:`~openmm_polarml.data.molecules` keeps atoms of
different molecules at least 1.5 Å apart when one is a hydrogen (2.5 Å between heavy atoms), so
the training data never showed the network what lies closer. The stage-3 and stage-4 models
have no H···H repulsion there: a water H pushed to 1.0 Å from a methyl H of ethane costs
+0.86 eV in GFN2-xTB and −0.13 eV in the stage-4 model, and in MD of solvated alanine dipeptide
the stage-4 model bound waters to methyl hydrogens at H···H 0.9–1.1 Å.

Each candidate is two molecules (:data:`MOLECULES`; water is one of the two with probability
:data:`WATER_PROBABILITY`) with one intermolecular pair placed at a drawn distance
(:data:`CONTACTS`: H···H, H···heavy atom, heavy···heavy). The second molecule, randomly
oriented, sits outside the first: its contact atom at ``a + r·d`` with ``d`` the first atom's
direction from its molecule's centre (tilted up to ~35°), its centre farther out along ``d``.
The placed pair is the closest intermolecular pair (others at least :data:`MARGIN` farther;
drawn again otherwise). Both molecules are rattled by 0.02 Å. Neutral, finite, no field.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.collections import g2

from openmm_polarml.data.molecules import rotation

#: g2 molecules paired (hydrocarbons, alcohols, amines, carbonyls, ethers, nitrile, water)
MOLECULES = (
    "H2O", "CH4", "C2H6", "C2H4", "C6H6", "CH3OH", "NH3", "CH3CN", "HCOOCH3", "CH3OCH3",
    "CH3COCH3", "CH3CHO", "H2CO", "HCOOH",
)  # fmt: skip
#: probability that one of the two molecules is water
WATER_PROBABILITY = 0.5
#: contact kind -> (first atom is H, second atom is H, distance range in Å, weight)
CONTACTS = {
    "HH": (True, True, (0.9, 2.4), 0.5),
    "HX": (True, False, (1.1, 2.6), 0.3),
    "XX": (False, False, (2.0, 3.2), 0.2),
}
#: every other intermolecular pair is at least this much farther than the placed one (Å)
MARGIN = 0.1
RATTLE = 0.02  # Å


def _pick_atom(mol: Atoms, hydrogen: bool, rng: np.random.Generator) -> int | None:
    """A random hydrogen (or heavy atom) of ``mol``; None when it has none."""
    choices = np.flatnonzero((mol.numbers == 1) == hydrogen)
    return None if len(choices) == 0 else int(rng.choice(choices))


def _outward(mol: Atoms, atom: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vector from ``mol``'s centre through ``atom``, tilted by a random ~0.35 rad."""
    d = mol.positions[atom] - mol.positions.mean(axis=0)
    if np.linalg.norm(d) < 1e-6:
        d = rng.normal(size=3)
    d = d / np.linalg.norm(d) + 0.35 * rng.normal(size=3) / np.sqrt(3)
    return d / np.linalg.norm(d)


def _place(first: Atoms, second: Atoms, kind: str, rng: np.random.Generator):
    """``(pair, a, b, r)`` with ``second`` placed so that atoms ``a`` (of ``first``) and ``b`` (of
    ``second``, index in the pair) are ``r`` Å apart and the closest intermolecular pair; None
    when this draw fails."""
    first_h, second_h, (lo, hi), _ = CONTACTS[kind]
    a, b = _pick_atom(first, first_h, rng), _pick_atom(second, second_h, rng)
    if a is None or b is None:
        return None
    r = rng.uniform(lo, hi)
    d = _outward(first, a, rng)
    local = (second.positions - second.positions[b]) @ rotation(rng).T  # [m, 3] Å, b at 0
    if np.dot(local.mean(axis=0), d) <= 0.0:  # the second molecule must lie beyond its atom
        local = local - 2.0 * np.outer(local @ d, d)  # mirror it through the plane normal to d
        # a mirror changes chirality; none of MOLECULES is chiral
    positions = local + first.positions[a] + r * d  # [m, 3] Å
    gaps = np.linalg.norm(first.positions[:, None] - positions[None], axis=-1)  # [n, m] Å
    gaps[a, b] = np.inf
    if gaps.min() < r + MARGIN:
        return None
    pair = first + Atoms(second.numbers, positions=positions)
    return pair, a, len(first) + b, r


def contact_candidate(rng: np.random.Generator) -> Atoms:
    """One rattled molecule pair with a placed short contact (see the module docstring)."""
    kinds = sorted(CONTACTS)
    weights = np.array([CONTACTS[k][3] for k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]  # kept over redraws
    for _ in range(200):
        names = [str(rng.choice(MOLECULES)) for _ in range(2)]
        if rng.random() < WATER_PROBABILITY:
            names[int(rng.integers(2))] = "H2O"
        first, second = g2[names[0]].copy(), g2[names[1]].copy()
        placed = _place(first, second, kind, rng)
        if placed is None:
            continue
        pair, a, b, r = placed
        pair.positions += rng.normal(0.0, RATTLE, size=pair.positions.shape)
        pair.positions = np.round(pair.positions - pair.positions.mean(axis=0), 8)
        label = f"{names[0]}:{pair.get_chemical_symbols()[a]}{a}-{names[1]}:"
        pair.info = {
            "charge": 0,
            "generator": f"contact({label}{pair.get_chemical_symbols()[b]}{b},{r:.2f}A)",
            "kind": f"contact_{kind}",
            "first_molecule_atoms": len(first),
        }
        return pair
    raise RuntimeError("no contact candidate in 200 draws")


def contact_candidates(n: int, rng: np.random.Generator) -> list[Atoms]:
    """``n`` candidates of :func:`contact_candidate`."""
    return [contact_candidate(rng) for _ in range(n)]
