"""Fragments of an OpenMM ``Topology``: the atom groups whose total charges PQEq conserves."""

from __future__ import annotations

__all__ = [
    "molecule_groups",
    "fragment_groups",
    "has_bonds",
    "bondless_molecules",
    "check_lone_atoms",
]


def molecule_groups(topology) -> list[list[int]]:
    """Connected components of the topology's bond graph (one list of atom indices per molecule).

    Atoms without bonds are molecules of their own. Groups are sorted by their first atom.
    """
    n = topology.getNumAtoms()
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for bond in topology.bonds():
        a, b = find(bond[0].index), find(bond[1].index)
        if a != b:
            parent[a] = b
    comps: dict[int, list[int]] = {}
    for i in range(n):
        comps.setdefault(find(i), []).append(i)
    return sorted(comps.values(), key=lambda g: g[0])


def fragment_groups(topology, fragments) -> list[list[int]] | None:
    """Atom groups for a fragments specification.

    Parameters
    ----------
    topology : openmm.app.Topology
        The topology.
    fragments : str or list of list of int
        'molecules' (connected bonded components), 'residues', 'none' (returns None: one
        fragment of all atoms) or explicit atom-index lists.
    """
    if isinstance(fragments, str):
        mode = fragments.lower()
        if mode == "none":
            return None
        if mode == "residues":
            return [[a.index for a in res.atoms()] for res in topology.residues()]
        if mode == "molecules":
            return molecule_groups(topology)
        raise ValueError(
            f"unknown fragments mode {fragments!r}; use 'molecules', 'residues', 'none' "
            "or a list of atom-index lists"
        )
    return [[int(i) for i in g] for g in fragments]


def has_bonds(topology, atoms) -> bool:
    """Whether any bond of ``topology`` involves one of ``atoms`` (particle indices)."""
    inside = set(atoms)
    return any(a.index in inside or b.index in inside for a, b in topology.bonds())


def bondless_molecules(topology, atoms, positions, total_charge) -> tuple[list, list]:
    """Fragments of ML ``atoms`` of a Topology without bonds, by the training rule.

    Without bonds, ``'molecules'`` would make every atom a neutral fragment of its own. The
    model's charge model instead finds molecules and formal charges from the geometry
    (:func:`openmm_polarml.pqeq.charge_groups.charge_groups`), exactly as in training; that
    needs ``positions``. A Topology of monatomic ions only (a salt) needs none.

    Returns
    -------
    tuple of (list of list of int, list of float)
        Particle-index groups and their charges (e).
    """
    import numpy as np

    from .. import units
    from ..pqeq.charge_groups import ION_CHARGES, charge_groups

    every = list(topology.atoms())
    symbols = [every[i].element.symbol if every[i].element is not None else "?" for i in atoms]
    if positions is None:
        if all(s in ION_CHARGES for s in symbols):
            return [[i] for i in atoms], [float(ION_CHARGES[s]) for s in symbols]
        raise ValueError(
            f"the Topology has no bonds between its {len(atoms)} ML atoms, so fragments="
            "'molecules' cannot tell its molecules apart (every atom would be a neutral fragment "
            "of its own). Add bonds (Topology.createStandardBonds(), CONECT records, "
            "openmm_polarml.openmm.topologyFromAtoms), pass positions= so that molecules and "
            "formal charges are found from the geometry as in training, or use fragments='none'"
        )
    if hasattr(positions, "value_in_unit"):
        import openmm.unit as u

        positions = positions.value_in_unit(u.nanometer)
    xyz = np.asarray(positions, dtype=float)[list(atoms)] * units.NM_TO_ANGSTROM
    box = topology.getPeriodicBoxVectors()
    cell = None
    if box is not None:
        import openmm.unit as u

        nm = np.array([[v.value_in_unit(u.nanometer) for v in vec] for vec in box])
        cell = nm * units.NM_TO_ANGSTROM
    numbers = [every[i].element.atomic_number for i in atoms]
    result = charge_groups(numbers, xyz, float(total_charge or 0.0), cell=cell)
    return [[atoms[k] for k in g] for g in result.groups], list(result.charges)


#: elements that are atoms of their own in a molecular system: noble gases
_LONE_ELEMENTS = frozenset({"He", "Ne", "Ar", "Kr", "Xe", "Rn"})


def check_lone_atoms(every, groups) -> None:
    """Refuse single-atom 'molecules' that are neither monatomic ions nor noble gases.

    A Topology that lost bonds (a PDB residue without a template or CONECT records, a converter
    that drops bonds) would make each such atom a neutral fragment of its own: no charge could
    flow between it and its neighbours, and the energy would be silently wrong.
    """
    from ..pqeq.charge_groups import ION_CHARGES

    lone = [
        g[0]
        for g in groups
        if len(g) == 1
        and every[g[0]].element is not None
        and every[g[0]].element.symbol not in ION_CHARGES
        and every[g[0]].element.symbol not in _LONE_ELEMENTS
    ]
    if lone:
        atom = every[lone[0]]
        raise ValueError(
            f"{len(lone)} atom(s) have no bonds in the Topology, e.g. particle {lone[0]} "
            f"({atom.element.symbol} of residue {atom.residue.name}{atom.residue.id}), so "
            "fragments='molecules' would make each a neutral fragment of its own. Add the bonds "
            "(Topology.createStandardBonds(), CONECT records, "
            "openmm_polarml.openmm.topologyFromAtoms), or use fragments='none' or explicit "
            "fragments"
        )
