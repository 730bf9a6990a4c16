"""Structures in, batched dict-of-tensors out: reading (anything ase reads), batching, splits, statistics."""

from openmm_polarml.data_io import keys
from openmm_polarml.data_io.dataset import (
    atoms_to_frame,
    collate,
    frame_to_atoms,
    read_frames,
    split_indices,
)
from openmm_polarml.data_io.statistics import dataset_statistics, reference_energies

__all__ = [
    "keys",
    "atoms_to_frame",
    "collate",
    "frame_to_atoms",
    "read_frames",
    "split_indices",
    "dataset_statistics",
    "reference_energies",
]
