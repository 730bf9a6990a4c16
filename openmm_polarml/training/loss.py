"""Loss (weighted MSE or Huber terms normalised over the global batch) and error metrics."""

from __future__ import annotations

import torch

from openmm_polarml.data_io import keys as K


def global_counts(batch: dict) -> dict:
    """Normalisers of the loss terms for a (global) batch: frames and atoms carrying each label."""
    has_f = batch[K.HAS_FORCES][batch[K.BATCH]]
    return {
        "energy": max(int(batch[K.HAS_ENERGY].sum()), 1),
        "forces": max(3 * int(has_f.sum()), 1),
        "stress": max(9 * int(batch[K.HAS_STRESS].sum()), 1),
        "dipole": max(3 * int(batch[K.HAS_DIPOLE].sum()), 1),
    }


def pointwise(error: torch.Tensor, huber_delta: float | None) -> torch.Tensor:
    """Squared error, or with ``huber_delta`` the Huber function scaled to match it near zero:
    ``e²`` for ``|e| ≤ δ`` and ``δ(2|e| − δ)`` beyond (errors larger than δ pull linearly, so a
    few high-force frames do not dominate the gradient)."""
    if huber_delta is None:
        return error.pow(2)
    magnitude = error.abs()
    return torch.where(
        magnitude <= huber_delta, error.pow(2), huber_delta * (2.0 * magnitude - huber_delta)
    )


def loss_terms(pred: dict, batch: dict, counts: dict, huber_delta: float | None = None) -> dict:
    """Sums of squared (or Huber, see :func:`pointwise`) errors divided by the global counts
    (so ranks' terms add up exactly).

    Energy enters per atom (eV/atom), forces per component (eV/Å), stress per component (eV/Å³),
    dipole per component (e·Å); ``huber_delta`` is in those units.
    """
    n = batch[K.N_ATOMS].to(pred["energy"].dtype)
    terms = {}
    de = (pred["energy"] - batch[K.ENERGY]) / n  # [B]
    terms["energy"] = (pointwise(de, huber_delta) * batch[K.HAS_ENERGY]).sum() / counts["energy"]
    if "forces" in pred:
        mask = batch[K.HAS_FORCES][batch[K.BATCH]].unsqueeze(-1)  # [N, 1]
        df = pred["forces"] - batch[K.FORCES]  # [N, 3]
        terms["forces"] = (pointwise(df, huber_delta) * mask).sum() / counts["forces"]
    if "stress" in pred:
        mask = batch[K.HAS_STRESS].view(-1, 1, 1)
        ds = pred["stress"] - batch[K.STRESS]  # [B, 3, 3]
        terms["stress"] = (pointwise(ds, huber_delta) * mask).sum() / counts["stress"]
    if "dipole" in pred and bool(batch[K.HAS_DIPOLE].any()):
        mask = batch[K.HAS_DIPOLE].view(-1, 1)
        dmu = pred["dipole"] - batch[K.DIPOLE]  # [B, 3]
        terms["dipole"] = (pointwise(dmu, huber_delta) * mask).sum() / counts["dipole"]
    return terms


def total_loss(terms: dict, weights: dict) -> torch.Tensor:
    """``Σ_k w_k · term_k`` over the terms present with non-zero weight."""
    out = None
    for key, value in terms.items():
        w = float(weights.get(key, 0.0))
        if w != 0.0:
            out = w * value if out is None else out + w * value
    assert out is not None, "no loss term has a non-zero weight"
    return out
