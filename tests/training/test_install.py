"""Installing a checkpoint as a shipped model: the same weights, each head's training elements,
test-split metrics that the re-evaluation reproduces, and a clear error for a foreign slice."""

import json

import pytest
import torch

from openmm_polarml.data import read_frames, write_frames
from openmm_polarml.model.serialization import load_model
from openmm_polarml.training.install import evaluate_installed, install_checkpoint
from openmm_polarml.training.trainer import Trainer
from tests.training.helpers import TINY_NET, emt_frames, tiny_config
from tests.training.helpers import write_frames as write_xyz

HEADS = ["pbe", "gfn2"]


def _campaign(tmp_path):
    atoms = emt_frames(8)
    for k, a in enumerate(atoms):  # Cu on the pbe head only, Al on both
        a.info["level"] = "pbe" if a.get_chemical_symbols()[0] == "Cu" or k % 4 == 1 else "gfn2"
    (tmp_path / "xtb").mkdir()  # a subset the shipped slice draws from
    path = write_xyz(tmp_path / "xtb" / "shard.xyz", atoms)
    cfg = tiny_config(path, tmp_path / "run", epochs=1)
    cfg["model"] = {"preset": "small", "network": dict(TINY_NET), "heads": HEADS}
    cfg["data"]["split"] = [0.5, 0.25, 0.25]
    trainer = Trainer(cfg)
    trainer.fit()
    return cfg, trainer


def _text(tables: dict) -> str:
    return json.dumps(json.loads(json.dumps(tables)), sort_keys=True)


def test_install_checkpoint_ships_the_best_weights_with_their_metrics(tmp_path):
    cfg, trainer = _campaign(tmp_path)
    target = tmp_path / "installed"
    tables = install_checkpoint(
        cfg, tmp_path / "run" / "best.pt", "gfn2", target, tmp_path, per_subset=1
    )
    model = load_model(target / "model.pt")
    assert model.head == "gfn2" and model.shortrange.network.shift.dtype == torch.float64
    ema = trainer.eval_model("float64").set_head("gfn2").state_dict()
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, ema[name], rtol=0, atol=0)
    train_numbers = {h: set() for h in HEADS}
    for frame in trainer.splits["train"]:
        train_numbers[HEADS[int(frame["head"][0])]].update(frame["numbers"].tolist())
    assert model.config["head_elements"] == {h: sorted(v) for h, v in train_numbers.items()}
    assert set(tables) == {"test_xtb"}
    # compared as JSON text: element keys become strings, and NaN (no dipole labels) != NaN
    assert _text(json.loads((target / "metrics.json").read_text())) == _text(tables)
    held = json.loads((target / "heldout_metrics.json").read_text())
    assert len(read_frames(target / "heldout.extxyz.gz")) == 1
    assert _text(evaluate_installed(target, tmp_path, per_subset=1)) == _text(tables)
    again = json.loads((target / "heldout_metrics.json").read_text())
    assert _text(again) == _text(held)  # the card's slice numbers are those of the shipped file
    for name in ("config.yaml", "training_log.jsonl", "learning_curves.png", "parity.png"):
        assert (target / name).stat().st_size > 0


def test_evaluate_installed_refuses_a_slice_of_another_size(tmp_path):
    cfg, _ = _campaign(tmp_path)
    target = tmp_path / "installed"
    install_checkpoint(cfg, tmp_path / "run" / "best.pt", "pbe", target, tmp_path, per_subset=1)
    write_frames(target / "heldout.extxyz.gz", emt_frames(2))
    with pytest.raises(RuntimeError, match="held-out slice does not match"):
        evaluate_installed(target, tmp_path, per_subset=1)
