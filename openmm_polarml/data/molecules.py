"""Seeded candidate molecules, clusters and boxes for GFN2-xTB labels.

Kinds (see :data:`KINDS` for their weights in a shard):

- ``g2``: the ASE g2 set, rattled; ``stretched``: one X–H or X–Y bond pulled to 1.1–1.9× (reactive);
- ``dimer``: s22 dimers at 0.9–1.6× their separation; ``diatomic``: 0.75–2.2× the covalent sum;
- ``water_cluster``: 2–16 waters; ``water_box``: 8–16 waters in a periodic cube at ~1 g/cm³;
- ``ion_cluster``: one ion (monatomic or molecular: OH⁻, H3O⁺, NH4⁺, NO3⁻, ClO4⁻, SO4²⁻, BF4⁻,
  PF6⁻, CO3²⁻) with 2–14 waters; ``ion_pair``: a neutral salt pair at 2–8 Å with 0–10 waters;
- ``electrolyte``: g2 carbonyl/ether/nitrile solvents, alone, paired, or around Li⁺/Na⁺;
- ``peptide``: alanine dipeptide (openmmtools' vacuum geometry), rattled;
- ``proton``: Zundel H5O2⁺ with the proton along O–O, and H3O⁺/OH⁻ pairs (proton transfer).

Neutral finite candidates get, with probability :data:`FIELD_PROBABILITY`, a homogeneous field
of random direction and magnitude up to :data:`MAX_FIELD` V/Å (``info["external_field"]``).
Cluster candidates ask the worker for a short GFN2 relaxation (``info["relax_steps"]``) whose
snapshots become frames, so the set spans random packings down to near-minimum structures.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.collections import g2, s22
from ase.data import covalent_radii

FIELD_PROBABILITY = 0.35
MAX_FIELD = 0.5  # V/Å
WATER = Atoms("OH2", positions=[[0, 0, 0], [0.7572, 0.5865, 0], [-0.7572, 0.5865, 0]])
SOLVENTS = ("CH3CN", "HCOOCH3", "CH3OCH3", "CH3COCH3", "CH3CHO", "H2CO", "CH3OH", "HCOOH")
CATIONS = {"Li": 1, "Na": 1, "K": 1, "Mg": 2, "Ca": 2}
ANIONS = {"F": -1, "Cl": -1, "Br": -1, "I": -1}
SALTS = (("Na", "Cl"), ("Li", "F"), ("K", "Cl"), ("Li", "Cl"), ("Na", "F"), ("K", "Br"))
_TETRA = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3)
_OCTA = np.vstack([np.eye(3), -np.eye(3)])
_TRIG = np.array([[1, 0, 0], [-0.5, np.sqrt(3) / 2, 0], [-0.5, -np.sqrt(3) / 2, 0]])


def _star(center: str, ligand: str, directions: np.ndarray, bond: float) -> Atoms:
    positions = np.vstack([np.zeros(3), bond * directions])  # [1 + k, 3] Å
    return Atoms(center + ligand * len(directions), positions=positions)


def _pyramid(center: str, bond: float) -> Atoms:
    theta = np.deg2rad(110.0)
    phis = np.deg2rad([0.0, 120.0, 240.0])
    dirs = np.stack([np.sin(theta) * np.cos(phis), np.sin(theta) * np.sin(phis)], axis=1)
    dirs = np.hstack([dirs, np.full((3, 1), np.cos(theta))])  # [3, 3]
    return _star(center, "H", dirs, bond)


def molecular_ions() -> dict[str, tuple[Atoms, int]]:
    """Ideal-geometry molecular ions and their charges (e)."""
    return {
        "OH-": (Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.97]]), -1),
        "H3O+": (_pyramid("O", 0.98), 1),
        "NH4+": (_star("N", "H", _TETRA, 1.03), 1),
        "NO3-": (_star("N", "O", _TRIG, 1.25), -1),
        "CO3--": (_star("C", "O", _TRIG, 1.29), -2),
        "ClO4-": (_star("Cl", "O", _TETRA, 1.45), -1),
        "SO4--": (_star("S", "O", _TETRA, 1.49), -2),
        "BF4-": (_star("B", "F", _TETRA, 1.40), -1),
        "PF6-": (_star("P", "F", _OCTA, 1.60), -1),
    }


def rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniform random rotation matrix [3, 3] (from a normalised Gaussian quaternion)."""
    quaternion = rng.normal(size=4)
    w, x, y, z = quaternion / np.linalg.norm(quaternion)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _min_separation(a: int, b: int) -> float:
    """Closest allowed distance (Å) between atoms of different molecules with numbers a, b."""
    if a == 1 or b == 1:
        return max(1.5, 1.1 * (covalent_radii[a] + covalent_radii[b]))
    if a in (3, 11, 12, 19, 20) or b in (3, 11, 12, 19, 20):  # metal cations: short M–O/M–X
        return 1.9
    return 2.5


def _fits(placed: Atoms, new: np.ndarray, numbers: np.ndarray, cell=None) -> bool:
    if len(placed) == 0:
        return True
    delta = new[:, None, :] - placed.positions[None, :, :]  # [k, n, 3] Å
    if cell is not None:
        delta -= cell * np.round(delta / cell)
    dist = np.linalg.norm(delta, axis=-1)  # [k, n]
    limit = np.array([[_min_separation(a, b) for b in placed.numbers] for a in numbers])
    return bool(np.all(dist >= limit))


def pack(molecules: list[Atoms], rng: np.random.Generator, radius=None, box=None) -> Atoms | None:
    """Place molecules one by one (random orientation) in a sphere of ``radius`` Å around the
    origin or a periodic cube of edge ``box`` Å; the first molecule sits at the centre of a
    sphere. None when a molecule found no room in 200 tries."""
    out = Atoms()
    for k, mol in enumerate(molecules):
        local = mol.positions - mol.positions.mean(axis=0)  # [m, 3] Å
        for _ in range(200):
            if box is not None:
                centre = rng.uniform(0.0, box, size=3)
            elif k == 0:
                centre = np.zeros(3)
            else:
                direction = rng.normal(size=3)
                centre = radius * rng.random() ** (1 / 3) * direction / np.linalg.norm(direction)
            trial = local @ rotation(rng).T + centre  # [m, 3] Å
            if _fits(out, trial, mol.numbers, box):
                out += Atoms(mol.numbers, positions=trial)
                break
        else:
            return None
    if box is not None:
        out.set_cell([box, box, box])
        out.pbc = True
        out.wrap()
    return out


def _sphere_radius(n_waters: int) -> float:
    return max(2.5, (3 * 30.0 * n_waters / (4 * np.pi)) ** (1 / 3))  # 30 Å³ per water


def water_cluster(rng):
    n = int(rng.integers(2, 17))
    return pack([WATER] * n, rng, radius=_sphere_radius(n)), 0, f"water_cluster({n})"


def water_box(rng):
    n = int(rng.integers(8, 17))
    edge = (n * 29.9) ** (1 / 3)  # 1 g/cm³: 29.9 Å³ per water
    return pack([WATER] * n, rng, box=edge), 0, f"water_box({n},L={edge:.2f}A)"


def ion_cluster(rng):
    molecular = molecular_ions()
    simple = {**CATIONS, **ANIONS}
    names = sorted(simple) + sorted(molecular)
    name = names[int(rng.integers(len(names)))]
    ion, charge = (Atoms(name), simple[name]) if name in simple else molecular[name]
    n = int(rng.integers(2, 15))
    cluster = pack([ion] + [WATER] * n, rng, radius=_sphere_radius(n + 1))
    return cluster, charge, f"ion_cluster({name},{n})"


def ion_pair(rng):
    cation, anion = SALTS[int(rng.integers(len(SALTS)))]
    separation = rng.uniform(2.0, 8.0)
    pair = Atoms(cation + anion, positions=[[0, 0, 0], [separation, 0, 0]])
    n = int(rng.integers(0, 11))
    cluster = pack([pair] + [WATER] * n, rng, radius=_sphere_radius(n) + separation / 2)
    return cluster, 0, f"ion_pair({cation}{anion},r={separation:.2f}A,{n})"


def electrolyte(rng):
    solvent = g2[SOLVENTS[int(rng.integers(len(SOLVENTS)))]]
    mode = int(rng.integers(3))
    if mode == 0:
        return solvent.copy(), 0, f"electrolyte({solvent.get_chemical_formula()})"
    if mode == 1:
        dimer = pack([solvent, solvent], rng, radius=4.0)
        return dimer, 0, f"electrolyte_dimer({solvent.get_chemical_formula()})"
    ion = "Li" if rng.random() < 0.5 else "Na"
    n = int(rng.integers(1, 4))
    cluster = pack([Atoms(ion)] + [solvent] * n, rng, radius=3.0 + n)
    return cluster, 1, f"electrolyte_ion({ion},{solvent.get_chemical_formula()},{n})"


def g2_molecule(rng):
    names = sorted(g2.names)
    name = names[int(rng.integers(len(names)))]
    return g2[name].copy(), 0, f"g2({name})"


def stretched(rng):
    atoms, _, label = g2_molecule(rng)
    from ase.neighborlist import natural_cutoffs, neighbor_list

    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=1.15))
    if len(i) == 0:
        return atoms, 0, label
    k = int(rng.integers(len(i)))
    a, b = int(i[k]), int(j[k])
    factor = rng.uniform(1.1, 1.9)
    bond = atoms.positions[b] - atoms.positions[a]
    atoms.positions[b] = atoms.positions[a] + factor * bond  # moves atom b alone
    return atoms, 0, f"stretched({label},{atoms[a].symbol}-{atoms[b].symbol}x{factor:.2f})"


def dimer(rng):
    names = sorted(s22.names)
    name = names[int(rng.integers(len(names)))]
    atoms = s22[name].copy()
    from openmm_polarml.pqeq.charge_groups import molecule_labels  # the charge model's bond rule

    labels = molecule_labels(atoms)  # s22 holds no ion metals: plain 1.2x covalent bonds
    second = labels != labels[0]  # [n] atoms not bonded to atom 0
    shift = atoms.positions[second].mean(axis=0) - atoms.positions[~second].mean(axis=0)
    factor = rng.uniform(0.9, 1.6)
    atoms.positions[second] += (factor - 1.0) * shift
    return atoms, 0, f"s22({name},x{factor:.2f})"


def diatomic(rng):
    pairs = ("HH", "NN", "OO", "FF", "HF", "HCl", "CO", "NaCl", "LiF", "LiH", "ClCl", "NO", "CN")
    pair = pairs[int(rng.integers(len(pairs)))]
    atoms = Atoms(pair)
    r0 = covalent_radii[atoms.numbers].sum()
    distance = rng.uniform(0.75, 2.2) * r0
    atoms.positions = [[0, 0, 0], [0, 0, distance]]
    return atoms, 0, f"diatomic({pair},r={distance:.3f}A)"


@functools.lru_cache(maxsize=1)
def alanine_dipeptide() -> Atoms:
    """Alanine dipeptide (ACE-ALA-NME, 22 atoms) from openmmtools' shipped PDB, read without
    importing openmmtools."""
    import importlib.util

    from openmm.app import PDBFile

    spec = importlib.util.find_spec("openmmtools")
    if spec is None:
        raise ImportError("the peptide candidates need openmmtools (pip install openmmtools)")
    folder = Path(spec.submodule_search_locations[0]) / "data" / "alanine-dipeptide-gbsa"
    pdb = PDBFile(str(folder / "alanine-dipeptide.pdb"))
    numbers = [atom.element.atomic_number for atom in pdb.topology.atoms()]
    positions = np.asarray(pdb.positions.value_in_unit(pdb.positions.unit)) * 10.0  # nm → Å
    return Atoms(numbers, positions=positions)


def peptide(rng):
    return alanine_dipeptide().copy(), 0, "alanine_dipeptide"


def proton(rng):
    if rng.random() < 0.5:
        r_oo = rng.uniform(2.3, 2.7)
        x = rng.uniform(0.35, 0.65) * r_oo
        atoms = Atoms(
            "OOHHHHH",
            positions=[
                [0, 0, 0], [r_oo, 0, 0], [x, 0.05, 0],
                [-0.35, 0.9, 0], [-0.35, -0.45, 0.78],
                [r_oo + 0.35, 0.9, 0], [r_oo + 0.35, -0.45, -0.78],
            ],
        )  # fmt: skip
        return atoms, 1, f"zundel(rOO={r_oo:.2f}A,x={x / r_oo:.2f})"
    ions = molecular_ions()
    cluster = pack([ions["H3O+"][0], ions["OH-"][0]], rng, radius=rng.uniform(1.5, 4.0))
    return cluster, 0, "hydronium_hydroxide"


#: kind -> (generator, weight in a shard, relaxation steps requested)
KINDS = {
    "g2": (g2_molecule, 0.14, 0),
    "stretched": (stretched, 0.10, 0),
    "dimer": (dimer, 0.06, 0),
    "diatomic": (diatomic, 0.06, 0),
    "water_cluster": (water_cluster, 0.16, 24),
    "water_box": (water_box, 0.04, 0),
    "ion_cluster": (ion_cluster, 0.16, 24),
    "ion_pair": (ion_pair, 0.10, 0),
    "electrolyte": (electrolyte, 0.08, 16),
    "peptide": (peptide, 0.04, 0),
    "proton": (proton, 0.06, 0),
}


def molecule_candidate(rng: np.random.Generator) -> Atoms:
    """One labelled-to-be candidate: a kind drawn by weight, rattled, maybe in a field."""
    kinds = sorted(KINDS)
    weights = np.array([KINDS[k][1] for k in kinds])
    while True:
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        make, _, relax_steps = KINDS[kind]
        atoms, charge, label = make(rng)
        if atoms is not None and len(atoms) > 0:
            break
    atoms.positions += rng.normal(0.0, rng.uniform(0.0, 0.06), size=atoms.positions.shape)
    if not atoms.pbc.any():
        atoms.positions -= atoms.get_center_of_mass()
    else:
        atoms.wrap()
    atoms.positions = np.round(atoms.positions, 8)
    atoms.info = {"charge": int(charge), "generator": label, "kind": kind}
    if relax_steps:
        atoms.info["relax_steps"] = relax_steps
    if charge == 0 and not atoms.pbc.any() and rng.random() < FIELD_PROBABILITY:
        direction = rng.normal(size=3)
        magnitude = rng.uniform(0.0, MAX_FIELD)
        atoms.info["external_field"] = np.round(
            magnitude * direction / np.linalg.norm(direction), 6
        )
    return atoms


def molecule_candidates(n: int, rng: np.random.Generator) -> list[Atoms]:
    """``n`` candidates (see :func:`molecule_candidate`)."""
    return [molecule_candidate(rng) for _ in range(n)]
