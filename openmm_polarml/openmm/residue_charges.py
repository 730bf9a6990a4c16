"""Formal charges of fragments from residue templates: water, common ions, amino and nucleic acids.

PQEq conserves the total charge of every fragment (by default one per molecule, i.e. connected
bonded component of the Topology). This module assigns each fragment its formal charge (e) from
the residues it contains:

- water (``HOH``, ``WAT``, ``TIP3``, ``SOL``, ...) and unknown neutral residues: 0;
- monatomic ions by residue name or, for a single atom, by element (:data:`ION_CHARGES`);
- standard amino acids with their usual protonation states (ARG/LYS/HIP +1, ASP/GLU/CYM -1,
  HIS by its hydrogens), N-termini (``H1``/``H2``/``H3``) +1 and C-termini (``OXT``) -1;
- nucleotides: -1 per phosphate (a residue with atom ``P``);
- other residues whose composition is a molecular ion of the training charge model (OH⁻, H₃O⁺,
  NO₃⁻, ClO₄⁻, PF₆⁻, …; :data:`openmm_polarml.pqeq.charge_groups.MOLECULAR_ION_CHARGES`).

A residue the tables do not know counts 0 and is reported once through :mod:`logging`.
"""

from __future__ import annotations

import logging

from ..pqeq.charge_groups import MOLECULAR_ION_CHARGES, composition_key
from .elements import ION_CHARGES

__all__ = ["RESIDUE_CHARGES", "residue_charge", "fragment_charge"]

LOGGER = logging.getLogger(__name__)

#: formal charge (e) of residues whose charge does not depend on their atoms
RESIDUE_CHARGES = {
    **{name: 0 for name in ("HOH", "WAT", "TIP3", "TIP4", "TIP5", "SOL", "SPC", "T3P", "T4P")},
    **{name: 0 for name in ("ALA", "ASN", "CYS", "CYX", "GLN", "GLY", "ILE", "LEU", "MET")},
    **{name: 0 for name in ("PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL", "HID", "HIE")},
    **{name: 0 for name in ("ASH", "GLH", "LYN", "ACE", "NME", "NMA", "NHE")},
    "ARG": 1,
    "LYS": 1,
    "HIP": 1,
    "ASP": -1,
    "GLU": -1,
    "CYM": -1,
    **{"NA": 1, "NA+": 1, "SOD": 1, "K": 1, "K+": 1, "POT": 1, "LI": 1, "LI+": 1},
    **{"RB": 1, "CS": 1, "MG": 2, "CA": 2, "CAL": 2, "ZN": 2, "ZN2": 2, "BA": 2, "SR": 2},
    **{"CL": -1, "CL-": -1, "CLA": -1, "BR": -1, "I": -1, "F": -1, "IOD": -1},
}

_AMINO_ACIDS = {
    "ALA", "ARG", "ASN", "ASP", "CYS", "CYX", "CYM", "GLN", "GLU", "GLY", "HIS", "HID", "HIE",
    "HIP", "ILE", "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL", "ASH",
    "GLH", "LYN",
}  # fmt: skip
_NUCLEOTIDES = {"A", "C", "G", "U", "T", "DA", "DC", "DG", "DT", "RA", "RC", "RG", "RU"}
_WARNED: set[str] = set()


def _histidine_charge(names: set[str]) -> int:
    return 1 if {"HD1", "HE2"} <= names else 0


def residue_charge(residue) -> int | None:
    """Formal charge (e) of an OpenMM ``Residue``, or None when no template applies."""
    name = residue.name.strip().upper()
    names = {atom.name.strip().upper() for atom in residue.atoms()}
    if name in _AMINO_ACIDS:
        charge = _histidine_charge(names) if name == "HIS" else RESIDUE_CHARGES[name]
        if {"H1", "H2", "H3"} <= names or {"HN1", "HN2", "HN3"} <= names:
            charge += 1  # protonated N-terminus
        if "OXT" in names:
            charge -= 1  # carboxylate C-terminus
        return charge
    if name in _NUCLEOTIDES or name.rstrip("35") in _NUCLEOTIDES:
        return -1 if "P" in names else 0
    if name in RESIDUE_CHARGES:
        return RESIDUE_CHARGES[name]
    atoms = list(residue.atoms())
    if len(atoms) == 1 and atoms[0].element is not None:
        return ION_CHARGES.get(atoms[0].element.symbol)
    if atoms and all(a.element is not None for a in atoms):  # a molecular ion by composition
        key = composition_key([a.element.symbol for a in atoms])
        return MOLECULAR_ION_CHARGES.get(key)
    return None


def fragment_charge(atoms) -> float:
    """Formal charge (e) of a fragment (a list of OpenMM ``Atom``) from its residues.

    Residues without a template count 0 and are logged once per residue name.
    """
    residues = {}
    for atom in atoms:
        residues.setdefault(atom.residue.index, atom.residue)
    total = 0
    for residue in residues.values():
        charge = residue_charge(residue)
        if charge is None:
            if residue.name not in _WARNED:
                _WARNED.add(residue.name)
                LOGGER.info(
                    "openmm_polarml: no charge template for residue %r; its fragment charge "
                    "counts it as 0 e (pass fragmentCharges= to set it)",
                    residue.name,
                )
            charge = 0
        total += charge
    return float(total)
