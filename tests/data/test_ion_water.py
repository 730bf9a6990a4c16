"""Ion–water dissociation curves and bare ions (openmm_polarml/data/ion_water.py)."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from openmm_polarml.data import ion_water
from openmm_polarml.data.molecules import ANIONS, CATIONS
from openmm_polarml.pqeq.charge_groups import charge_groups_of_atoms

LABEL = re.compile(r"(\w+)\(([A-Z][a-z]?)((?:,[\d.]+A)*)\)")


def test_candidates_sit_at_their_labelled_distances_with_the_water_facing_the_ion():
    candidates = ion_water.ion_water_candidates(150, np.random.default_rng(5))
    kinds = Counter(a.info["kind"] for a in candidates)
    assert set(kinds) == set(ion_water.KINDS)
    assert kinds["ion_water_curve"] > kinds["ion_two_waters"] > kinds["bare_ion"]
    facing = []
    for atoms in candidates:
        m = LABEL.fullmatch(atoms.info["generator"])
        kind, ion = m[1], m[2]
        distances = [float(x) for x in m[3].strip(",").rstrip("A").split("A,") if x]
        assert kind == atoms.info["kind"] and atoms.get_chemical_symbols()[0] == ion
        assert atoms.info["charge"] == {**CATIONS, **ANIONS}[ion]
        assert len(atoms) == 1 + 3 * len(distances)
        for k, r in enumerate(distances):
            o, h1, h2 = 1 + 3 * k, 2 + 3 * k, 3 + 3 * k
            d = atoms.get_distances(0, [o, h1, h2])  # [3] Å
            near = d[0] if ion in CATIONS else d[1]  # cation–O or anion–H (the bound H)
            assert abs(near - r) < 0.1  # rattled by 0.02 Å per axis
            # the oxygen faces a cation, an O–H bond an anion (but for the widest tilts)
            facing.append(d[0] < min(d[1], d[2]) if ion in CATIONS else d[1] < min(d[0], d[2]))
            assert r <= ion_water.MAX_DISTANCE + 1e-9
        # the molecules charge model sees the ion at its formal charge and neutral waters
        groups = charge_groups_of_atoms(atoms)
        assert not groups.global_fallback
        assert sorted(groups.charges) == sorted([atoms.info["charge"]] + [0.0] * len(distances))
    assert np.mean(facing) > 0.9  # a Gaussian tilt of 20°: a few draws beyond ~40° turn it


def test_curves_cover_the_minimum_and_the_tail():
    candidates = ion_water.ion_water_candidates(300, np.random.default_rng(1))
    ratios = []
    for atoms in candidates:
        if atoms.info["kind"] == "ion_water_curve":
            ion = atoms.get_chemical_symbols()[0]
            r = float(atoms.info["generator"].split(",")[1].rstrip("A)"))
            ratios.append(r / ion_water.CONTACT_DISTANCE[ion])
    ratios = np.array(ratios)
    assert ((ratios > 0.84) & (ratios < 1.31)).mean() > 0.5  # near the minimum
    assert (ratios > 2.0).mean() > 0.1  # the tail beyond the 5 Å cutoffs


def test_candidates_are_seeded():
    a = ion_water.ion_water_candidates(5, np.random.default_rng(9))
    b = ion_water.ion_water_candidates(5, np.random.default_rng(9))
    for x, y in zip(a, b, strict=True):
        assert x.info == y.info and np.array_equal(x.positions, y.positions)
