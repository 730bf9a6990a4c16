"""Install a trained model as a shipped model: weights, test-split metrics, held-out slice, plots.

A shipped model directory (``openmm_polarml/models/<name>/``) holds

- ``model.pt``: the float64 EMA weights with the training configuration as metadata;
- ``metrics.json`` / ``metrics.txt``: MAE/RMSE per data subset and element on the test split of
  the training configuration (frames in a field separately);
- ``heldout.extxyz.gz`` with ``heldout_metrics.json``: the first frames of each subset's test
  split, shipped so that the tests reproduce the numbers without the data;
- ``config.yaml``, ``training_log.jsonl``, ``learning_curves.png``, ``parity.png``.

The same function installs at the end of a training run (:class:`~.trainer.Trainer`) and from a
checkpoint of a campaign that is still running (:func:`install_checkpoint`): the best weights so
far can ship while training goes on, and the same command installs the next best.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..data import read_frames, write_frames
from ..model.serialization import load_model, read_blob, save_model
from .config import extension_sections
from .data import frame_head, frames_from_atoms, split_atoms_by_subset, test_atoms_by_subset
from .evaluate import evaluate, format_tables
from .plots import learning_curves, parity_plot

#: subsets whose first test frames make up the shipped held-out slice
HELDOUT_SUBSETS = ("dft", "sevenn", "xtb", "xtb_solvated", "xtb_contacts")


@dataclass(frozen=True)
class TrainedModel:
    """What an installation needs to know about a trained model.

    Attributes
    ----------
    model : PolarMLModel
        The network in float64 with its default head selected.
    cfg : dict
        The training configuration (data paths as the trainer resolved them).
    history : list of dict
        One entry per finished epoch (``log.jsonl``'s records): the learning curves.
    epochs : int
        Epochs trained.
    log : Path
        The run's ``log.jsonl``.
    dropped : dict or None
        Frames left out of training per reason, when the trainer that made the model is at hand.
    """

    model: object
    cfg: dict
    history: list
    epochs: int
    log: Path
    dropped: dict | None = None


def head_elements(train_atoms: list, heads: list[str]) -> dict[str, list[int]]:
    """Atomic numbers in each head's training frames: what a head may be used for
    (:func:`openmm_polarml.model.elements.supported_elements` reads them).

    ``train_atoms`` are ``ase.Atoms`` routed by ``info["level"]``, or frames that carry their
    head index (``frame["head"]``)."""
    out: dict[str, set] = {h: set() for h in heads}
    for frame in train_atoms:
        if isinstance(frame, dict):
            head, numbers = int(frame["head"][0]), frame["numbers"].tolist()
        else:
            head, numbers = frame_head(frame, heads), frame.numbers.tolist()
        out[heads[head]].update(int(z) for z in numbers)
    return {h: sorted(v) for h, v in out.items()}


def heldout_slice(groups: dict[str, list], per_subset: int) -> list:
    """The first ``per_subset`` test frames of each subset (the shipped held-out slice)."""
    return [a for name in HELDOUT_SUBSETS for a in groups.get(name, [])[:per_subset]]


def _map_paths(cfg: dict, fn) -> dict:
    """A copy of ``cfg`` with ``fn`` applied to every data path and the output directory."""
    out = copy.deepcopy(cfg)
    sections = [(out["data"], key) for key in ("train", "validation", "test")]
    sections += [(extend, "files") for extend in extension_sections(out["data"])]
    for section, key in sections:
        value = section.get(key)
        if isinstance(value, str):
            section[key] = fn(value)
        elif isinstance(value, list):
            section[key] = [fn(v) for v in value]
    out["training"]["output_dir"] = fn(out["training"]["output_dir"])
    return out


def repo_relative(cfg: dict, root: Path) -> dict:
    """A copy of ``cfg`` with data and output paths relative to ``root`` (the repository)."""
    return _map_paths(cfg, lambda v: os.path.relpath(os.path.abspath(v), root))


def repo_absolute(cfg: dict, root: Path) -> dict:
    """The inverse of :func:`repo_relative`: relative paths taken from ``root``."""
    return _map_paths(cfg, lambda v: v if os.path.isabs(v) else os.path.join(root, v))


def _test_metrics(model, cfg: dict, heldout_path: Path, per_subset: int, write: bool):
    """Metrics on the test split and on the shipped held-out slice ``heldout_path`` (drawn from
    the test split and written there first when ``write``; evaluated as read back, so that the
    shipped numbers are those of the shipped file)."""
    heads, fragments = model.config["heads"], model.config["fragments"]
    groups = test_atoms_by_subset(cfg)
    print(f"[install] evaluating {sum(map(len, groups.values()))} test frames", flush=True)
    subsets = {f"test_{k}": frames_from_atoms(v, heads, k, fragments) for k, v in groups.items()}
    tables, preds = evaluate(model, subsets)
    if write:
        write_frames(heldout_path, heldout_slice(groups, per_subset))
    heldout = read_frames(heldout_path)
    if len(heldout) != len(heldout_slice(groups, per_subset)):
        raise RuntimeError("the shipped held-out slice does not match --heldout-per-subset")
    held, _ = evaluate(model, {"heldout": frames_from_atoms(heldout, heads, "heldout", fragments)})
    return tables, preds, held


def install(trained: TrainedModel, target: Path, root: Path, per_subset: int = 40) -> dict:
    """Write ``trained`` to the model directory ``target``; returns the test-split tables."""
    model, cfg = trained.model, trained.cfg
    target.mkdir(parents=True, exist_ok=True)
    tables, preds, held = _test_metrics(
        model, cfg, target / "heldout.extxyz.gz", per_subset, write=True
    )
    meta = {
        "training_config": repo_relative(cfg, root),
        "epochs_trained": trained.epochs,
        "default_head": model.config["head"],
    }
    if trained.dropped is not None:
        meta["dropped_frames"] = {k: len(v) for k, v in trained.dropped.items()}
    save_model(model, target / "model.pt", meta)
    _write_metrics(target, tables, held, preds)
    (target / "config.yaml").write_text(yaml.safe_dump(repo_relative(cfg, root)))
    shutil.copy(trained.log, target / "training_log.jsonl")
    learning_curves(trained.history, target / "learning_curves.png")
    return tables


def _training_atoms(cfg: dict) -> list:
    """The training split's ``ase.Atoms`` of every subset in one list."""
    return [a for group in split_atoms_by_subset(cfg, "train").values() for a in group]


def install_checkpoint(
    cfg: dict, checkpoint: Path, default_head: str, target: Path, root: Path, per_subset: int = 40
) -> dict:
    """Install the EMA weights of a training checkpoint (e.g. a running campaign's ``best.pt``).

    The supported elements per head are those of the configuration's training split."""
    blob = read_blob(checkpoint)
    model = load_model(checkpoint, dtype="float64").set_head(default_head)
    heads = model.config["heads"]
    model.config["head_elements"] = head_elements(_training_atoms(cfg), heads)
    trained = TrainedModel(
        model=model,
        cfg=cfg,
        history=list(blob["history"]),
        epochs=int(blob["epoch"]),
        log=Path(cfg["training"]["output_dir"]) / "log.jsonl",
    )
    print(f"[install] {checkpoint} (epoch {trained.epochs}) -> {target}", flush=True)
    return install(trained, target, root, per_subset)


def evaluate_installed(target: Path, root: Path, per_subset: int = 40) -> dict:
    """Re-evaluate an installed model on its recorded test split and shipped slice (after a
    change to code the model runs through); rewrites only the metrics files and parity plot.
    ``root`` is the directory the recorded data paths are relative to (the repository)."""
    from .config import resolve

    cfg = repo_absolute(resolve(yaml.safe_load((target / "config.yaml").read_text())), root)
    model = load_model(target / "model.pt", dtype="float64")
    tables, preds, held = _test_metrics(
        model, cfg, target / "heldout.extxyz.gz", per_subset, write=False
    )
    _write_metrics(target, tables, held, preds)
    return tables


def _write_metrics(target: Path, tables: dict, held: dict, preds: dict) -> None:
    (target / "metrics.json").write_text(json.dumps(tables, indent=1))
    (target / "metrics.txt").write_text(format_tables(tables) + "\n")
    (target / "heldout_metrics.json").write_text(json.dumps(held, indent=1))
    parity_plot(preds, target / "parity.png")
