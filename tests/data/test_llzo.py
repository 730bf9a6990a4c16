"""LLZO cells: the paper's density, the stoichiometric octant, and the teacher candidates."""

import numpy as np
import pytest

from openmm_polarml.data import llzo, structures

pytestmark = pytest.mark.skipif(
    not (llzo.DATA / "init.vasp").exists(), reason="../shared/data/reaxnet/LLZO absent"
)


def test_octant_is_stoichiometric_at_the_papers_density():
    import ase.io

    paper = ase.io.read(llzo.DATA / "1400_final.vasp")
    octant = llzo.llzo_cell(1400)
    assert octant.get_chemical_formula() == "La24Li56O96Zr16"
    assert len(paper) == 8 * len(octant)
    assert 8 * octant.get_volume() == pytest.approx(paper.get_volume(), rel=1e-10)
    with pytest.raises(FileNotFoundError, match="800, 1000"):
        llzo.llzo_cell(900)


def test_pushed_li_pair_lands_at_the_drawn_distance():
    rng = np.random.default_rng(4)
    atoms = llzo.llzo_cell(1000)
    step = llzo.push_li_pair(atoms, rng)
    pair, distances = step[len("li_contact(") : -2].split(":")
    first, partner = map(int, pair.split(","))
    target = float(distances.split("->")[1])
    assert atoms.numbers[first] == atoms.numbers[partner] == 3
    assert atoms.get_distance(first, partner, mic=True) == pytest.approx(target, abs=5e-3)
    assert llzo.LI_CONTACT[0] <= target <= llzo.LI_CONTACT[1]


def test_candidates_are_valid_and_reproducible():
    first = llzo.llzo_candidates(3, np.random.default_rng(2))
    again = llzo.llzo_candidates(3, np.random.default_rng(2))
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.positions, b.positions) and len(a) == 192
        assert not structures.too_close(a) and a.info["family"] == "llzo"
