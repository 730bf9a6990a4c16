"""Reference data sets: real DFT labels from registry packages, resumable seeded shards.

The folder also holds ``pqeq_parameters.csv`` (loaded by path by :mod:`openmm_polarml.pqeq`)
and ``DATA_CARD.md`` (sources, licences, counts, regeneration commands).
"""

from openmm_polarml.data.shards import read_frames, run_shards, sha256_file, write_frames
from openmm_polarml.data.sources import dedup, read_demo_traj, read_mattersim, read_mlearn

__all__ = [
    "dedup",
    "read_demo_traj",
    "read_frames",
    "read_mattersim",
    "read_mlearn",
    "run_shards",
    "sha256_file",
    "write_frames",
]
