"""Solvated-peptide active-learning candidates (openmm_polarml/data/solvated.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from openmm_polarml.data import solvated
from openmm_polarml.data.shards import read_frames


@pytest.fixture(scope="module")
def seeds():
    return read_frames(solvated.SEEDS)


def test_seed_clusters_hold_a_whole_peptide_and_whole_waters(seeds):
    assert len(seeds) == 53
    for seed in seeds:
        n_pep = int(seed.info["peptide_atoms"])
        assert n_pep == 22 and (len(seed) - n_pep) % 3 == 0
        assert seed.get_chemical_formula(mode="hill").startswith("C6H")
        for o in range(n_pep, len(seed), 3):
            assert seed.numbers[o] == 8
            assert seed.get_distances(o, [o + 1, o + 2]).max() < 1.2  # no water cut at a seam
            assert np.linalg.norm(seed.positions[:n_pep] - seed.positions[o], axis=1).min() < 4.0


@pytest.mark.parametrize("kind", sorted(solvated.KINDS))
def test_candidates_perturb_what_their_label_says(seeds, kind):
    rng = np.random.default_rng(7)
    for _ in range(5):
        seed = seeds[int(rng.integers(len(seeds)))]
        atoms = solvated.candidate(seed, kind, np.random.default_rng(int(rng.integers(1 << 30))))
        assert atoms.info["charge"] == 0 and len(atoms) == len(seed)
        assert np.array_equal(atoms.numbers, seed.numbers)
        label = atoms.info["generator"]
        match = re.search(r"(N|O)(\d+)-H(\d+)->(O\d+|bond),([\d.]+)A", label)
        d = atoms.get_all_distances()
        assert d[~np.eye(len(atoms), dtype=bool)].min() >= solvated.MIN_DISTANCE - 0.2
        if kind in ("nh_stretch", "oh_stretch"):
            donor, h, distance = int(match[2]), int(match[3]), float(match[5])
            # the stretch sets the distance; the rattle afterwards is at most ~0.2 Å
            assert abs(atoms.get_distance(donor, h) - distance) < 0.25
            assert (1.1 if kind == "nh_stretch" else 1.05) <= distance <= 1.75
            if match[4] != "bond":  # moved toward an O of another molecule, in line
                acceptor = int(match[4][1:])
                assert atoms.get_angle(donor, h, acceptor) > solvated.MIN_HBOND_ANGLE - 25
        else:
            assert match is None


@pytest.fixture(scope="module")
def contact_seeds():
    return read_frames(solvated.CONTACT_SEEDS)


@pytest.mark.parametrize("kind", sorted(solvated.CONTACT_RANGES))
def test_contact_candidates_place_one_rigid_water_at_the_drawn_contact(contact_seeds, kind):
    element, lo, hi = solvated.CONTACT_RANGES[kind]
    rng = np.random.default_rng(11)
    for _ in range(6):
        seed = contact_seeds[int(rng.integers(len(contact_seeds)))]
        n_pep = int(seed.info["peptide_atoms"])
        atoms = solvated.candidate(seed, kind, np.random.default_rng(int(rng.integers(1 << 30))))
        match = re.search(r"\((H|O)(\d+)->H(\d+),([\d.]+)A\)", atoms.info["generator"])
        moved, target, distance = int(match[2]), int(match[3]), float(match[4])
        assert match[1] == element and lo <= distance <= hi
        assert atoms.numbers[moved] == (1 if element == "H" else 8) and moved >= n_pep
        assert atoms.numbers[target] == 1
        if kind == "ww_hh_contact":
            assert target >= n_pep and (target - n_pep) // 3 != (moved - n_pep) // 3
        else:  # a hydrogen of a peptide carbon
            carbons = atoms.positions[:n_pep][atoms.numbers[:n_pep] == 6]
            assert (
                target < n_pep
                and np.linalg.norm(carbons - atoms.positions[target], axis=1).min() < 1.3
            )
        assert abs(atoms.get_distance(moved, target) - distance) < 0.25  # rattle ~0.04 Å per axis
        water = [n_pep + 3 * ((moved - n_pep) // 3) + k for k in range(3)]
        # the water moved as a rigid body: its internal geometry is the seed's (up to the rattle)
        assert np.allclose(
            atoms.get_all_distances()[np.ix_(water, water)],
            seed.get_all_distances()[np.ix_(water, water)],
            atol=0.25,
        )
        others = [i for i in range(len(atoms)) if i not in water and i != target]
        gaps = np.linalg.norm(
            atoms.positions[others][:, None] - atoms.positions[water][None], axis=-1
        )
        assert gaps.min() > solvated.CLASH_DISTANCE - 0.25
