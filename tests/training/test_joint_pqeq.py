"""Joint fitting of bounded PQEq element parameters with the network.

The engine returns charges and shells as constants (Hellmann–Feynman), so the parameters learn
from the energy (and the forces' explicit parameter dependence); the dipole term enters the loss
but carries no gradient to the parameters (no implicit differentiation of the solve).
"""

import pytest
import torch

from openmm_polarml.data_io import atoms_to_frame, collate
from openmm_polarml.data_io import keys as K
from openmm_polarml.training import Trainer
from tests.model.helpers import molecule, tiny_model
from tests.training.helpers import TINY_NET

pytest.importorskip("openmm_polarml.pqeq")


def _teacher_frames(n=6):
    """Clusters labelled by a model whose PQEq electronegativities differ from the table."""
    teacher = tiny_model("float64", pqeq={"long_range": "direct", "trainable": True}, seed=3)
    with torch.no_grad():
        teacher.pqeq.element_parameters.chi[[1, 6, 7, 8]] += torch.tensor(
            [0.8, -0.5, 0.6, -0.7], dtype=torch.float64
        )
    frames = []
    for k in range(n):
        f = atoms_to_frame(molecule(20 + k, n=5))
        out = teacher(collate([f]), compute_forces=True)
        f[K.ENERGY] = out["energy"].detach()
        f[K.FORCES] = out["forces"].detach()
        f[K.DIPOLE] = out["dipole"].detach()
        for key in (K.HAS_ENERGY, K.HAS_FORCES, K.HAS_DIPOLE):
            f[key] = torch.tensor([True])
        frames.append(f)
    return frames


def test_joint_fit_moves_pqeq_parameters_and_lowers_the_loss(tmp_path):
    frames = _teacher_frames()
    cfg = {
        "model": {
            "preset": "small",
            "network": dict(TINY_NET),
            "d3": None,
            "pqeq": {"long_range": "direct", "trainable": True},
        },
        "data": {"train": "given"},
        "training": {
            "output_dir": str(tmp_path),
            "epochs": 8,
            "batch_size": 3,
            "lr": 5e-3,
            "progress": False,
            "dtype": "float64",
            "ema_decay": 0.0,
            "scheduler": "constant",
            "loss_weights": {"energy": 1.0, "forces": 1.0, "dipole": 10.0},
        },
    }
    trainer = Trainer(cfg, splits={"train": frames, "validation": frames, "test": []})
    assert trainer.joint and not trainer.delta
    chi0 = trainer.model.pqeq.element_parameters.chi.detach().clone()
    before = trainer.validation_loss()
    hist = trainer.fit()
    chi1 = trainer.model.pqeq.element_parameters.chi.detach()
    assert float((chi1 - chi0)[[1, 6, 7, 8]].abs().max()) > 1e-3
    assert float((chi1 - chi0)[20:].abs().max()) == 0.0  # absent elements untouched
    assert hist[-1]["validation"]["loss"] < 0.8 * before["loss"]
    assert "dipole" in hist[-1]["validation"]
