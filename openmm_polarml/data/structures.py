"""Seeded candidate crystals for teacher labels: perturbations of real structures near equilibrium.

Every candidate comes from a seed crystal (a real DFT frame of the ``dft`` subset, or a textbook
prototype across the periodic table) by one or two of: a Gaussian rattle, a homogeneous strain,
a same-group element substitution, a vacancy. Candidates with atoms closer than
:data:`MIN_DISTANCE_FRACTION` of their covalent-radius sum are redrawn. ``info["generator"]``
records what was done. All randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, chemical_symbols, covalent_radii, reference_states

MIN_DISTANCE_FRACTION = 0.6
MAX_ATOMS = 48
#: Po–Ra: no crystals of them in the teachers' training sets (SevenNet-0 lacks Z = 84–88)
RADIOACTIVE_GAP = range(84, 89)

#: same-group neighbours for substitutions (main groups and the 3d/4d/5d columns)
GROUPS = (
    ("Li", "Na", "K", "Rb", "Cs"),
    ("Be", "Mg", "Ca", "Sr", "Ba"),
    ("B", "Al", "Ga", "In", "Tl"),
    ("C", "Si", "Ge", "Sn", "Pb"),
    ("N", "P", "As", "Sb", "Bi"),
    ("O", "S", "Se", "Te"),
    ("F", "Cl", "Br", "I"),
    ("Sc", "Y", "La", "Lu"),
    ("Ti", "Zr", "Hf"),
    ("V", "Nb", "Ta"),
    ("Cr", "Mo", "W"),
    ("Mn", "Tc", "Re"),
    ("Fe", "Ru", "Os"),
    ("Co", "Rh", "Ir"),
    ("Ni", "Pd", "Pt"),
    ("Cu", "Ag", "Au"),
    ("Zn", "Cd", "Hg"),
    ("Ce", "Pr", "Nd", "Sm", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb"),
)
_GROUP_OF = {symbol: group for group in GROUPS for symbol in group}

#: ionic/oxide prototypes the model must hold (symbols, ase.build.bulk arguments)
PROTOTYPES = (
    ("NaCl", dict(crystalstructure="rocksalt", a=5.64, cubic=True)),
    ("LiF", dict(crystalstructure="rocksalt", a=4.03, cubic=True)),
    ("KCl", dict(crystalstructure="rocksalt", a=6.29, cubic=True)),
    ("MgO", dict(crystalstructure="rocksalt", a=4.21, cubic=True)),
    ("CaF2", dict(crystalstructure="fluorite", a=5.46, cubic=True)),
    ("CsCl", dict(crystalstructure="cesiumchloride", a=4.12)),
    ("ZnS", dict(crystalstructure="zincblende", a=5.41, cubic=True)),
    ("GaAs", dict(crystalstructure="zincblende", a=5.65, cubic=True)),
)
PEROVSKITES = (("Ba", "Ti", 4.00), ("Sr", "Ti", 3.905), ("Ca", "Ti", 3.84), ("K", "Nb", 4.00))


def perovskite(a_site: str, b_site: str, a: float) -> Atoms:
    """Cubic ABO3 perovskite (5 atoms), lattice constant ``a`` in Å."""
    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return Atoms([a_site, b_site, "O", "O", "O"], scaled_positions=frac, cell=[a, a, a], pbc=True)


def elemental_prototypes() -> list[Atoms]:
    """``ase.build.bulk`` reference crystal of every element ASE has one for (solids only)."""
    out = []
    for z in range(1, 95):
        if z in RADIOACTIVE_GAP:
            continue
        state = reference_states[z]
        if not state or state.get("symmetry") not in ("fcc", "bcc", "hcp", "diamond", "sc"):
            continue
        try:
            out.append(bulk(chemical_symbols[z]))
        except (ValueError, KeyError, RuntimeError):
            continue
    return out


def prototype_crystals() -> list[Atoms]:
    """Elemental reference crystals, ionic binaries and cubic perovskites, with ``source_id``."""
    crystals = elemental_prototypes()
    crystals += [bulk(name, **kw) for name, kw in PROTOTYPES]
    crystals += [perovskite(*args) for args in PEROVSKITES]
    for atoms in crystals:
        atoms.info = {"source_id": f"prototype:{atoms.get_chemical_formula()}"}
    return crystals


def close_atoms(atoms: Atoms, fraction: float = MIN_DISTANCE_FRACTION) -> np.ndarray:
    """``[n]`` bool: atoms with a partner (minimum image) closer than ``fraction`` × the sum of
    their covalent radii."""
    from ase.geometry import get_distances

    if len(atoms) < 2:
        return np.zeros(len(atoms), dtype=bool)
    _, dist = get_distances(atoms.positions, cell=atoms.cell, pbc=atoms.pbc)  # [n, n] Å
    radii = covalent_radii[atoms.numbers]
    limit = fraction * (radii[:, None] + radii[None, :])  # [n, n] Å
    np.fill_diagonal(dist, np.inf)
    return np.any(dist < limit, axis=1)


def too_close(atoms: Atoms, fraction: float = MIN_DISTANCE_FRACTION) -> bool:
    """True when two atoms (minimum image) are closer than ``fraction`` × covalent radii sum."""
    return bool(close_atoms(atoms, fraction).any())


def _supercell_to(atoms: Atoms, min_atoms: int) -> Atoms:
    reps = [1, 1, 1]
    axis = 0
    while len(atoms) * int(np.prod(reps)) < min_atoms:
        reps[axis % 3] += 1
        axis += 1
    return atoms.repeat(reps) if reps != [1, 1, 1] else atoms.copy()


def rattle(atoms: Atoms, rng: np.random.Generator) -> str:
    sigma = rng.uniform(0.01, 0.10)
    atoms.positions += rng.normal(0.0, sigma, size=atoms.positions.shape)
    return f"rattle(sigma={sigma:.3f}A)"


def strain(atoms: Atoms, rng: np.random.Generator) -> str:
    eps = rng.uniform(-0.04, 0.04, size=(3, 3))
    eps = 0.5 * (eps + eps.T)  # [3, 3] symmetric strain
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    return f"strain(max={np.abs(eps).max():.3f})"


def substitute(atoms: Atoms, rng: np.random.Generator) -> str:
    symbols = atoms.get_chemical_symbols()
    candidates = sorted({s for s in symbols if s in _GROUP_OF})
    if not candidates:
        return ""
    old = candidates[rng.integers(len(candidates))]
    choices = [s for s in _GROUP_OF[old] if s != old]
    new = choices[rng.integers(len(choices))]
    mask = np.array([s == old for s in symbols])
    if rng.random() < 0.5 and mask.sum() > 1:  # partial substitution: a random half
        mask &= rng.random(len(atoms)) < 0.5
    numbers = atoms.numbers.copy()
    numbers[mask] = atomic_numbers[new]
    atoms.numbers = numbers
    return f"substitute({old}->{new},{int(mask.sum())})" if mask.any() else ""


def vacancy(atoms: Atoms, rng: np.random.Generator) -> str:
    if len(atoms) < 6:
        return ""
    index = int(rng.integers(len(atoms)))
    symbol = atoms[index].symbol
    del atoms[index]
    return f"vacancy({symbol})"


OPERATIONS = {"rattle": rattle, "strain": strain, "substitute": substitute, "vacancy": vacancy}


def perturbed_crystal(seed: Atoms, rng: np.random.Generator, tries: int = 20) -> Atoms | None:
    """One candidate from ``seed``: rattle always, plus strain/substitution/vacancy at random.

    Returns None when every try put atoms too close together.
    """
    for _ in range(tries):
        atoms = _supercell_to(Atoms(seed.numbers, seed.positions, cell=seed.cell, pbc=True), 4)
        steps = []
        for name in ("strain", "substitute", "vacancy"):
            if rng.random() < {"strain": 0.5, "substitute": 0.35, "vacancy": 0.2}[name]:
                steps.append(OPERATIONS[name](atoms, rng))
        steps.append(rattle(atoms, rng))
        if not too_close(atoms):
            atoms.wrap()
            atoms.positions = np.round(atoms.positions, 8)
            atoms.info["generator"] = "+".join(s for s in steps if s)
            atoms.info["seed_structure"] = str(seed.info.get("source_id", ""))
            atoms.info["seed_origin"] = str(seed.info.get("source_origin", "prototype"))
            return atoms
    return None


def crystal_candidates(seeds: list[Atoms], n: int, rng: np.random.Generator) -> list[Atoms]:
    """``n`` candidates from seeds drawn uniformly (seeds above :data:`MAX_ATOMS` are skipped)."""
    pool = [s for s in seeds if len(s) <= MAX_ATOMS and np.all(s.pbc)]
    out: list[Atoms] = []
    while len(out) < n:
        candidate = perturbed_crystal(pool[int(rng.integers(len(pool)))], rng)
        if candidate is not None:
            out.append(candidate)
    return out
