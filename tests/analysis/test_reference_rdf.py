"""Droplet MD and first peaks (analysis/droplet_md.py, droplet_rdf.py; examples/reference_rdf.py):
first-peak finder on known distances, resumable droplet MD."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones
from ase.io import Trajectory, write

from openmm_polarml.analysis import droplet_md, droplet_rdf


def _jittered_pairs(distance: float, n_frames: int = 50, seed: int = 0) -> list[Atoms]:
    """Frames of one Na and four O on a line's perpendicular ring at ``distance`` Å, jittered."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_frames):
        r = distance + rng.normal(0.0, 0.03, 4)  # Å
        angles = np.arange(4) * np.pi / 2
        o = np.stack([r * np.cos(angles), r * np.sin(angles), np.zeros(4)], axis=1)  # [4, 3]
        frames.append(Atoms("NaO4", positions=np.vstack([[0.0, 0.0, 0.0], o])))
    return frames


@pytest.mark.parametrize("distance", [2.23, 2.41])
def test_first_peak_finds_the_imposed_distance(distance):
    peak = droplet_rdf.histogram_peak(_jittered_pairs(distance), "Na", "O", (1.9, 2.9))
    assert abs(peak - distance) <= droplet_rdf.BIN_A  # one histogram bin


def test_first_peak_of_like_pairs():
    # O-O in the square of four O: sides r*sqrt(2), diagonals 2r; the sides dominate
    frames = _jittered_pairs(2.0)
    peak = droplet_rdf.histogram_peak(frames, "O", "O", (2.4, 3.3))
    assert abs(peak - 2.0 * np.sqrt(2.0)) <= 2 * droplet_rdf.BIN_A


def test_droplet_md_resumes_without_duplicate_frames(tmp_path):
    argon = Atoms("Ar4", positions=[[0, 0, 0], [3.8, 0, 0], [0, 3.8, 0], [0, 0, 3.8]])
    initial, traj = tmp_path / "initial.extxyz", tmp_path / "lj.traj"
    write(str(initial), argon)
    calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=10.0)
    droplet_md.run_md(initial, calc, traj, steps=20, seed=1)
    assert len(Trajectory(str(traj))) == 20 // droplet_md.FRAME_EVERY + 1
    first = Trajectory(str(traj))[-1].positions.copy()
    droplet_md.run_md(initial, calc, traj, steps=40, seed=1)  # resumed from the stored last frame
    frames = Trajectory(str(traj))
    assert len(frames) == 40 // droplet_md.FRAME_EVERY + 1
    np.testing.assert_allclose(frames[20 // droplet_md.FRAME_EVERY].positions, first)
    assert not np.allclose(frames[-1].positions, first)  # it moved on
    droplet_md.run_md(initial, calc, traj, steps=40, seed=1)  # already done: nothing appended
    assert len(Trajectory(str(traj))) == 40 // droplet_md.FRAME_EVERY + 1
