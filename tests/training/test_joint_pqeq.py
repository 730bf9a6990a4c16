"""Joint fitting of bounded PQEq element parameters with the network.

With a dipole loss the charges and shells carry implicit derivatives through the solve
(:mod:`openmm_polarml.pqeq.implicit`), so the dipole reaches the parameters as well as the
energy and forces.
"""

import pytest
import torch

from openmm_polarml.data_io import atoms_to_frame, collate, reference_energies
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
    weights = {"energy": 1.0, "forces": 1.0, "dipole": 10.0}
    trainer = _joint_trainer(tmp_path, frames, epochs=8, batch_size=3, loss_weights=weights)
    assert trainer.joint and not trainer.delta
    chi0 = trainer.model.pqeq.element_parameters.chi.detach().clone()
    before = trainer.validation_loss()
    hist = trainer.fit()
    chi1 = trainer.model.pqeq.element_parameters.chi.detach()
    assert float((chi1 - chi0)[[1, 6, 7, 8]].abs().max()) > 1e-3
    assert float((chi1 - chi0)[20:].abs().max()) == 0.0  # absent elements untouched
    assert hist[-1]["validation"]["loss"] < 0.8 * before["loss"]
    assert "dipole" in hist[-1]["validation"]


def test_refit_shifts_on_total_energies_recovers_per_element_offsets():
    """Joint fitting trains on total energies: the shift refit must compare them with the full
    model (network + PQEq), not with the network alone."""
    from openmm_polarml.training.finetune import refit_shifts

    model = tiny_model("float64", pqeq={"long_range": "direct"}, seed=1)
    offset = {1: 0.3, 6: -1.2, 7: 0.7, 8: -0.4}  # eV per atom of each element
    frames = []
    for k in range(12):
        f = atoms_to_frame(molecule(40 + k, n=5))
        with torch.no_grad():
            exact = model(collate([f]), compute_forces=False)["energy"].detach()
        shift = sum(offset[int(z)] for z in f[K.NUMBERS])
        f[K.ENERGY] = exact + shift
        f[K.HAS_ENERGY] = torch.tensor([True])
        frames.append(f)
    added = [sum(offset[int(z)] for z in f[K.NUMBERS]) for f in frames]  # eV per frame
    expected = reference_energies(frames, added)  # [95] the (ridge) fit of the offsets alone
    before = model.shortrange.network.shift.detach().clone()
    refit_shifts(model, frames, full_energy=True)
    moved = model.shortrange.network.shift.detach() - before  # [95] eV
    for z, value in offset.items():
        assert float(moved[z]) == pytest.approx(float(expected[z]), abs=1e-8)
        assert float(moved[z]) == pytest.approx(value, abs=0.02)  # ridge shrinks a little


def _joint_trainer(tmp_path, frames, epochs=1, pqeq=None, **training):
    """A joint trainer; ``pqeq`` the PQEq spec (default: the element table trainable)."""
    cfg = {
        "model": {
            "preset": "small",
            "network": dict(TINY_NET),
            "d3": None,
            "pqeq": pqeq or {"long_range": "direct", "trainable": True},
        },
        "data": {"train": "given"},
        "training": {
            "output_dir": str(tmp_path),
            "epochs": epochs,
            "batch_size": 1,
            "lr": 5e-3,
            "progress": False,
            "dtype": "float64",
            "ema_decay": 0.0,
            "scheduler": "constant",
            "loss_weights": {"energy": 1.0, "forces": 1.0},
            **training,
        },
    }
    return Trainer(cfg, splits={"train": frames, "validation": frames, "test": []})


def test_pqeq_parameters_get_their_own_learning_rate(tmp_path):
    trainer = _joint_trainer(tmp_path, _teacher_frames(2), pqeq_lr=1e-4)
    lrs = {id(p): g["lr"] for g in trainer.optimizer.param_groups for p in g["params"]}
    for name, p in trainer.model.named_parameters():
        if p.requires_grad:
            assert lrs[id(p)] == (1e-4 if name.startswith("pqeq.") else 5e-3), name


def test_batches_failing_the_solve_are_skipped_then_training_stops(tmp_path, monkeypatch):
    from openmm_polarml.pqeq.errors import PolarizationCatastropheError

    frames = _teacher_frames(6)
    trainer = _joint_trainer(tmp_path, frames)
    real_step, calls = trainer._train_step, []

    def flaky(batch):
        calls.append(1)
        if len(calls) in (2, 5):
            raise PolarizationCatastropheError("test: shells run away")
        return real_step(batch)

    monkeypatch.setattr(trainer, "_train_step", flaky)
    chi0 = trainer.model.pqeq.element_parameters.chi.detach().clone()
    hist = trainer.fit()
    assert hist[-1]["skipped_batches"] == 2 and trainer.step == 4  # 6 batches, 2 skipped
    assert not torch.equal(trainer.model.pqeq.element_parameters.chi.detach(), chi0)

    always = _joint_trainer(tmp_path / "b", frames)

    def broken(batch):
        raise PolarizationCatastropheError("test: shells run away")

    monkeypatch.setattr(always, "_train_step", broken)
    with pytest.raises(RuntimeError, match="lower training.pqeq_lr"):
        always.fit()


def test_joint_fit_trains_the_split_charge_bond_hardness(tmp_path):
    """Frames labelled with a bond hardness of 3 eV/e²; a split-charge student starting at 1
    moves its hardness of the elements present, and the loss falls."""
    teacher = tiny_model(
        "float64", pqeq={"long_range": "direct", "charge_transfer": "split", "bond_hardness": 3.0}
    )
    frames = []
    for k in range(4):
        f = atoms_to_frame(molecule(60 + k, n=5))
        out = teacher(collate([f]), compute_forces=True)
        f[K.ENERGY], f[K.FORCES] = out["energy"].detach(), out["forces"].detach()
        f[K.HAS_ENERGY], f[K.HAS_FORCES] = torch.tensor([True]), torch.tensor([True])
        frames.append(f)
    spec = {"long_range": "direct", "charge_transfer": "split", "bond_hardness_trainable": True}
    trainer = _joint_trainer(tmp_path, frames, epochs=4, pqeq=spec, batch_size=2, pqeq_lr=5e-2)
    raw0 = trainer.model.pqeq.bond_hardness.raw.detach().clone()
    before = trainer.validation_loss()["loss"]
    trainer.fit()
    moved = (trainer.model.pqeq.bond_hardness.raw.detach() - raw0).abs()
    present = sorted({int(z) for f in frames for z in f[K.NUMBERS]})
    assert float(moved[present].max()) > 1e-3
    assert float(moved[[z for z in range(moved.numel()) if z not in present]].max()) == 0.0
    assert trainer.validation_loss()["loss"] < before
