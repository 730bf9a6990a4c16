"""Solvated-peptide candidates for active learning: clusters cut from an MD run of the model.

The stage-3 model broke an amide N–H bond of alanine dipeptide in water after 5.2 ps of NVT
(the proton went to a hydrogen-bonded water). Along that path it is too soft: stretching the
amide N–H toward the water O to 1.5 Å costs 0.78 eV in the model and 1.37 eV in GFN2-xTB, while
the N–H···O hydrogen bond itself is right (minimum 1.6–1.8 Å, −0.56 eV in both). The training
data had the dipeptide only in vacuum. The seeds here are the peptide with every water whose O
lies within ``CUT_RADIUS`` of a peptide atom, cut (minimum image, molecules whole) from frames of
that run; the candidates perturb them where the model was wrong:

- ``md``: the cluster as cut, rattled;
- ``nh_stretch``: one amide N–H moved toward the nearest water O it hydrogen-bonds to
  (N–H···O above 130°; else along the bond), N–H 1.1–1.75 Å;
- ``oh_stretch``: one water O–H (of a water within 3.5 Å of the peptide) moved likewise toward
  an O of another molecule, O–H 1.05–1.6 Å;
- ``bend``: the amide H rotated about N in the C–N–H plane by ±(15–45)°.

Candidates with two atoms closer than 0.75 Å are drawn again.

Second round (``xtb_contacts``, :data:`CONTACT_KINDS`): the stage-4 model, trained on the
above, kept the peptide intact for 8.7 ps but from ~4 ps bound two waters to NME methyl
hydrogens with H···H 0.9–1.1 Å (C···O 3.1 Å). Along a rigid-water scan of that contact the
model has a 0.5 eV well at 1.0 Å where GFN2-xTB is repulsive (+0.6 eV). Its seeds
(:data:`CONTACT_SEEDS`) are cut from that run; the candidates move one water rigidly:

- ``hh_contact``: a water H toward a peptide C–H hydrogen, H···H 0.9–2.4 Å;
- ``ch_o_contact``: a water O toward a peptide C–H hydrogen, H···O 1.2–2.6 Å;
- ``ww_hh_contact``: a water H toward an H of another water, H···H 0.9–2.2 Å;
- ``md``: the cluster as cut, rattled.

A moved water may not come closer than :data:`CLASH_DISTANCE` to any other atom (except the
contact it was placed at); such draws are repeated.

All are neutral and non-periodic; GFN2-xTB labels them (:func:`teachers.label`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms

#: water O within this distance of any peptide atom joins the cluster (Å)
CUT_RADIUS = 4.0
#: committed seed clusters (``cut_clusters`` of the stage-3 model's alanine_dipeptide_aq run)
SEEDS = (
    Path(__file__).resolve().parents[2] / "data" / "sources" / "solvated_peptide_seeds.extxyz.gz"
)
#: committed seed clusters of the second round (the stage-4 model's alanine_dipeptide_aq run)
CONTACT_SEEDS = SEEDS.with_name("solvated_peptide_contact_seeds.extxyz.gz")
#: smallest donor–H···acceptor angle of the acceptor a stretched hydrogen moves toward (deg)
MIN_HBOND_ANGLE = 130.0
#: candidates with two atoms closer than this are drawn again (Å)
MIN_DISTANCE = 0.75
#: kind -> weight in a shard
KINDS = {"md": 0.25, "nh_stretch": 0.35, "oh_stretch": 0.2, "bend": 0.2}
#: kind -> weight in a shard of the second round (``xtb_contacts``)
CONTACT_KINDS = {"md": 0.2, "hh_contact": 0.4, "ch_o_contact": 0.25, "ww_hh_contact": 0.15}
#: contact kind -> (moved atom element, target range in Å)
CONTACT_RANGES = {
    "hh_contact": ("H", 0.9, 2.4),
    "ch_o_contact": ("O", 1.2, 2.6),
    "ww_hh_contact": ("H", 0.9, 2.2),
}
#: a rigidly moved water stays this far from every atom but its contact partner (Å)
CLASH_DISTANCE = 1.4


def cut_clusters(topology_pdb, trajectory_dcd, frames, radius: float = CUT_RADIUS) -> list[Atoms]:
    """Peptide + nearby waters (whole, next to the peptide) of ``frames`` of a periodic run.

    Parameters
    ----------
    topology_pdb, trajectory_dcd : path
        The run's topology (waters as residue ``HOH``) and trajectory.
    frames : sequence of int
        Frame indices to cut.
    radius : float
        A water joins when its O is within ``radius`` (Å) of a peptide atom.
    """
    import mdtraj

    traj = mdtraj.load_dcd(str(trajectory_dcd), top=str(topology_pdb))
    top = traj.topology
    peptide = [a.index for a in top.atoms if a.residue.name != "HOH"]
    waters = [[a.index for a in r.atoms] for r in top.residues if r.name == "HOH"]
    symbols = np.array([a.element.symbol for a in top.atoms])
    out = []
    for k in frames:
        xyz = traj.xyz[k] * 10.0  # [n, 3] Å
        box = traj.unitcell_lengths[k] * 10.0  # [3] Å
        pep = _whole(xyz[peptide], box)  # [p, 3]
        parts, names = [pep], list(symbols[peptide])
        for w in waters:
            mol = _whole(xyz[w], box)  # [3, 3], O first
            shift = -box * np.round((mol[0] - pep.mean(0)) / box)
            mol = mol + shift
            if np.linalg.norm(pep - mol[0], axis=1).min() < radius:
                parts.append(mol)
                names += list(symbols[w])
        atoms = Atoms(names, positions=np.concatenate(parts))
        atoms.info = {"source_frame": int(k), "peptide_atoms": len(peptide)}
        out.append(atoms)
    return out


def _whole(xyz: np.ndarray, box: np.ndarray) -> np.ndarray:
    """A molecule's atoms as minimum images of its first atom ``[n, 3]`` (Å)."""
    d = xyz - xyz[0]
    return xyz[0] + d - box * np.round(d / box)


def _acceptor_direction(atoms: Atoms, donor: int, hydrogen: int, candidates) -> tuple:
    """Unit vector from ``donor`` along which to move ``hydrogen``, and its acceptor (or None).

    The acceptor is the O nearest to the hydrogen among ``candidates`` (atoms of other
    molecules) with a donor–H···acceptor angle above :data:`MIN_HBOND_ANGLE`; without one the
    hydrogen moves along its own bond (a plain stretch)."""
    bond = atoms.positions[hydrogen] - atoms.positions[donor]
    best, best_d = None, np.inf
    for i in candidates:
        if atoms.numbers[i] != 8:
            continue
        to_acceptor = atoms.positions[i] - atoms.positions[hydrogen]
        d = np.linalg.norm(to_acceptor)
        cosine = np.dot(-bond, to_acceptor) / (np.linalg.norm(bond) * d)
        if np.degrees(np.arccos(np.clip(cosine, -1, 1))) > MIN_HBOND_ANGLE and d < best_d:
            best, best_d = int(i), d
    target = bond if best is None else atoms.positions[best] - atoms.positions[donor]
    return target / np.linalg.norm(target), best


def _amide_hydrogens(atoms: Atoms, n_peptide: int) -> list[tuple[int, int]]:
    """(N, H) pairs of the peptide's N–H bonds."""
    pos = atoms.positions[:n_peptide]
    pairs = []
    for n in np.flatnonzero(atoms.numbers[:n_peptide] == 7):
        for h in np.flatnonzero(atoms.numbers[:n_peptide] == 1):
            if np.linalg.norm(pos[h] - pos[n]) < 1.3:
                pairs.append((int(n), int(h)))
    return pairs


def _too_close(atoms: Atoms) -> bool:
    """Whether any two atoms are closer than :data:`MIN_DISTANCE`."""
    d = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)  # [n, n] Å
    np.fill_diagonal(d, np.inf)
    return bool(d.min() < MIN_DISTANCE)


def _name(acceptor: int | None) -> str:
    return "bond" if acceptor is None else f"O{acceptor}"


def candidate(seed: Atoms, kind: str, rng: np.random.Generator) -> Atoms:
    """One perturbed copy of a seed cluster (see the module docstring for the kinds); drawn
    again while two atoms are closer than :data:`MIN_DISTANCE`."""
    for _ in range(100):
        try:
            atoms = _perturbed(seed, kind, rng)
        except _Clash:
            continue
        if not _too_close(atoms):
            return atoms
    raise RuntimeError(f"no {kind} candidate without overlapping atoms from this seed")


def _perturbed(seed: Atoms, kind: str, rng: np.random.Generator) -> Atoms:
    atoms = Atoms(seed.numbers, positions=seed.positions.copy())
    n_pep = int(seed.info["peptide_atoms"])
    label = kind
    if kind == "nh_stretch":
        n, h = _amide_hydrogens(atoms, n_pep)[int(rng.integers(2))]
        u, acceptor = _acceptor_direction(atoms, n, h, range(n_pep, len(atoms)))
        d = rng.uniform(1.1, 1.75)
        atoms.positions[h] = atoms.positions[n] + d * u
        label = f"nh_stretch(N{n}-H{h}->{_name(acceptor)},{d:.2f}A)"
    elif kind == "oh_stretch":
        oxygens = list(range(n_pep, len(atoms), 3))
        near = [
            o
            for o in oxygens
            if np.linalg.norm(atoms.positions[:n_pep] - atoms.positions[o], axis=1).min() < 3.5
        ] or oxygens
        o = near[int(rng.integers(len(near)))]
        h = o + 1 + int(rng.integers(2))
        others = [i for i in range(len(atoms)) if not o <= i < o + 3]
        u, acceptor = _acceptor_direction(atoms, o, h, others)
        d = rng.uniform(1.05, 1.6)
        atoms.positions[h] = atoms.positions[o] + d * u
        label = f"oh_stretch(O{o}-H{h}->{_name(acceptor)},{d:.2f}A)"
    elif kind == "bend":
        n, h = _amide_hydrogens(atoms, n_pep)[int(rng.integers(2))]
        angle = np.deg2rad(rng.uniform(15, 45) * rng.choice([-1.0, 1.0]))
        carbons = [c for c in range(n_pep) if atoms.numbers[c] == 6]
        c = min(carbons, key=lambda i: np.linalg.norm(atoms.positions[i] - atoms.positions[n]))
        _rotate_about(atoms, n, h, c, angle)
        label = f"bend(N{n}-H{h},{np.rad2deg(angle):+.0f}deg)"
    elif kind in CONTACT_RANGES:
        label = _place_contact(atoms, n_pep, kind, rng)
    atoms.positions += rng.normal(0.0, rng.uniform(0.0, 0.04), size=atoms.positions.shape)
    atoms.positions -= atoms.get_center_of_mass()
    atoms.positions = np.round(atoms.positions, 8)
    atoms.info = {
        "charge": 0,
        "generator": f"solvated_peptide(frame {seed.info['source_frame']},{label})",
        "kind": f"solvated_{kind}",
    }
    return atoms


def _water_of(atom: int, n_peptide: int) -> list[int]:
    """Indices (O, H, H) of the water holding ``atom`` (waters follow the peptide)."""
    o = n_peptide + 3 * ((atom - n_peptide) // 3)
    return [o, o + 1, o + 2]


def _ch_hydrogens(atoms: Atoms, n_peptide: int) -> list[int]:
    """Peptide hydrogens bonded to a carbon."""
    pos, z = atoms.positions[:n_peptide], atoms.numbers[:n_peptide]
    carbons = pos[z == 6]
    return [
        int(h)
        for h in np.flatnonzero(z == 1)
        if np.linalg.norm(carbons - pos[h], axis=1).min() < 1.25
    ]


def _place_contact(atoms: Atoms, n_pep: int, kind: str, rng: np.random.Generator) -> str:
    """Move one water rigidly so that its ``CONTACT_RANGES[kind]`` atom sits at a drawn distance
    from a hydrogen (along their current separation); returns the label. Raises
    ``RuntimeError`` when the moved water clashes (:data:`CLASH_DISTANCE`)."""
    element, lo, hi = CONTACT_RANGES[kind]
    if kind == "ww_hh_contact":
        water_h = [i for i in range(n_pep, len(atoms)) if atoms.numbers[i] == 1]
        target = water_h[int(rng.integers(len(water_h)))]
        exclude = set(_water_of(target, n_pep))
    else:
        hydrogens = _ch_hydrogens(atoms, n_pep)
        target = hydrogens[int(rng.integers(len(hydrogens)))]
        exclude = set(range(n_pep))
    z = 1 if element == "H" else 8
    movable = [i for i in range(n_pep, len(atoms)) if atoms.numbers[i] == z and i not in exclude]
    gaps = np.linalg.norm(atoms.positions[movable] - atoms.positions[target], axis=1)  # [m] Å
    moved = movable[int(np.argsort(gaps)[int(rng.integers(min(4, len(movable))))])]
    water = _water_of(moved, n_pep)
    separation = atoms.positions[moved] - atoms.positions[target]
    distance = rng.uniform(lo, hi)
    shift = (distance / np.linalg.norm(separation) - 1.0) * separation  # [3] Å
    atoms.positions[water] += shift
    others = [i for i in range(len(atoms)) if i not in water]
    d = np.linalg.norm(atoms.positions[water][:, None] - atoms.positions[others][None], axis=-1)
    d[water.index(moved), others.index(target)] = np.inf  # [3, n - 3] Å
    if d.min() < CLASH_DISTANCE:
        raise _Clash
    name = "H" if element == "H" else "O"
    return f"{kind}({name}{moved}->H{target},{distance:.2f}A)"


class _Clash(RuntimeError):
    """A rigidly moved water came too close to another atom."""


def _rotate_about(atoms: Atoms, center: int, moved: int, plane: int, angle: float) -> None:
    """Rotate ``moved`` about ``center`` by ``angle`` (rad) in the plane of (plane, center, moved)."""
    r = atoms.positions[moved] - atoms.positions[center]
    axis = np.cross(atoms.positions[plane] - atoms.positions[center], r)
    axis /= np.linalg.norm(axis)
    rotated = (
        r * np.cos(angle)
        + np.cross(axis, r) * np.sin(angle)
        + axis * np.dot(axis, r) * (1 - np.cos(angle))
    )
    atoms.positions[moved] = atoms.positions[center] + rotated


def solvated_candidates(
    n: int, rng: np.random.Generator, seeds: list[Atoms], kind_weights: dict | None = None
) -> list[Atoms]:
    """``n`` candidates: a seed and a kind drawn (by ``kind_weights``, default :data:`KINDS`)
    for each."""
    kind_weights = kind_weights or KINDS
    kinds = sorted(kind_weights)
    weights = np.array([kind_weights[k] for k in kinds])
    out = []
    for _ in range(n):
        seed = seeds[int(rng.integers(len(seeds)))]
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        out.append(candidate(seed, kind, rng))
    return out
