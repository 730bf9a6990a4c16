"""Training configuration: defaults, YAML loading, validation."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

DEFAULTS: dict = {
    "model": {"preset": "small", "d3": None, "pqeq": None},
    "data": {
        "train": None,  # path (anything ase reads) or list of paths
        "validation": None,  # optional separate file(s); else split from train
        "test": None,
        "split": [0.8, 0.1, 0.1],
        "seed": 0,
        "max_frames": None,
        "drop_pqeq_failures": True,  # drop frames where the PQEq solve fails
        "max_fixed_force": None,  # drop frames whose PQEq + D3 forces exceed this (eV/Å)
        # drop frames whose reference forces exceed this (eV/Å): teacher labels far outside the
        # teacher's range (SevenNet-0 gives 10^3-10^4 eV/Å on some substituted cells); applied
        # after the split, so the split itself does not change
        "max_label_force": None,
        # more data without reshuffling the split above: {files, split, seed, repeat}; its own
        # split is appended to each part, its training frames `repeat` times per epoch
        "extend": None,
    },
    "training": {
        "output_dir": "runs/polarml",
        "epochs": 100,
        "max_steps": None,  # stop after this many optimiser steps (None: no limit)
        # wall-clock budget of one run (minutes): checkpoint mid-epoch and stop; rerun to resume
        "max_minutes": None,
        "batch_size": 8,
        "lr": 5e-3,
        "pqeq_lr": None,  # learning rate of trainable PQEq parameters (None: lr)
        "weight_decay": 0.0,
        "scheduler": "cosine",  # cosine | plateau | constant
        "warmup_epochs": 0,
        "plateau_factor": 0.5,
        "plateau_patience": 5,
        "ema_decay": 0.99,  # 0 disables the EMA
        "patience": 30,  # early stopping (epochs without validation improvement)
        "grad_clip": 10.0,
        "loss_weights": {"energy": 1.0, "forces": 10.0, "stress": 1.0, "dipole": 0.0},
        "huber_delta": None,  # None: MSE terms; a number: Huber terms with this δ (label units)
        "dtype": "float32",
        "eval_dtype": "float64",
        "device": "cpu",  # cpu | cuda | auto (CUDA when available); torchrun: one GPU per rank
        "delta": True,  # network fits E_ref − E_PQEq − E_D3 (fixed terms precomputed)
        "seed": 0,
        "progress": True,
        "plots": True,
        "checkpoint_every": 1,  # epochs
    },
    "finetune": None,  # {checkpoint, trainable: [patterns], refit_shifts, refit_pqeq}
}


def _merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (update or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve(config: dict | None) -> dict:
    """Fill a (partial) configuration with :data:`DEFAULTS` and check it."""
    cfg = _merge(DEFAULTS, config or {})
    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown configuration sections: {sorted(unknown)}")
    for section in ("data", "training"):
        extra = set(cfg[section]) - set(DEFAULTS[section])
        if extra:
            raise ValueError(f"unknown keys in '{section}': {sorted(extra)}")
    if cfg["data"]["train"] is None:
        raise ValueError("data.train must name a data file")
    if cfg["training"]["scheduler"] not in ("cosine", "plateau", "constant"):
        raise ValueError("training.scheduler must be cosine, plateau or constant")
    return cfg


def _relative_to(config_path: Path, value: str) -> str:
    """``value`` relative to the configuration file when it exists there, else unchanged."""
    if Path(value).is_absolute():
        return value
    candidate = config_path.parent / value
    return str(candidate) if candidate.exists() else value


def extension_sections(data_cfg: dict) -> list[dict]:
    """The ``data.extend`` sections in order: one mapping or a list of them (each appended with
    its own seeded split, so adding a section leaves the earlier splits as they were)."""
    extend = data_cfg.get("extend")
    if not extend:
        return []
    sections = [extend] if isinstance(extend, dict) else list(extend)
    for section in sections:
        if not isinstance(section, dict) or "files" not in section:
            raise ValueError("each data.extend section needs a 'files' entry (path or list)")
    return sections


def load_config(path: str | Path) -> dict:
    """Read a YAML configuration file and resolve it.

    Relative data and fine-tuning checkpoint paths are taken relative to the file when they
    exist there (otherwise relative to the working directory).
    """
    path = Path(path)
    cfg = yaml.safe_load(path.read_text()) or {}
    data = cfg.get("data", {})
    sections = [(data, key) for key in ("train", "validation", "test")]
    sections += [(extend, "files") for extend in extension_sections(data)]
    for section, key in sections:
        value = section.get(key)
        if isinstance(value, str):
            section[key] = _relative_to(path, value)
        elif isinstance(value, list):
            section[key] = [_relative_to(path, v) for v in value]
    ft = cfg.get("finetune") or {}
    ckpt = ft.get("checkpoint")
    if isinstance(ckpt, str) and not Path(ckpt).is_absolute() and (path.parent / ckpt).exists():
        ft["checkpoint"] = str(path.parent / ckpt)
    return resolve(cfg)
