"""Structural integrity of an MD frame: broken bonds, fused atoms, unphysical H···H contacts.

:class:`IntegrityChecker` tests one frame against the topology and the initial geometry
(``examples/stability_runs.py --recheck`` replays a saved trajectory through it). Distances in
nm unless a name says Å.

Criteria (a frame fails at the first that holds):

- bond broken: a Topology bond longer than :data:`BOND_STRETCH_MAX` times its initial length
  (water O–H: longer than :data:`WATER_OH_MAX_NM`);
- atoms fused: two atoms that are not 1-2 or 1-3 bonded closer (minimum image) than
  :data:`FUSED_FRACTION` times the sum of their covalent radii (``ase.data.covalent_radii``);
- H···H contact: two hydrogens that are not 1-2 or 1-3 bonded closer than
  :data:`H_CONTACT_MIN_NM` (1.3 Å, between the H2 bond, 0.74 Å, and a van der Waals contact,
  ~2.2 Å). Closed-shell molecules do not do this at 300 K: the shortest intermolecular H···H
  contacts in crystals (dihydrogen bonds of hydridic H) are ~1.7 Å, and GFN2-xTB puts a water
  H 1.0 Å from a methyl H of solvated alanine dipeptide +0.6 eV above the relaxed contact
  (``openmm_polarml.data.solvated``). In the stage-3 model's 20 ps 64-water run the closest
  H···H pair of a frame was never below 1.5 Å (median 1.75 Å). The covalent-radius test alone
  allows H···H down to 0.37 Å;
- temperature at or above :data:`T_MAX_K`, or non-finite positions or energy.
"""

from __future__ import annotations

import math

import numpy as np
from ase.data import covalent_radii

WATER_OH_MAX_NM = 0.13
BOND_STRETCH_MAX = 1.3
FUSED_FRACTION = 0.6
H_CONTACT_MIN_NM = 0.13
T_MAX_K = 1000.0


def minimum_image(d: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Minimum-image displacements ``d`` [..., 3] (nm) in a cell of row vectors ``box`` (nm)."""
    frac = d @ np.linalg.inv(box)
    return (frac - np.round(frac)) @ box


class IntegrityChecker:
    """Bond, contact, temperature and energy checks against the initial geometry.

    Parameters
    ----------
    topology : openmm.app.Topology
        Elements and bonds (water is recognised by the residue name ``HOH``).
    reference : numpy.ndarray
        ``[n, 3]`` initial positions (nm): each bond's initial length.
    box : numpy.ndarray
        ``[3, 3]`` periodic cell (nm, rows).
    """

    def __init__(self, topology, reference, box):
        atoms = list(topology.atoms())
        self.symbols = [a.element.symbol for a in atoms]
        radii = np.array([covalent_radii[a.element.atomic_number] for a in atoms]) * 0.1  # nm
        self.covsum = radii[:, None] + radii[None, :]  # [n, n] nm
        self.bonds = np.array([(a.index, b.index) for a, b in topology.bonds()], int).reshape(-1, 2)
        bonded = np.zeros(self.covsum.shape, dtype=int)
        bonded[self.bonds[:, 0], self.bonds[:, 1]] = bonded[self.bonds[:, 1], self.bonds[:, 0]] = 1
        self.excluded = (bonded + bonded @ bonded) > 0  # 1-2 and 1-3 pairs
        np.fill_diagonal(self.excluded, True)
        self.limit = np.where(self.excluded, 0.0, FUSED_FRACTION * self.covsum)  # [n, n] nm
        hydrogen = np.array([s == "H" for s in self.symbols])
        self.hh = hydrogen[:, None] & hydrogen[None, :] & ~self.excluded  # [n, n] bool
        i, j = self.bonds.T
        self.r0 = np.linalg.norm(minimum_image(reference[i] - reference[j], box), axis=-1)
        self.bond_max = BOND_STRETCH_MAX * self.r0  # [n_bonds] nm
        for k, (a, b) in enumerate(topology.bonds()):
            if a.residue.name == "HOH" and "O" in (a.element.symbol, b.element.symbol):
                self.bond_max[k] = WATER_OH_MAX_NM

    def _pair(self, a, b, d, limit) -> str:
        return f"{self.symbols[a]}{a}-{self.symbols[b]}{b} at {d * 10:.2f} A (limit {limit * 10:.2f} A)"

    def check(self, positions, box, temperature: float = 300.0, energy: float = 0.0):
        """Check one frame: positions [n, 3] (nm), box [3, 3] (nm), temperature (K), energy.

        Returns
        -------
        tuple
            ``(reason or None, stats)``; ``stats`` holds ``min_distance_A`` (closest pair that is
            not 1-2/1-3 bonded, Å), ``min_hh_A`` (closest such H···H pair, Å; None without two
            hydrogens), ``min_contact_ratio`` (smallest ratio of such a distance to the
            covalent-radius sum) and ``max_bond_stretch`` (largest bond length / initial length).
        """
        positions = np.asarray(positions, dtype=np.float64)
        if not (np.isfinite(positions).all() and math.isfinite(energy)):
            return "non-finite positions or energy", {}
        d = np.linalg.norm(minimum_image(positions[:, None] - positions[None, :], box), axis=-1)
        free = np.where(self.excluded, np.inf, d)  # [n, n] nm
        hh = np.where(self.hh, d, np.inf)  # [n, n] nm
        lengths = d[self.bonds[:, 0], self.bonds[:, 1]]
        stats = {
            "min_distance_A": float(free.min() * 10),
            "min_hh_A": float(hh.min() * 10) if self.hh.any() else None,
            "min_contact_ratio": float((free / self.covsum).min()),
            "max_bond_stretch": float((lengths / self.r0).max()) if len(lengths) else 1.0,
        }
        broken = np.flatnonzero(lengths > self.bond_max)
        if len(broken):
            k = broken[0]
            return "bond broken: " + self._pair(*self.bonds[k], lengths[k], self.bond_max[k]), stats
        fused = np.argwhere(free < self.limit)
        if len(fused):
            a, b = fused[0]
            return "atoms fused: " + self._pair(a, b, d[a, b], self.limit[a, b]), stats
        contact = np.argwhere(hh < H_CONTACT_MIN_NM)
        if len(contact):
            a, b = contact[0]
            return "H...H contact: " + self._pair(a, b, d[a, b], H_CONTACT_MIN_NM), stats
        if not temperature < T_MAX_K:
            return f"temperature {temperature:.0f} K >= {T_MAX_K:.0f} K", stats
        return None, stats


def water_intact(topology, positions, max_oh_nm: float = 0.13) -> bool:
    """Whether every Topology bond (in a water box: every O–H) stays below ``max_oh_nm`` (nm),
    measured by minimum image in the topology's rectangular box; ``positions`` [n, 3] in nm.
    The quickstart's quick probe; :class:`IntegrityChecker` is the full test."""
    import openmm.unit as u

    vectors = topology.getPeriodicBoxVectors()
    box = np.array([vectors[i][i].value_in_unit(u.nanometer) for i in range(3)])  # [3] nm
    for a, b in topology.bonds():
        d = positions[a.index] - positions[b.index]
        d -= box * np.round(d / box)
        if np.linalg.norm(d) > max_oh_nm:
            return False
    return True
