"""The polarml command line: train (with plots and metrics), evaluate, export."""

import json

import pytest
import yaml

from openmm_polarml.cli import main
from tests.training.helpers import emt_frames, tiny_config, write_frames


def test_train_evaluate_export(tmp_path, capsys):
    path = write_frames(tmp_path / "d.extxyz", emt_frames(6, seed=5))
    cfg = tiny_config(path, tmp_path / "run", epochs=2)
    cfg["data"]["split"] = [0.5, 0.25, 0.25]
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "cfg.yaml")]) == 0
    run = tmp_path / "run"
    for name in (
        "model.pt",
        "last.pt",
        "best.pt",
        "metrics.json",
        "log.jsonl",
        "learning_curves.png",
        "parity.png",
        "dataset_statistics.json",
    ):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["validation"]["forces_mev_per_A"]["count"] > 0

    assert main(["evaluate", str(run / "model.pt"), path, "--json", str(tmp_path / "e.json")]) == 0
    printed = capsys.readouterr().out
    assert "forces_mev_per_A" in printed and "Cu" in printed
    table = json.loads((tmp_path / "e.json").read_text())["d"]
    assert table["energy_mev_per_atom"]["count"] == 6

    pytest.importorskip("openmmtorch")
    assert main(["export", str(run / "model.pt"), path, str(tmp_path / "m.pt")]) == 0
    assert "parity check" in capsys.readouterr().out
