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


def frame_groups(batch: dict, heads: list[str]) -> list[str]:
    """``[B]`` group label of each frame for per-group metrics: ``head/neutral``,
    ``head/charged`` (non-zero total charge) or ``head/field`` (external field)."""
    from openmm_polarml.model.network import HEAD

    n_frames = batch[K.ENERGY].shape[0]
    index = batch[HEAD].tolist() if HEAD in batch else [0] * n_frames
    charged = (batch[K.TOTAL_CHARGE] != 0).tolist()
    field = batch[K.FIELD].ne(0).any(dim=1).tolist()
    kinds = [
        "field" if f else "charged" if c else "neutral" for c, f in zip(charged, field, strict=True)
    ]
    return [f"{heads[h]}/{k}" for h, k in zip(index, kinds, strict=True)]


def add_mae_sums(sums: dict, pred: dict, batch: dict, groups: list[str]) -> None:
    """Accumulate per-group absolute-error sums: energy (meV/atom, per frame) and forces
    (meV/Å, per component) into ``sums[group] = [ΣE, nE, ΣF, nF]``."""
    de = ((pred["energy"] - batch[K.ENERGY]) / batch[K.N_ATOMS]).detach().abs() * 1e3  # [B]
    has_f = batch[K.HAS_FORCES]
    df = (pred["forces"] - batch[K.FORCES]).detach().abs().sum(dim=1) * 1e3  # [N]
    f_sum = torch.zeros_like(de).index_add_(0, batch[K.BATCH], df)  # [B]
    for b, group in enumerate(groups):
        acc = sums.setdefault(group, [0.0, 0, 0.0, 0])
        if bool(batch[K.HAS_ENERGY][b]):
            acc[0] += float(de[b])
            acc[1] += 1
        if bool(has_f[b]):
            acc[2] += float(f_sum[b])
            acc[3] += 3 * int(batch[K.N_ATOMS][b])


def mae_table(sums: dict) -> dict:
    """``{group: {"energy_mev_per_atom", "forces_mev_per_A", "frames"}}`` from
    :func:`add_mae_sums` accumulators."""
    return {
        g: {
            "energy_mev_per_atom": a[0] / a[1] if a[1] else None,
            "forces_mev_per_A": a[2] / a[3] if a[3] else None,
            "frames": a[1],
        }
        for g, a in sorted(sums.items())
    }
