"""Standard systems of the examples and studies, ready for OpenMM.

Liquid boxes come from ``openmm.app.Modeller`` relaxed with AMBER14/TIP3P (Modeller leaves
~1.3 Å O–H contacts at the periodic seams); crystals are ASE cells turned into a bond-free
Topology. The builders return ``(topology, positions [n, 3] nm, {label: (A, B, intermolecular)})``
(RDF pairs of the stability runs); :func:`electrolyte` and :func:`naf_crystal` return
``(topology, positions)``; :func:`rocksalt_crystal` returns an ``ase.Atoms`` (Å).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import openmm
import openmm.app as app
import openmm.unit as u
from ase import Atoms
from ase.build import bulk

from openmm_polarml import units
from openmm_polarml.openmm.topology import topologyFromAtoms

__all__ = [
    "LATTICE_ANGSTROM",
    "mm_relax",
    "water64",
    "nacl_aq",
    "kcl_aq",
    "alanine_dipeptide_aq",
    "nacl_crystal",
    "baTiO3",
    "rocksalt_crystal",
    "electrolyte",
    "naf_crystal",
]


# -- systems: builders return (topology, positions [n, 3] nm, {label: (A, B, intermolecular)}) --
def mm_relax(topology, positions, forcefield=None, iterations: int = 500) -> np.ndarray:
    """Positions (nm) minimised with AMBER14/TIP3P (rigid water, PME, 0.55 nm cutoff)."""
    ff = forcefield or app.ForceField("amber14/tip3p.xml")
    system = ff.createSystem(topology, nonbondedMethod=app.PME, nonbondedCutoff=0.55 * u.nanometer)
    platform = openmm.Platform.getPlatformByName("Reference")
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), platform)
    context.setPositions(positions)
    openmm.LocalEnergyMinimizer.minimize(context, 1.0, iterations)
    state = context.getState(getPositions=True)
    return np.asarray(state.getPositions(asNumpy=True).value_in_unit(u.nanometer))


def _solvate(modeller, box_nm: float, forcefield=None, molar: float = 0.0, cation: str = "Na+"):
    ff = forcefield or app.ForceField("amber14/tip3p.xml")
    size = (box_nm, box_nm, box_nm) * u.nanometer
    modeller.addSolvent(ff, boxSize=size, ionicStrength=molar * u.molar, positiveIon=cation)
    pos = np.asarray(modeller.positions.value_in_unit(u.nanometer))
    return modeller.topology, mm_relax(modeller.topology, pos, ff)


def water64(n_waters: int = 64, density_g_cm3: float = 1.0):
    """``n_waters`` waters in a periodic cube at ``density_g_cm3`` (Modeller's, compressed)."""
    modeller = app.Modeller(app.Topology(), [])
    modeller.addSolvent(app.ForceField("amber14/tip3p.xml"), numAdded=n_waters)
    topology = modeller.topology
    assert topology.getNumResidues() == n_waters
    pos = np.asarray(modeller.positions.value_in_unit(u.nanometer))  # [3n, 3] nm
    old = topology.getPeriodicBoxVectors()[0][0].value_in_unit(u.nanometer)
    side = (n_waters * 18.015 / 6.02214076e23 / density_g_cm3) ** (1 / 3) * 1e7  # cm -> nm
    for residue in topology.residues():
        idx = [a.index for a in residue.atoms()]
        pos[idx] += (side / old - 1.0) * pos[idx[0]]  # move each molecule rigidly with its O
    topology.setUnitCellDimensions((side, side, side) * u.nanometer)
    return topology, mm_relax(topology, pos), {"O-O": ("O", "O", 0), "O-H inter": ("O", "H", 1)}


def nacl_aq(box_nm: float = 1.6, molar: float = 1.0):
    """NaCl(aq) at ``molar`` (mol/L) in a cubic water box of ``box_nm`` (nm)."""
    topology, pos = _solvate(app.Modeller(app.Topology(), []), box_nm, molar=molar)
    return topology, pos, {k: (*k.split("-"), 0) for k in ("Na-O", "Cl-O", "O-O")}


def kcl_aq(box_nm: float = 1.6, molar: float = 2.0):
    """KCl(aq) at ``molar`` (mol/L) in a cubic water box of ``box_nm`` (nm): 2 M by default."""
    topology, pos = _solvate(app.Modeller(app.Topology(), []), box_nm, molar=molar, cation="K+")
    return topology, pos, {k: (*k.split("-"), 0) for k in ("K-O", "Cl-O", "O-O")}


def alanine_dipeptide_aq(box_nm: float = 1.6):
    """ACE-ALA-NME (openmmtools' PDB) in a cubic TIP3P box of ``box_nm`` (nm)."""
    spec = importlib.util.find_spec("openmmtools")
    if spec is None:
        raise ImportError("alanine_dipeptide_aq reads openmmtools' PDB: pip install openmmtools")
    folder = Path(spec.submodule_search_locations[0]) / "data" / "alanine-dipeptide-gbsa"
    pdb = app.PDBFile(str(folder / "alanine-dipeptide.pdb"))
    ff = app.ForceField("amber14-all.xml", "amber14/tip3p.xml")
    topology, pos = _solvate(app.Modeller(pdb.topology, pdb.positions), box_nm, ff)
    return topology, pos, {"O-O": ("O", "O", 0)}  # includes the 2 peptide O (of ~110)


def _crystal(atoms, pairs):
    return topologyFromAtoms(atoms, bondScale=0), atoms.positions * units.ANGSTROM_TO_NM, pairs


def nacl_crystal(a: float = 5.64, repeat: int = 2):
    """Rocksalt NaCl, ``repeat``³ conventional cells of lattice constant ``a`` (Å)."""
    atoms = bulk("NaCl", "rocksalt", a=a, cubic=True).repeat(repeat)
    return _crystal(atoms, {"Na-Cl": ("Na", "Cl", 0)})


def baTiO3(a: float = 4.00, repeat: int = 3):
    """Cubic perovskite BaTiO3, ``repeat``³ cells of lattice constant ``a`` (Å)."""
    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    cell = Atoms("BaTiO3", scaled_positions=frac, cell=[a, a, a], pbc=True)
    return _crystal(cell.repeat(repeat), {"Ti-O": ("Ti", "O", 0), "Ba-O": ("Ba", "O", 0)})


# Rocksalt lattice constants (Å) at the minimum of the shipped model's energy (scan of the
# 8-atom cubic cell, 0 K); experiment at room temperature: LiF 4.03, NaF 4.63.
LATTICE_ANGSTROM = {"NaF": 4.45, "LiF": 4.10}


def rocksalt_crystal(
    formula: str = "NaF",
    repeat: int = 2,
    lattice: float | None = None,
    rattle: float = 0.05,
    seed: int = 2,
):
    """Rocksalt supercell (cubic cell of 8 atoms repeated ``repeat`` times per axis).

    Parameters
    ----------
    formula : str
        Binary salt, e.g. ``"NaF"``.
    repeat : int
        Repetitions of the 8-atom cubic cell along each axis (2 -> 64 atoms).
    lattice : float, optional
        Cubic lattice constant (Å); default :data:`LATTICE_ANGSTROM` of ``formula``.
    rattle : float
        Standard deviation of random displacements (Å) that break the lattice symmetry.
    seed : int
        Seed of the displacements.

    Returns
    -------
    ase.Atoms
        Periodic structure (positions and cell in Å).
    """
    a = lattice if lattice is not None else LATTICE_ANGSTROM[formula]
    atoms = bulk(formula, "rocksalt", a=a, cubic=True).repeat(repeat)
    if rattle > 0:
        atoms.rattle(rattle, seed=seed)
    return atoms


def electrolyte(box_nm: float = 1.9, molar: float = 1.0):
    """Topology and positions (nm) of a periodic water box with NaCl at ``molar``.

    Modeller's box has close contacts across its faces and next to the ions (H 0.13 nm from
    Na⁺); they are removed by a short AMBER14/TIP3P minimisation before the ML model sees them.
    """
    ff = app.ForceField("amber14/tip3p.xml")
    modeller = app.Modeller(app.Topology(), [])
    size = openmm.Vec3(box_nm, box_nm, box_nm) * u.nanometer
    modeller.addSolvent(
        ff, boxSize=size, positiveIon="Na+", negativeIon="Cl-", ionicStrength=molar * u.molar
    )
    positions = np.asarray(modeller.positions.value_in_unit(u.nanometer))
    return modeller.topology, mm_relax(modeller.topology, positions, ff)


def naf_crystal(repeat: int = 2):
    """Topology and positions (nm) of rocksalt NaF at the shipped model's lattice constant
    (``repeat``³ cubic cells of 8 atoms, rattled as :func:`rocksalt_crystal`)."""
    atoms = rocksalt_crystal("NaF", repeat=repeat)
    return topologyFromAtoms(atoms, bondScale=0), atoms.positions * units.ANGSTROM_TO_NM
