"""Save and load models as plain files: builder configuration + state dict (+ free metadata)."""

from __future__ import annotations

from pathlib import Path

import torch

from openmm_polarml.model.builder import build_model
from openmm_polarml.model.full import PolarMLModel


def save_model(model: PolarMLModel, path: str | Path, metadata: dict | None = None) -> None:
    """Write ``{"config", "state_dict", "metadata"}`` with :func:`torch.save`."""
    torch.save(
        {"config": model.config, "state_dict": model.state_dict(), "metadata": metadata or {}},
        str(path),
    )


def load_model(path: str | Path, dtype: str | None = None) -> PolarMLModel:
    """Rebuild a model saved by :func:`save_model` (or a training checkpoint).

    Parameters
    ----------
    path : str or Path
        Model or checkpoint file.
    dtype : str, optional
        ``"float32"`` or ``"float64"`` to override the stored dtype.
    """
    blob = torch.load(str(path), map_location="cpu", weights_only=False)
    if "model_state" in blob:  # a training checkpoint: prefer the EMA weights
        config, state = blob["config"], blob.get("ema_state") or blob["model_state"]
    else:
        config, state = blob["config"], blob["state_dict"]
    config = dict(config)
    if dtype is not None:
        config["dtype"] = dtype
    model = build_model(config)
    model.load_state_dict(state)
    return model


def pretrained_path(name: str = "small_demo") -> Path:
    """Path of a model shipped in ``openmm_polarml/models/<name>/model.pt``."""
    path = Path(__file__).resolve().parents[1] / "models" / name / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"no shipped model named {name!r} ({path})")
    return path


def load_pretrained(name: str = "small_demo", dtype: str | None = None) -> PolarMLModel:
    """Load a shipped model (default: the small preset + PQEq + D3 trained on demo.traj)."""
    return load_model(pretrained_path(name), dtype=dtype)
