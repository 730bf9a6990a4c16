"""The charge model's fragments: which atom groups keep their own total charge in the PQEq solve.

One rule, used wherever a structure arrives without a bonded topology (training frames, the ASE
calculators, probes), and matching what OpenMM's ``fragments='molecules'`` does with a Topology
(bonded components, formal charges from residue templates):

1. **Molecules.** Atoms are bonded when closer than ``BOND_SCALE`` × the sum of their covalent
   radii (ASE's ``natural_cutoffs``; periodic images included), except that the monatomic-ion
   metals of :data:`ION_CHARGES` (Li⁺ … Ba²⁺, Zn²⁺) never bond: as in a Topology, a cation in
   water or a salt is a residue of its own. Molecules are the connected components.
2. **Formal charges.** A single atom of :data:`ION_CHARGES` carries its ionic charge, a molecule
   whose composition is in :data:`MOLECULAR_ION_CHARGES` (OH⁻, H₃O⁺, NO₃⁻, SO₄²⁻, PF₆⁻, …) its
   charge, any other molecule 0.
3. **Consistency.** When these formal charges add up to the structure's total charge, every
   molecule is a fragment with its formal charge: ions stay integer ions, ion pairs dissociate
   into integer ions, and no charge flows between molecules. Otherwise (a Zundel cation, a
   metal, an oxide, a stretched bond that leaves a radical pair, …) the assignment is ambiguous
   and the whole structure is one fragment under its total charge (global charge equilibration).

Within a fragment charge flows freely (charge equilibration); between fragments it does not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BOND_SCALE",
    "ION_CHARGES",
    "bond_pairs",
    "formal_charge",
    "MOLECULAR_ION_CHARGES",
    "ChargeGroups",
    "charge_groups",
    "charge_groups_of_atoms",
    "molecule_labels",
]

#: bonds: distance < BOND_SCALE × (covalent radius i + covalent radius j)
BOND_SCALE = 1.2

#: formal charges (e) of monatomic ions
ION_CHARGES = {
    "Li": 1, "Na": 1, "K": 1, "Rb": 1, "Cs": 1,
    "Mg": 2, "Ca": 2, "Sr": 2, "Ba": 2, "Zn": 2,
    "F": -1, "Cl": -1, "Br": -1, "I": -1,
}  # fmt: skip

#: the metals among :data:`ION_CHARGES`: never bonded by the distance rule
NONBONDING_IONS = frozenset(s for s, q in ION_CHARGES.items() if q > 0)

#: formal charges (e) of molecular ions, by composition (element symbol → count)
MOLECULAR_ION_CHARGES = {
    "HO": -1, "H3O": 1, "H4N": 1, "NO3": -1, "NO2": -1, "CO3": -2, "CHO3": -1, "C2O4": -2,
    "ClO4": -1, "O4S": -2, "HO4S": -1, "O4P": -3, "HO4P": -2, "H2O4P": -1, "BF4": -1, "F6P": -1,
    "C2F6NO4S2": -1,  # TFSI⁻
}  # fmt: skip


def composition_key(symbols) -> str:
    """Hill-like composition key: elements in alphabetical order with counts (``"H3O"``)."""
    counts = Counter(symbols)
    return "".join(f"{s}{'' if counts[s] == 1 else counts[s]}" for s in sorted(counts))


@dataclass(frozen=True)
class ChargeGroups:
    """Fragments of one structure and their total charges.

    Attributes
    ----------
    groups : list of list of int
        Atom indices of each fragment (together every atom exactly once).
    charges : list of float
        Total charge (e) of each fragment.
    global_fallback : bool
        True when the molecules' formal charges did not add up to the total charge and the
        structure is one fragment.
    """

    groups: list
    charges: list
    global_fallback: bool

    def labels(self, n_atoms: int) -> np.ndarray:
        """``[n_atoms]`` fragment index of each atom."""
        out = np.empty(n_atoms, dtype=np.int64)
        for f, group in enumerate(self.groups):
            out[group] = f
        return out


def bond_pairs(atoms, scale: float = BOND_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """Bonded pairs ``(i, j)`` (both directions, periodic images included) of an ``ase.Atoms``
    under the bond rule: closer than ``scale`` × the covalent radii sum, ion metals excluded."""
    from ase.neighborlist import natural_cutoffs, neighbor_list

    if scale <= 0 or len(atoms) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=scale))
    bonding = np.array([s not in NONBONDING_IONS for s in atoms.get_chemical_symbols()])
    keep = bonding[i] & bonding[j]  # ion metals are residues of their own
    return i[keep], j[keep]


def molecule_labels(atoms) -> np.ndarray:
    """``[n]`` connected-component label of each atom of an ``ase.Atoms`` under the bond rule."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(atoms)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    i, j = bond_pairs(atoms)
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def formal_charge(symbols: list[str]) -> int:
    """Formal charge (e) of a molecule from its element symbols (0 when not a known ion)."""
    if len(symbols) == 1:
        return ION_CHARGES.get(symbols[0], 0)
    return MOLECULAR_ION_CHARGES.get(composition_key(symbols), 0)


def charge_groups_of_atoms(atoms, total_charge: float | None = None) -> ChargeGroups:
    """The fragments of an ``ase.Atoms`` under the rule of this module.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure (positions in Å; cell and pbc respected).
    total_charge : float, optional
        Total charge (e); default ``atoms.info["charge"]`` or 0.

    Returns
    -------
    ChargeGroups
    """
    if total_charge is None:
        total_charge = float(atoms.info.get("charge", 0.0))
    n = len(atoms)
    labels = molecule_labels(atoms)
    symbols = atoms.get_chemical_symbols()
    groups = [np.flatnonzero(labels == k).tolist() for k in range(int(labels.max()) + 1)]
    groups.sort(key=lambda g: g[0])
    charges = [float(formal_charge([symbols[i] for i in g])) for g in groups]
    if len(groups) > 1 and abs(sum(charges) - float(total_charge)) < 1e-9:
        return ChargeGroups(groups, charges, False)
    return ChargeGroups([list(range(n))], [float(total_charge)], len(groups) > 1)


def charge_groups(
    numbers, positions, total_charge: float = 0.0, cell=None, pbc=None
) -> ChargeGroups:
    """The fragments of a structure given as arrays (see :func:`charge_groups_of_atoms`).

    Parameters
    ----------
    numbers : array_like of int
        ``[n]`` atomic numbers.
    positions : array_like of float
        ``[n, 3]`` positions (Å).
    total_charge : float
        Total charge (e).
    cell : array_like of float, optional
        ``[3, 3]`` cell (Å, rows are lattice vectors).
    pbc : array_like of bool, optional
        ``[3]`` periodic directions (default: periodic when a cell is given).
    """
    from ase import Atoms

    if pbc is None:
        pbc = cell is not None
    atoms = Atoms(numbers=np.asarray(numbers), positions=np.asarray(positions, dtype=float))
    if cell is not None:
        atoms.cell = np.asarray(cell, dtype=float)
    atoms.pbc = pbc
    return charge_groups_of_atoms(atoms, total_charge)
