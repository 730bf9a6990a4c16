"""Fragments of an OpenMM ``Topology``: the atom groups whose total charges PQEq conserves."""

from __future__ import annotations

from .residue_charges import fragment_charge

__all__ = [
    "ml_fragments",
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


def _check_total(every, inside, charges, totalCharge) -> None:
    """Raise when the fragments' charges (e) do not add up to ``totalCharge``."""
    if totalCharge is None or abs(sum(charges) - float(totalCharge)) <= 1e-6:
        return
    charged = [(k, q) for k, q in enumerate(charges) if q != 0]
    listing = ", ".join(
        f"fragment {k} ({every[inside[k][0]].residue.name}{every[inside[k][0]].residue.id}"
        f", {len(inside[k])} atoms) {q:+g} e"
        for k, q in charged[:8]
    )
    raise ValueError(
        f"the fragments' charges sum to {sum(charges):+g} e but totalCharge is "
        f"{float(totalCharge):+g} e (charged fragments: {listing or 'none'}); pass the "
        "matching totalCharge or fragmentCharges"
    )


def ml_fragments(topology, atoms, fragments, fragmentCharges, totalCharge, positions=None):
    """ML-atom fragment groups (particle indices) and charges (e), checked against
    ``totalCharge``; ``(None, None)`` for one fragment.

    ``fragments`` is ``'molecules'``, ``'none'`` or explicit lists (:func:`fragment_groups`).
    ``'molecules'`` on a Topology without bonds finds molecules from ``positions`` (nm) by the
    training rule (:func:`bondless_molecules`)."""
    every = list(topology.atoms())
    molecules = isinstance(fragments, str) and fragments.lower() == "molecules"
    if molecules and fragmentCharges is None and len(atoms) > 1 and not has_bonds(topology, atoms):
        inside, charges = bondless_molecules(topology, atoms, positions, totalCharge)
        _check_total(every, inside, charges, totalCharge)
        return inside, charges
    groups = fragment_groups(topology, fragments)
    if groups is None:
        return None, None
    bad = sorted({i for g in groups for i in g if not 0 <= i < len(every)})
    if bad:
        raise ValueError(
            f"fragments name particle index(es) {bad[:8]} but the Topology has {len(every)} "
            f"atoms (indices 0..{len(every) - 1}); fix the fragment lists"
        )
    ml = set(atoms)
    inside = [g for g in groups if ml.intersection(g)]
    for g in inside:
        if not ml.issuperset(g):
            raise ValueError(
                f"fragment of atoms {g[:6]}... lies partly outside the ML region; choose "
                "mlAtoms as whole molecules or pass fragments= explicitly"
            )
    if molecules:
        check_lone_atoms(every, inside)
    if fragmentCharges is None:
        charges = [fragment_charge([every[i] for i in g]) for g in inside]
    elif callable(fragmentCharges):
        charges = [float(fragmentCharges([every[i] for i in g])) for g in inside]
    else:
        charges = [float(q) for q in fragmentCharges]
        if len(charges) != len(inside):
            raise ValueError(
                f"fragmentCharges has {len(charges)} entries for {len(inside)} fragments"
            )
    _check_total(every, inside, charges, totalCharge)
    return inside, charges
