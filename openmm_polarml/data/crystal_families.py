"""Teacher set v2 for the ``pbe`` head: crystals by family, stratified by chemistry (``sevenn_l3i5``).

The first teacher subset (``sevenn``, :mod:`~openmm_polarml.data.structures`) rattles, strains by
up to ±4 %, substitutes and vacates seeds drawn uniformly. This one widens the geometry to what a
materials model meets in use and balances the chemistry:

- seeds are drawn by **category** first (:func:`seed_category`: elemental, binary, oxide, halide,
  nitride, other; uniform over the categories present), then uniformly within it, so oxides do
  not crowd out nitrides and halides;
- each candidate is one **family** of :data:`FAMILIES`:

  - ``thermal``: every atom displaced by an Einstein oscillator at a temperature drawn from
    300–2000 K (σ_i = sqrt(k_B T / (m_i ω²)), ω = 2π × :data:`EINSTEIN_THZ` THz), the displacement
    amplitude of a crystal at that temperature without the cost of teacher MD;
  - ``eos``: isotropic strain of ±8 % in length (the equation-of-state range), small rattle;
  - ``shear``: a symmetric strain tensor with deviatoric entries up to ±8 % (elastic range);
  - ``vacancy`` / ``substitute``: the perturbations of the first subset, with a thermal rattle;
    a substituted cell is scaled by the change of the mean covalent radius;
  - ``slab``: a surface slab of a low-index plane ((100), (110), (111) of the seed's cell), at
    least two layers, :data:`SLAB_VACUUM` Å of vacuum on each side, thermal rattle.

Candidates hold at most :data:`~openmm_polarml.data.structures.MAX_ATOMS` atoms (slabs
:data:`SLAB_MAX_ATOMS`) and no two atoms closer than
:data:`~openmm_polarml.data.structures.MIN_DISTANCE_FRACTION` of their covalent radii.
``info["family"]``, ``info["seed_category"]`` and ``info["generator"]`` record what was done.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import surface
from ase.data import atomic_masses, covalent_radii

from openmm_polarml.data import structures
from openmm_polarml.units import AMU_A2_PER_FS2_TO_EV, BOLTZMANN_EV_PER_K

#: family -> weight in a shard
FAMILIES = {
    "thermal": 0.30, "eos": 0.15, "shear": 0.15, "vacancy": 0.08, "substitute": 0.12, "slab": 0.20,
}  # fmt: skip
EINSTEIN_THZ = 8.0  # THz: σ(O, 300 K) = 0.08 Å, near the measured thermal amplitude in oxides
TEMPERATURE_RANGE = (300.0, 2000.0)  # K, thermal family
COLD_RANGE = (50.0, 300.0)  # K, the rattle added to strained, vacated and substituted cells
MAX_STRAIN = 0.08  # eos and shear families (fraction)
SLAB_VACUUM = 6.0  # Å on each side (12 Å between periodic images of the slab)
SLAB_MAX_ATOMS = 64
VACANCY_MIN_ATOMS = 8  # a vacancy is made in a supercell of at least this many atoms
SLAB_PLANES = ((1, 0, 0), (1, 1, 0), (1, 1, 1))
HALOGENS = frozenset({"F", "Cl", "Br", "I"})
CATEGORIES = ("elemental", "binary", "oxide", "halide", "nitride", "other")


def seed_category(atoms: Atoms) -> str:
    """``elemental`` (one element), else ``oxide``/``halide``/``nitride`` by its anion (O; F, Cl,
    Br, I; N; the first that applies), else ``binary`` (two elements) or ``other``."""
    symbols = set(atoms.get_chemical_symbols())
    if len(symbols) == 1:
        return "elemental"
    if "O" in symbols:
        return "oxide"
    if symbols & HALOGENS:
        return "halide"
    if "N" in symbols:
        return "nitride"
    return "binary" if len(symbols) == 2 else "other"


def einstein_sigma(
    numbers: np.ndarray, temperature: float, frequency_thz: float = EINSTEIN_THZ
) -> np.ndarray:
    """Per-atom displacement σ (Å, per Cartesian component) of an Einstein crystal at
    ``temperature`` (K): σ² = k_B T / (m ω²), ω = 2π ``frequency_thz`` (THz)."""
    omega = 2.0 * np.pi * frequency_thz * 1e-3  # rad/fs
    mass = atomic_masses[numbers]  # [n] amu
    return np.sqrt(BOLTZMANN_EV_PER_K * temperature / (mass * AMU_A2_PER_FS2_TO_EV * omega**2))


def thermal_rattle(atoms: Atoms, rng: np.random.Generator, t_range=TEMPERATURE_RANGE) -> str:
    temperature = rng.uniform(*t_range)
    sigma = einstein_sigma(atoms.numbers, temperature)  # [n] Å
    atoms.positions += rng.normal(size=atoms.positions.shape) * sigma[:, None]
    return f"thermal(T={temperature:.0f}K)"


def eos_strain(atoms: Atoms, rng: np.random.Generator) -> str:
    scale = 1.0 + rng.uniform(-MAX_STRAIN, MAX_STRAIN)
    atoms.set_cell(atoms.cell.array * scale, scale_atoms=True)
    return f"eos(scale={scale:.4f})"


def shear_strain(atoms: Atoms, rng: np.random.Generator) -> str:
    eps = rng.uniform(-MAX_STRAIN, MAX_STRAIN, size=(3, 3))
    eps = 0.5 * (eps + eps.T)  # [3, 3] symmetric
    eps -= np.trace(eps) / 3.0 * np.eye(3)  # deviatoric: volume kept to first order
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    return f"shear(max={np.abs(eps).max():.3f})"


def substitute_scaled(atoms: Atoms, rng: np.random.Generator) -> str:
    """A same-group substitution (:func:`~openmm_polarml.data.structures.substitute`), then the
    cell scaled by the ratio of the mean covalent radii after and before, so O→Te or B→Tl does
    not leave the larger atom in the smaller one's site (SevenNet gives 10²–10⁴ eV/Å there)."""
    before = covalent_radii[atoms.numbers].mean()
    step = structures.substitute(atoms, rng)
    scale = covalent_radii[atoms.numbers].mean() / before
    atoms.set_cell(atoms.cell.array * scale, scale_atoms=True)
    return f"{step}+scale({scale:.4f})" if step else ""


def slab(seed: Atoms, rng: np.random.Generator) -> tuple[Atoms, str] | None:
    """A surface slab of ``seed`` (at least two layers, ≤ :data:`SLAB_MAX_ATOMS` atoms), or None."""
    plane = SLAB_PLANES[int(rng.integers(len(SLAB_PLANES)))]
    bulk = Atoms(seed.numbers, seed.positions, cell=seed.cell, pbc=True)
    try:
        one = surface(bulk, plane, 1, vacuum=SLAB_VACUUM, periodic=False)
    except (ValueError, np.linalg.LinAlgError):
        return None
    layers = min(int(SLAB_MAX_ATOMS // max(len(one), 1)), 4)
    if layers < 2:
        return None
    atoms = surface(bulk, plane, int(rng.integers(2, layers + 1)), vacuum=SLAB_VACUUM)
    atoms.pbc = True
    return atoms, f"slab({''.join(map(str, plane))})"


def _one(seed: Atoms, family: str, rng: np.random.Generator) -> Atoms | None:
    cell = Atoms(seed.numbers, seed.positions, cell=seed.cell, pbc=True)
    base = structures._supercell_to(cell, VACANCY_MIN_ATOMS if family == "vacancy" else 4)
    steps = []
    if family == "slab":
        made = slab(base, rng)
        if made is None:
            return None
        base, step = made
        steps.append(step)
    elif family == "eos":
        steps.append(eos_strain(base, rng))
    elif family == "shear":
        steps.append(shear_strain(base, rng))
    elif family == "vacancy":
        steps.append(structures.vacancy(base, rng))
    elif family == "substitute":
        steps.append(substitute_scaled(base, rng))
    cold = family in ("eos", "shear", "vacancy", "substitute")
    steps.append(thermal_rattle(base, rng, COLD_RANGE if cold else TEMPERATURE_RANGE))
    limit = SLAB_MAX_ATOMS if family == "slab" else structures.MAX_ATOMS
    if len(base) > limit or structures.too_close(base) or not all(steps[:-1]):
        return None
    base.wrap()
    base.positions = np.round(base.positions, 8)
    base.info = {
        "family": family,
        "seed_category": seed_category(seed),
        "generator": "+".join(steps),
        "seed_structure": str(seed.info.get("source_id", "")),
        "seed_origin": str(seed.info.get("source_origin", "prototype")),
    }
    return base


def family_candidates(seeds: list[Atoms], n: int, rng: np.random.Generator) -> list[Atoms]:
    """``n`` candidates: family by :data:`FAMILIES` weight, seed category uniform over those
    present, seed uniform within its category (seeds above ``MAX_ATOMS`` are skipped)."""
    pool: dict[str, list[Atoms]] = {}
    for s in seeds:
        if len(s) <= structures.MAX_ATOMS and np.all(s.pbc):
            pool.setdefault(seed_category(s), []).append(s)
    if not pool:
        raise ValueError("no periodic seed crystal with at most MAX_ATOMS atoms")
    categories = [c for c in CATEGORIES if c in pool]
    names = list(FAMILIES)
    weights = np.array([FAMILIES[f] for f in names]) / sum(FAMILIES.values())
    out: list[Atoms] = []
    while len(out) < n:
        family = names[int(rng.choice(len(names), p=weights))]
        members = pool[categories[int(rng.integers(len(categories)))]]
        candidate = _one(members[int(rng.integers(len(members)))], family, rng)
        if candidate is not None:
            out.append(candidate)
    return out
