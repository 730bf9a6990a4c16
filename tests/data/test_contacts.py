"""Small-molecule contact pairs (openmm_polarml/data/contacts.py)."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from openmm_polarml.data import contacts

LABEL = re.compile(r"contact\((\w+):([A-Z][a-z]?)(\d+)-(\w+):([A-Z][a-z]?)(\d+),([\d.]+)A\)")


def test_each_candidate_has_its_labelled_contact_as_the_closest_intermolecular_pair():
    candidates = contacts.contact_candidates(120, np.random.default_rng(3))
    kinds = Counter(a.info["kind"] for a in candidates)
    assert set(kinds) == {"contact_HH", "contact_HX", "contact_XX"}
    assert kinds["contact_HH"] > kinds["contact_XX"]  # weights 0.5 / 0.3 / 0.2
    for atoms in candidates:
        m = LABEL.fullmatch(atoms.info["generator"])
        first, a, b, r = m[1], int(m[3]), int(m[6]), float(m[7])
        n = atoms.info["first_molecule_atoms"]
        assert atoms.info["charge"] == 0 and a < n <= b
        kind = atoms.info["kind"].removeprefix("contact_")
        first_h, second_h, (lo, hi), _ = contacts.CONTACTS[kind]
        assert (m[2] == "H") == first_h and (m[5] == "H") == second_h
        symbols = atoms.get_chemical_symbols()
        assert symbols[a] == m[2] and symbols[b] == m[5]
        assert lo <= r <= hi and m[1] in contacts.MOLECULES and m[4] in contacts.MOLECULES
        assert len(atoms) - n == len(contacts.g2[m[4]]) and n == len(contacts.g2[first])
        between = atoms.get_all_distances()[:n, n:]  # [n, m] Å
        # rattled by 0.02 Å per axis: the placed pair within ~0.1 Å of its label and the closest
        assert abs(between[a, b - n] - r) < 0.12
        others = between.copy()
        others[a, b - n] = np.inf
        assert others.min() > between[a, b - n] + contacts.MARGIN - 0.15


def test_candidates_are_seeded():
    one = contacts.contact_candidates(5, np.random.default_rng(9))
    two = contacts.contact_candidates(5, np.random.default_rng(9))
    assert [a.info["generator"] for a in one] == [a.info["generator"] for a in two]
    assert all(np.array_equal(x.positions, y.positions) for x, y in zip(one, two, strict=True))
