"""OpenMM ``Topology`` from an ``ase.Atoms``: bonds from covalent radii, one residue per molecule."""

from __future__ import annotations

import numpy as np

from .. import units
from ..pqeq.charge_groups import BOND_SCALE, NONBONDING_IONS, bond_pairs
from .fragments import molecule_groups

__all__ = ["topologyFromAtoms"]

_ION_RESIDUES = {"Na": "NA", "Cl": "CL", "K": "K", "Li": "LI", "F": "F", "Br": "BR", "I": "I"}


def _bond_pairs(atoms, scale: float) -> list[tuple[int, int]]:
    first, second = bond_pairs(atoms, scale)
    return sorted({(int(i), int(j)) for i, j in zip(first, second, strict=True) if i < j})


def _residue_name(symbols: list[str]) -> str:
    if sorted(symbols) == ["H", "H", "O"]:
        return "HOH"
    if len(symbols) == 1:
        return _ION_RESIDUES.get(symbols[0], symbols[0].upper())
    return "MOL"


def topologyFromAtoms(
    atoms, bondScale: float = BOND_SCALE, ionic: tuple[str, ...] = tuple(sorted(NONBONDING_IONS))
):
    """An OpenMM Topology for ``atoms`` with the box (nm) when all three directions are periodic.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure (Å).
    bondScale : float
        Atoms closer than ``bondScale`` × the sum of their covalent radii are bonded (0: no
        bonds: every atom is a molecule of its own). The defaults give the molecules of the
        charge model used in training (:mod:`openmm_polarml.pqeq.charge_groups`).
    ionic : tuple of str
        Elements that never bond (monatomic ions in electrolytes; default the ion metals;
        halides bond covalently, as in HCl or ClO₄⁻, and are ions when alone).

    Returns
    -------
    openmm.app.Topology
        One residue per molecule (``HOH`` for water, the ion name for single ions, else ``MOL``).
    """
    import openmm
    import openmm.app as app

    top = app.Topology()
    chain = top.addChain()
    symbols = atoms.get_chemical_symbols()
    bonds = [(i, j) for i, j in _bond_pairs(atoms, bondScale) if symbols[i] not in ionic]
    bonds = [(i, j) for i, j in bonds if symbols[j] not in ionic]
    scratch = app.Topology()
    scratch_chain = scratch.addChain()
    scratch_res = scratch.addResidue("TMP", scratch_chain)
    scratch_atoms = [scratch.addAtom(s, app.Element.getBySymbol(s), scratch_res) for s in symbols]
    for i, j in bonds:
        scratch.addBond(scratch_atoms[i], scratch_atoms[j])
    made = {}
    for k, group in enumerate(molecule_groups(scratch)):
        residue = top.addResidue(_residue_name([symbols[i] for i in group]), chain, id=str(k + 1))
        counts: dict[str, int] = {}
        for i in group:
            counts[symbols[i]] = counts.get(symbols[i], 0) + 1
            name = symbols[i].upper() + ("" if len(group) == 1 else str(counts[symbols[i]]))
            made[i] = top.addAtom(name, app.Element.getBySymbol(symbols[i]), residue)
    order = sorted(made)
    assert order == list(range(len(atoms)))
    # molecule_groups sorts by first atom, and atoms are added group by group: restore the order
    if [a.index for a in (made[i] for i in order)] != order:
        raise ValueError(
            "the molecules of these atoms are not contiguous in index order; reorder the atoms "
            "molecule by molecule (OpenMM particle order follows the Topology)"
        )
    for i, j in bonds:
        top.addBond(made[i], made[j])
    if np.all(atoms.pbc):
        cell = atoms.cell.array
        if abs(cell[0, 1]) + abs(cell[0, 2]) + abs(cell[1, 2]) > 1e-9:
            raise ValueError(
                "OpenMM needs a lower-triangular cell (a along x, b in the xy plane); rotate the "
                "structure first: cell, rotation = atoms.cell.standard_form(); "
                "atoms.positions = atoms.positions @ rotation.T; atoms.cell = cell"
            )
        top.setPeriodicBoxVectors(
            [openmm.Vec3(*(v * units.ANGSTROM_TO_NM)) for v in atoms.cell.array]
        )
    return top
