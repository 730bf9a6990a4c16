"""Training a 2-head model: frames routed by info["level"], per-head reference energies,
gradients only in the heads that saw frames, checkpoints that load with weights_only=True."""

import pytest
import torch

from openmm_polarml.data_io import collate
from openmm_polarml.model.serialization import load_model
from openmm_polarml.training.data import frames_from_atoms
from openmm_polarml.training.loss import global_counts, loss_terms, total_loss
from openmm_polarml.training.trainer import Trainer
from tests.training.helpers import TINY_NET, emt_frames, tiny_config, write_frames

HEADS = ["pbe", "gfn2"]
OFFSET = 1.0  # eV/atom added to the "gfn2" labels: a different reference energy per element


def _levelled(n=6):
    atoms = emt_frames(n)
    for k, a in enumerate(atoms):
        a.info["level"] = HEADS[k % 4 // 2]  # pbe pbe gfn2 gfn2 pbe pbe
        if a.info["level"] == "gfn2":
            a.calc.results["energy"] += OFFSET * len(a)
    return atoms


def _config(tmp_path, **training):
    cfg = tiny_config(str(tmp_path / "unused.xyz"), tmp_path / "run", **training)
    cfg["model"] = {"preset": "small", "network": dict(TINY_NET), "heads": HEADS}
    return cfg


def _trainer(tmp_path, **training):
    frames = frames_from_atoms(_levelled(), HEADS)
    splits = {"train": frames[:4], "validation": frames[4:], "test": []}
    return Trainer(_config(tmp_path, **training), splits=splits), frames


def _readout_params(model, head, grad=False):
    """Head ``head``'s readout weights, shift and scale (or their gradients)."""
    net = model.shortrange.network
    width = net.readout_2.width

    def get(p):
        return (p.grad if grad else p).detach()

    w1 = get(net.readout_1.weight).view(-1, 2 * width)[:, head * width : (head + 1) * width]
    return [w1, get(net.readout_2.weight)[head], get(net.shift)[head], get(net.scale)[head]]


def test_per_head_reference_energies(tmp_path):
    trainer, _ = _trainer(tmp_path)
    shift = trainer.model.shortrange.network.shift.detach()  # [2, 95]
    for z in (13, 29):  # Al, Cu: the gfn2 labels sit OFFSET eV/atom higher
        assert abs(float(shift[1, z] - shift[0, z]) - OFFSET) < 0.05


def test_mixed_batch_gradients_split_by_head(tmp_path):
    trainer, frames = _trainer(tmp_path)
    model = trainer.model
    mixed = [frames[0], frames[2], frames[1]]  # pbe, gfn2, pbe
    counts = global_counts(collate(mixed))
    weights = trainer.cfg["training"]["loss_weights"]

    def grads(subset):
        model.zero_grad(set_to_none=False)
        batch = collate(subset)
        loss = total_loss(loss_terms(trainer.predict(model, batch, True), batch, counts), weights)
        loss.backward()
        return [[g.clone() for g in _readout_params(model, k, grad=True)] for k in (0, 1)]

    both = grads(mixed)
    only_pbe = grads([frames[0], frames[1]])
    only_gfn2 = grads([frames[2]])
    for k, alone in ((0, only_pbe), (1, only_gfn2)):
        for g_mixed, g_alone in zip(both[k], alone[k], strict=True):
            assert torch.allclose(g_mixed, g_alone, rtol=1e-10, atol=1e-14)
        assert float(both[k][1].abs().max()) > 0
    assert all(float(g.abs().max()) == 0.0 for g in only_pbe[1])  # gfn2 head untouched
    assert all(float(g.abs().max()) == 0.0 for g in only_gfn2[0])


def test_a_step_on_one_level_moves_only_that_head(tmp_path):
    trainer, frames = _trainer(tmp_path, ema_decay=0.0)
    before = [[p.clone() for p in _readout_params(trainer.model, k)] for k in (0, 1)]
    trainer._train_step([frames[2], frames[3]])  # gfn2 frames only
    after = [_readout_params(trainer.model, k) for k in (0, 1)]
    assert all(torch.equal(a, b) for a, b in zip(after[0], before[0], strict=True))
    assert not torch.equal(after[1][1], before[1][1])
    terms = trainer._train_step(frames[:4])  # mixed levels run
    assert all(v == v for v in terms.values())  # no NaN


def test_fit_from_a_file_and_checkpoints_load_weights_only(tmp_path):
    path = write_frames(tmp_path / "levels.xyz", _levelled())
    cfg = _config(tmp_path, epochs=1)
    cfg["data"]["train"] = path
    trainer = Trainer(cfg)
    assert sorted({int(f["head"][0]) for f in trainer.train_frames}) == [0, 1]
    trainer.fit()
    last = tmp_path / "run" / "last.pt"
    blob = torch.load(last, weights_only=True)
    assert blob["format"] == "openmm_polarml.checkpoint/1"
    model = load_model(last, head="gfn2")
    assert model.heads == HEADS and model.head == "gfn2"
    resumed = Trainer(cfg)
    resumed.load(last)
    assert resumed.step == trainer.step


def test_unlevelled_frames_are_refused_for_several_heads(tmp_path):
    atoms = emt_frames(3)
    write_frames(tmp_path / "plain.xyz", atoms)
    cfg = _config(tmp_path)
    cfg["data"]["train"] = str(tmp_path / "plain.xyz")
    with pytest.raises(ValueError, match="no info\\['level'\\]"):
        Trainer(cfg)
    from openmm_polarml.data_io import atoms_to_frame

    splits = {"train": [atoms_to_frame(a) for a in atoms], "validation": [], "test": []}
    with pytest.raises(ValueError, match="lack a head index"):
        Trainer(cfg, splits=splits)
