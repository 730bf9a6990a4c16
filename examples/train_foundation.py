"""Train (or resume) the shipped foundation model and install it with its card's numbers.

Trains ``examples/train_foundation.yaml`` (resumable: re-running continues from
``runs/foundation/last.pt``), then writes to ``openmm_polarml/models/foundation/``: the model
(float64 EMA weights), ``metrics.json``/``metrics.txt`` (MAE/RMSE per data subset and element on
the held-out test split, finite-field frames separately), ``heldout.extxyz.gz`` (a shipped slice
of the test split) with ``heldout_metrics.json`` (what the tests reproduce), learning curves and
a parity plot.

    python examples/train_foundation.py [--threads 2] [--epochs N] [--heldout-per-subset 40]

``--evaluate-only`` re-evaluates the installed model on the same test split and slice (after a
change to code the model runs through, e.g. D3) and rewrites only the metrics files and parity
plot; the weights are not touched. ``--install-from CHECKPOINT`` installs a checkpoint of a
campaign that is still running (its ``best.pt``) without training:

    python examples/train_foundation.py --config examples/train_foundation_v4.yaml \
        --install-from campaigns/foundation_v4/run/best.pt

The logic lives in :mod:`openmm_polarml.training.install`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from openmm_polarml.training import Trainer
from openmm_polarml.training.config import load_config
from openmm_polarml.training.evaluate import format_tables
from openmm_polarml.training.install import (
    TrainedModel,
    evaluate_installed,
    head_elements,
    install,
    install_checkpoint,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "train_foundation.yaml"
TARGET = ROOT / "openmm_polarml" / "models" / "foundation"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="wall time of this run (overrides the config)",
    )
    parser.add_argument("--heldout-per-subset", type=int, default=40)
    parser.add_argument(
        "--default-head",
        default="gfn2",
        help="head the installed model uses unless told otherwise (gfn2: molecules, water, "
        "electrolytes, 19 elements; pbe: crystals, 89 elements)",
    )
    parser.add_argument("--evaluate-only", action="store_true", help="no training; new metrics")
    parser.add_argument(
        "--install-from",
        default=None,
        help="no training: install this checkpoint of --config's run (e.g. its best.pt while "
        "the campaign goes on) with the metrics on that configuration's test split",
    )
    parser.add_argument(
        "--validate-start",
        action="store_true",
        help="print the validation loss and MAE per head/group of the starting weights as JSON",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.evaluate_only:
        print(format_tables(evaluate_installed(TARGET, ROOT, args.heldout_per_subset)))
        return
    cfg = load_config(args.config)
    if args.install_from is not None:
        tables = install_checkpoint(
            cfg, Path(args.install_from), args.default_head, TARGET, ROOT, args.heldout_per_subset
        )
        print(format_tables(tables))
        return
    if args.epochs is not None:
        cfg["training"]["epochs"] = args.epochs
    if args.max_minutes is not None:  # resuming is exact whatever the length of each run
        cfg["training"]["max_minutes"] = args.max_minutes
    trainer = Trainer(cfg)
    if args.validate_start:  # the reference point of a campaign's learning curve
        val = trainer.validation_loss()
        print(json.dumps({"loss": val["loss"], "mae": val["mae"]}))
        return
    history = trainer.fit(resume=True)
    if trainer.stopped_by_time:
        print(
            f"[foundation] stopped by training.max_minutes after {trainer.epoch} epochs "
            f"(+{trainer.progress['batch']} batches); continue with the same command. The "
            "installed model is unchanged until the run finishes."
        )
        return
    model = trainer.eval_model("float64").set_head(args.default_head)
    model.config["head_elements"] = head_elements(trainer.splits["train"], model.config["heads"])
    trained = TrainedModel(
        model=model,
        cfg=cfg,
        history=history,
        epochs=trainer.epoch,
        log=Path(cfg["training"]["output_dir"]) / "log.jsonl",
        dropped=trainer.dropped,
    )
    print(format_tables(install(trained, TARGET, ROOT, args.heldout_per_subset)))


if __name__ == "__main__":
    main()
