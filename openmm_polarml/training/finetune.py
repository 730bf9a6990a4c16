"""Model initialisation from data statistics, and fine-tuning from a pre-trained checkpoint."""

from __future__ import annotations

from fnmatch import fnmatch

import torch

from openmm_polarml.data_io import collate, reference_energies
from openmm_polarml.data_io import keys as K
from openmm_polarml.model.builder import build_model

#: The seed froze everything but the last two linear layers.
DEFAULT_TRAINABLE = ["shortrange.network.readout_*"]


@torch.no_grad()
def init_statistics(model, frames: list) -> None:
    """Per-element shifts by least squares on the (residual) energies; scale = force RMS."""
    net = model.shortrange.network
    shift = reference_energies(frames)
    forces = torch.cat(
        [f[K.FORCES] for f in frames if bool(f[K.HAS_FORCES].all())] or [torch.ones(1, 3)]
    )
    rms = float(forces.pow(2).mean().sqrt())
    net.shift.copy_(shift.to(net.shift.dtype))
    net.scale.fill_(rms if rms > 1e-6 else 1.0)


@torch.no_grad()
def refit_shifts(model, frames: list, batch_size: int = 16) -> None:
    """Add to the element shifts the least-squares per-element fit of the current energy error."""
    errors = []
    dtype = model.shortrange.network.shift.dtype
    for start in range(0, len(frames), batch_size):
        batch = collate(frames[start : start + batch_size], dtype)
        with torch.enable_grad():
            pred = model(batch, compute_forces=False, include_pqeq=False, include_d3=False)
        errors += (batch[K.ENERGY] - pred["energy"].detach()).tolist()
    delta = reference_energies(frames, errors)
    model.shortrange.network.shift.add_(delta.to(dtype))


def load_checkpoint_state(path) -> tuple[dict, dict]:
    """(model configuration, state dict) of a saved model or training checkpoint (EMA preferred)."""
    blob = torch.load(str(path), map_location="cpu", weights_only=False)
    if "model_state" in blob:
        return dict(blob["config"]), blob.get("ema_state") or blob["model_state"]
    return dict(blob["config"]), blob["state_dict"]


def apply_finetune(ft: dict, dtype: str) -> torch.nn.Module:
    """Load a pre-trained model and freeze all parameters but the chosen ones.

    Parameters
    ----------
    ft : dict
        ``checkpoint`` (path), ``trainable`` (glob patterns of parameter names, default the two
        readout linears), ``refit_pqeq`` (make the PQEq element parameters trainable).
    dtype : str
        Training dtype.
    """
    config, state = load_checkpoint_state(ft["checkpoint"])
    config["dtype"] = dtype
    refit_pqeq = bool(ft.get("refit_pqeq", False))
    if refit_pqeq:
        if not config.get("pqeq"):
            raise ValueError("refit_pqeq needs a model with a PQEq term")
        config["pqeq"] = {**config["pqeq"], "trainable": True}
    model = build_model(config)
    model.load_state_dict(state)
    patterns = ft.get("trainable") or DEFAULT_TRAINABLE
    for name, p in model.named_parameters():
        keep = any(fnmatch(name, pat) for pat in patterns)
        keep = keep or (refit_pqeq and name.startswith("pqeq."))
        p.requires_grad_(keep)
    return model
