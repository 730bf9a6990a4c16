"""Cubic LLZO (Li₇La₃Zr₂O₁₂) cells: the study's start structures and teacher candidates.

The paper's structures (``../shared/data/reaxnet/LLZO``: the 1536-atom start cell and its final
frame at 800–1800 K) give the start cell and the density at each temperature (:func:`llzo_cell`).

:func:`llzo_candidates` makes the ``sevenn_l3i5_llzo`` teacher subset (active learning): the
shipped model's energy minimisation of the 192-atom cell at 1400 K pulled two Li from 2.43 Å to
0.50 Å (``docs/studies.md``), a many-body hole no training frame covered. Each candidate is the
192-atom cell at the paper's density for a temperature drawn from :data:`TEMPERATURES`, strained
by up to ±:data:`DENSITY_STRAIN`, rattled as an Einstein crystal at that temperature
(:func:`thermal_displace`), and with probability
:data:`CONTACT_FRACTION` one Li moved towards its nearest Li to :data:`LI_CONTACT` Å.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

#: the paper's LLZO structures, beside this repository
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "reaxnet" / "LLZO"
TEMPERATURES = (800, 1000, 1200, 1400, 1600, 1800)  # K, the paper's frames
DENSITY_STRAIN = 0.03  # isotropic, fraction of the edge
CONTACT_FRACTION = 0.5
#: Einstein frequency of the rattle (THz): Zr–O and La–O bonds are stiffer than the generic
#: 8 THz of the crystal families, which gave forces above 20 eV/Å at 1800 K here
EINSTEIN_THZ = 12.0
LI_CONTACT = (1.55, 2.3)  # Å, Li–Li distance of a pushed pair (2.43 Å was the shortest at start)


def llzo_cell(temperature_k: int, cell: str = "octant") -> Atoms:
    """The start structure: the paper's 1536-atom cell (``cell="paper"``), or its stoichiometric
    192-atom octant (``"octant"``), scaled to the paper's density at ``temperature_k`` (K)."""
    import ase.io

    start = ase.io.read(DATA / "init.vasp")
    final = DATA / f"{temperature_k}_final.vasp"
    if not final.exists():
        raise FileNotFoundError(f"no paper frame for {temperature_k} K in {DATA}; "
                                "use one of 800, 1000, ..., 1800")  # fmt: skip
    edge = float(np.cbrt(ase.io.read(final).get_volume()))  # Å, the paper's cell at T
    if cell == "paper":
        start.set_cell(np.eye(3) * edge, scale_atoms=True)
        return start
    frac = start.get_scaled_positions()
    octant = start[np.all(frac < 0.5 - 1e-6, axis=1)]
    octant.set_cell(start.cell / 2, scale_atoms=False)
    octant.set_cell(np.eye(3) * edge / 2, scale_atoms=True)
    if octant.get_chemical_formula() != "La24Li56O96Zr16":
        raise RuntimeError(f"unexpected octant {octant.get_chemical_formula()}")
    return octant


def push_li_pair(atoms: Atoms, rng: np.random.Generator) -> str:
    """Move a random Li along the line to its nearest Li (minimum image) until the two are a
    distance drawn from :data:`LI_CONTACT` apart; returns the generator step."""
    li = np.flatnonzero(atoms.numbers == 3)
    first = int(li[rng.integers(len(li))])
    others = li[li != first]
    vectors = atoms.get_distances(first, others, mic=True, vector=True)  # [k, 3] Å
    lengths = np.linalg.norm(vectors, axis=1)
    nearest = int(np.argmin(lengths))
    target = rng.uniform(*LI_CONTACT)
    atoms.positions[first] += vectors[nearest] * (1.0 - target / lengths[nearest])
    return f"li_contact({first},{int(others[nearest])}:{lengths[nearest]:.2f}->{target:.2f}A)"


def thermal_displace(atoms: Atoms, temperature: float, rng, rounds: int = 50) -> None:
    """Einstein-crystal displacements at ``temperature`` (K, at :data:`EINSTEIN_THZ`;
    :func:`~openmm_polarml.data.crystal_families.einstein_sigma`), redrawn for the atoms of any
    pair closer than the overlap limit (``structures.too_close``), so a 192-atom cell at 1800 K
    is not rejected as a whole for one close pair. Raises RuntimeError after ``rounds`` rounds."""
    from openmm_polarml.data import crystal_families, structures

    reference = atoms.positions.copy()  # [n, 3] Å
    sigma = crystal_families.einstein_sigma(atoms.numbers, temperature, EINSTEIN_THZ)[:, None]
    moved = np.ones(len(atoms), dtype=bool)
    for _ in range(rounds):
        atoms.positions[moved] = reference[moved] + rng.normal(size=(moved.sum(), 3)) * sigma[moved]
        moved = structures.close_atoms(atoms)
        if not moved.any():
            return
    raise RuntimeError(f"could not displace {atoms.get_chemical_formula()} at {temperature} K")


def llzo_candidates(n: int, rng: np.random.Generator) -> list[Atoms]:
    """``n`` 192-atom LLZO candidates (module docstring); ``info["generator"]`` says how."""
    from openmm_polarml.data import structures

    cells = {t: llzo_cell(t) for t in TEMPERATURES}
    out: list[Atoms] = []
    while len(out) < n:
        temperature = TEMPERATURES[int(rng.integers(len(TEMPERATURES)))]
        atoms = cells[temperature].copy()
        scale = 1.0 + rng.uniform(-DENSITY_STRAIN, DENSITY_STRAIN)
        atoms.set_cell(atoms.cell.array * scale, scale_atoms=True)
        thermal_displace(atoms, temperature, rng)
        steps = [f"llzo({temperature}K,scale={scale:.4f})", f"thermal(T={temperature}K)"]
        if rng.random() < CONTACT_FRACTION:
            steps.append(push_li_pair(atoms, rng))
        if structures.too_close(atoms):
            continue
        atoms.wrap()
        atoms.positions = np.round(atoms.positions, 8)
        atoms.info = {"family": "llzo", "seed_category": "oxide", "generator": "+".join(steps),
                      "seed_structure": "reaxnet:LLZO/init.vasp", "seed_origin": "paper"}  # fmt: skip
        out.append(atoms)
    return out
