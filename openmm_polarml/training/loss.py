"""Loss (weighted MSEs normalised over the global batch) and error metrics."""

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


def loss_terms(pred: dict, batch: dict, counts: dict) -> dict:
    """Sums of squared errors divided by the global counts (so ranks' terms add up exactly).

    Energy enters per atom (eV/atom), forces per component (eV/Å), stress per component (eV/Å³),
    dipole per component (e·Å).
    """
    n = batch[K.N_ATOMS].to(pred["energy"].dtype)
    terms = {}
    de = (pred["energy"] - batch[K.ENERGY]) / n  # [B]
    terms["energy"] = (de.pow(2) * batch[K.HAS_ENERGY]).sum() / counts["energy"]
    if "forces" in pred:
        mask = batch[K.HAS_FORCES][batch[K.BATCH]].unsqueeze(-1)
        terms["forces"] = ((pred["forces"] - batch[K.FORCES]).pow(2) * mask).sum() / counts[
            "forces"
        ]
    if "stress" in pred:
        mask = batch[K.HAS_STRESS].view(-1, 1, 1)
        terms["stress"] = ((pred["stress"] - batch[K.STRESS]).pow(2) * mask).sum() / counts[
            "stress"
        ]
    if "dipole" in pred and bool(batch[K.HAS_DIPOLE].any()):
        mask = batch[K.HAS_DIPOLE].view(-1, 1)
        terms["dipole"] = ((pred["dipole"] - batch[K.DIPOLE]).pow(2) * mask).sum() / counts[
            "dipole"
        ]
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
