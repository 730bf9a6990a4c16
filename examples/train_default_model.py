"""Train the shipped default model (small preset + PQEq + D3 on demo.traj) and install it.

Resumable: re-running continues from the last checkpoint. Writes the model, metrics, training
log and plots to ``openmm_polarml/models/small_demo/``.

    python examples/train_default_model.py [--epochs N] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
import yaml

from openmm_polarml.model.serialization import save_model
from openmm_polarml.training import Trainer, resolve
from openmm_polarml.training.evaluate import evaluate, format_tables
from openmm_polarml.training.plots import learning_curves, parity_plot

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "reaxnet" / "demo.traj"
TARGET = ROOT / "openmm_polarml" / "models" / "small_demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--run-dir", default=str(ROOT / "runs" / "small_demo"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load((ROOT / "examples" / "train_small_demo.yaml").read_text())
    cfg["data"]["train"] = args.data
    cfg["training"]["output_dir"] = args.run_dir
    if args.epochs is not None:
        cfg["training"]["epochs"] = args.epochs
    trainer = Trainer(resolve(cfg))
    history = trainer.fit()
    model = trainer.eval_model("float64")
    TARGET.mkdir(parents=True, exist_ok=True)
    save_model(
        model,
        TARGET / "model.pt",
        {"training_config": trainer.cfg, "dropped_frames": trainer.dropped},
    )
    tables, preds = evaluate(model, {k: trainer.splits[k] for k in ("train", "validation", "test")})
    (TARGET / "metrics.json").write_text(json.dumps(tables, indent=1))
    (TARGET / "metrics.txt").write_text(format_tables(tables) + "\n")
    shutil.copy(Path(args.run_dir) / "log.jsonl", TARGET / "training_log.jsonl")
    (TARGET / "config.yaml").write_text(yaml.safe_dump(trainer.cfg))
    learning_curves(history, TARGET / "learning_curves.png")
    parity_plot(preds, TARGET / "parity.png")
    print(format_tables(tables))


if __name__ == "__main__":
    main()
