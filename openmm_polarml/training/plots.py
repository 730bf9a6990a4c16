"""Parity plots and learning curves saved as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def parity_plot(preds: dict, path: str | Path) -> None:
    """Energy/atom, force and stress parity plots, one row per subset."""
    plt = _plt()
    names = list(preds)
    fig, axes = plt.subplots(len(names), 3, figsize=(12, 4 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        p = preds[name]
        pairs = [
            (p["e_ref"] / p["n"], p["e_pred"] / p["n"], "energy (eV/atom)"),
            (p["f_ref"][p["has_f"]].ravel(), p["f_pred"][p["has_f"]].ravel(), "force (eV/Å)"),
            (p["s_ref"][p["has_s"]].ravel(), p["s_pred"][p["has_s"]].ravel(), "stress (eV/Å³)"),
        ]
        for ax, (ref, pred, label) in zip(axes[row], pairs, strict=True):
            ax.scatter(ref, pred, s=4, alpha=0.5)
            if ref.size:
                lo, hi = float(np.min([ref, pred])), float(np.max([ref, pred]))
                ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            ax.set_xlabel(f"reference {label}")
            ax.set_ylabel(f"predicted {label}")
            ax.set_title(name)
    fig.tight_layout()
    fig.savefig(str(path), dpi=110)
    plt.close(fig)


def learning_curves(history: list, path: str | Path) -> None:
    """Loss terms (left) and validation energy MAE per head and frame group (right) versus
    epoch, every epoch marked."""
    plt = _plt()
    fig, (ax, ax_mae) = plt.subplots(1, 2, figsize=(13, 4.5))
    epochs = [h["epoch"] for h in history]
    keys = sorted({k for h in history for k in h["train"]})
    for n, key in enumerate(keys):
        color = f"C{n}"
        train = [h["train"].get(key, np.nan) for h in history]
        val = [h["validation"].get(key, np.nan) for h in history]
        ax.semilogy(epochs, train, "o-", ms=3, color=color, label=f"train {key}")
        ax.semilogy(epochs, val, "s--", ms=3, color=color, label=f"validation {key}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss term (MSE or Huber, label units)")
    ax.legend(fontsize=7)
    groups = sorted({g for h in history for g in h["validation"].get("mae", {})})
    for n, group in enumerate(groups):
        mae = [
            (h["validation"].get("mae", {}).get(group) or {}).get("energy_mev_per_atom")
            for h in history
        ]
        mae = [np.nan if m is None else m for m in mae]
        ax_mae.semilogy(epochs, mae, "o-", ms=3, color=f"C{n}", label=group)
    ax_mae.set_xlabel("epoch")
    ax_mae.set_ylabel("validation energy MAE (meV/atom)")
    if groups:
        ax_mae.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(str(path), dpi=110)
    plt.close(fig)
