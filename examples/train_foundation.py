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
plot; the weights are not touched.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
import yaml

from openmm_polarml.data import read_frames, write_frames
from openmm_polarml.model.serialization import load_model, save_model
from openmm_polarml.training import Trainer
from openmm_polarml.training.config import extension_sections, load_config
from openmm_polarml.training.data import frames_from_atoms, test_atoms_by_subset
from openmm_polarml.training.evaluate import evaluate, format_tables
from openmm_polarml.training.plots import learning_curves, parity_plot

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "train_foundation.yaml"
TARGET = ROOT / "openmm_polarml" / "models" / "foundation"


def head_elements(train_frames: list, heads: list[str]) -> dict[str, list[int]]:
    """Atomic numbers in each head's training frames: what a head may be used for
    (:func:`openmm_polarml.openmm.potential.supported_elements` reads it)."""
    from openmm_polarml.data_io import keys as K

    out: dict[str, set] = {h: set() for h in heads}
    for frame in train_frames:
        out[heads[int(frame["head"][0])]].update(int(z) for z in frame[K.NUMBERS].tolist())
    return {h: sorted(v) for h, v in out.items()}


def heldout_slice(groups: dict[str, list], per_subset: int) -> list:
    """The first ``per_subset`` test frames of each subset (the shipped held-out slice)."""
    names = ("dft", "sevenn", "xtb", "xtb_solvated", "xtb_contacts")
    return [a for name in names for a in groups.get(name, [])[:per_subset]]


def repo_relative(cfg: dict) -> dict:
    """A copy of ``cfg`` with data and output paths relative to the repository root."""
    import copy
    import os

    out = copy.deepcopy(cfg)

    def rel(value: str) -> str:
        return os.path.relpath(os.path.abspath(value), ROOT)

    sections = [(out["data"], key) for key in ("train", "validation", "test")]
    sections += [(extend, "files") for extend in extension_sections(out["data"])]
    for section, key in sections:
        value = section.get(key)
        if isinstance(value, str):
            section[key] = rel(value)
        elif isinstance(value, list):
            section[key] = [rel(v) for v in value]
    out["training"]["output_dir"] = rel(out["training"]["output_dir"])
    return out


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
        "--validate-start",
        action="store_true",
        help="print the validation loss and MAE per head/group of the starting weights as JSON",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.evaluate_only:
        return evaluate_installed(args.heldout_per_subset)
    cfg = load_config(args.config)
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
    heads = model.config["heads"]
    model.config["head_elements"] = head_elements(trainer.splits["train"], heads)
    groups = test_atoms_by_subset(cfg)
    subsets = {
        f"test_{k}": frames_from_atoms(v, heads, k, model.config["fragments"])
        for k, v in groups.items()
    }
    tables, preds = evaluate(model, subsets)
    heldout = heldout_slice(groups, args.heldout_per_subset)
    held_tables, _ = evaluate(
        model, {"heldout": frames_from_atoms(heldout, heads, "heldout", model.config["fragments"])}
    )

    TARGET.mkdir(parents=True, exist_ok=True)
    meta = {
        "training_config": repo_relative(cfg),
        "dropped_frames": {k: len(v) for k, v in trainer.dropped.items()},
        "epochs_trained": trainer.epoch,
        "default_head": model.config["head"],
    }
    save_model(model, TARGET / "model.pt", meta)
    (TARGET / "metrics.json").write_text(json.dumps(tables, indent=1))
    (TARGET / "metrics.txt").write_text(format_tables(tables) + "\n")
    write_frames(TARGET / "heldout.extxyz.gz", heldout)
    (TARGET / "heldout_metrics.json").write_text(json.dumps(held_tables, indent=1))
    (TARGET / "config.yaml").write_text(yaml.safe_dump(repo_relative(cfg)))
    shutil.copy(Path(cfg["training"]["output_dir"]) / "log.jsonl", TARGET / "training_log.jsonl")
    learning_curves(history, TARGET / "learning_curves.png")
    parity_plot(preds, TARGET / "parity.png")
    print(format_tables(tables))


def evaluate_installed(heldout_per_subset: int) -> None:
    """Metrics of the installed model on its recorded test split and shipped slice."""
    cfg = load_config(TARGET / "config.yaml")
    model = load_model(TARGET / "model.pt", dtype="float64")
    heads = model.config["heads"]
    groups = test_atoms_by_subset(cfg)
    subsets = {
        f"test_{k}": frames_from_atoms(v, heads, k, model.config["fragments"])
        for k, v in groups.items()
    }
    tables, preds = evaluate(model, subsets)
    heldout = read_frames(TARGET / "heldout.extxyz.gz")
    if len(heldout) != len(heldout_slice(groups, heldout_per_subset)):
        raise RuntimeError("the shipped held-out slice does not match --heldout-per-subset")
    held_tables, _ = evaluate(
        model, {"heldout": frames_from_atoms(heldout, heads, "heldout", model.config["fragments"])}
    )
    (TARGET / "metrics.json").write_text(json.dumps(tables, indent=1))
    (TARGET / "metrics.txt").write_text(format_tables(tables) + "\n")
    (TARGET / "heldout_metrics.json").write_text(json.dumps(held_tables, indent=1))
    parity_plot(preds, TARGET / "parity.png")
    print(format_tables(tables))


if __name__ == "__main__":
    main()
