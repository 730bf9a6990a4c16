"""Tiny labelled data sets and configurations for training tests."""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

DEMO = "/work/shared/data/reaxnet/demo.traj"

TINY_NET = {
    "num_layers": 1,
    "hidden_irreps": "8x0e+4x1o",
    "l_max": 1,
    "radial_hidden": 8,
    "r_max": 4.0,
}


def emt_frames(n=6, seed=0):
    """Rattled, strained Cu/Al cells labelled by ase's EMT (energy, forces, stress)."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        a = (
            bulk("Cu", "fcc", a=3.6, cubic=True)
            if k % 2 == 0
            else bulk("Al", "fcc", a=4.05, cubic=True)
        )
        a.set_cell(a.cell.array @ (np.eye(3) + 0.02 * rng.normal(size=(3, 3))), scale_atoms=True)
        a.rattle(0.08, seed=int(rng.integers(1 << 30)))
        a.calc = EMT()
        a.get_potential_energy()
        a.get_forces()
        a.get_stress()
        frames.append(a)
    return frames


def write_frames(path, frames):
    import ase.io

    ase.io.write(str(path), frames)
    return str(path)


def tiny_config(train_path, out_dir, **training):
    return {
        "model": {"preset": "small", "network": dict(TINY_NET), "d3": None, "pqeq": None},
        "data": {"train": train_path, "split": [0.67, 0.33, 0.0], "seed": 0},
        "training": {
            "output_dir": str(out_dir),
            "epochs": 4,
            "batch_size": 2,
            "progress": False,
            "lr": 5e-3,
            "ema_decay": 0.9,
            "dtype": "float64",
            **training,
        },
    }
