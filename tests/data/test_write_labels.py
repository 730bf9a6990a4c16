"""Frames as ase reads them (labels in an attached calculator) keep their labels when written."""

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from openmm_polarml.data import read_frames, write_frames
from openmm_polarml.data_io import atoms_to_frame
from openmm_polarml.data_io import keys as K


def test_calculator_labels_survive_a_write_and_read(tmp_path):
    atoms = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    forces = np.arange(9.0).reshape(3, 3) * 0.01
    atoms.calc = SinglePointCalculator(atoms, energy=-12.5, forces=forces, dipole=[0.1, 0, 0])
    write_frames(tmp_path / "f.extxyz.gz", [atoms])
    (back,) = read_frames(tmp_path / "f.extxyz.gz")
    frame = atoms_to_frame(back)
    assert bool(frame[K.HAS_ENERGY][0]) and bool(frame[K.HAS_FORCES][0])
    assert float(frame[K.ENERGY][0]) == -12.5
    np.testing.assert_allclose(frame[K.FORCES].numpy(), forces, atol=1e-6)
    np.testing.assert_allclose(frame[K.DIPOLE].numpy()[0], [0.1, 0, 0])
