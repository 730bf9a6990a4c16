"""Fragments of an OpenMM ``Topology``: the atom groups whose total charges PQEq conserves."""

from __future__ import annotations

__all__ = ["molecule_groups", "fragment_groups"]


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
