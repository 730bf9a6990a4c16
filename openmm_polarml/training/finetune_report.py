"""The fine-tuning demo's outputs: the before/after table and the bar plot.

Reads the records of :func:`openmm_polarml.training.finetune_demo.finetune_demo` (per demo:
``errors`` per stage with energy MAE/RMSE in meV/atom and force MAE/RMSE in meV/Å, ``seconds``
per timed step, ``n_train``, ``n_test``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openmm_polarml.training.finetune_demo import STAGE_SECONDS, STAGES

__all__ = ["format_table", "bar_plot"]


def format_table(results: dict) -> str:
    """Plain-text before/after table (energy meV/atom, forces meV/Å MAE; seconds)."""
    head = f"{'demo':<11}{'stage':<17}{'E MAE':>11}{'E RMSE':>11}{'F MAE':>9}{'F RMSE':>9}"
    lines = [head + f"{'seconds':>9}", f"{'':<28}{'(meV/atom)':>22}{'(meV/Å)':>18}"]
    for name, rec in results.items():
        for stage in STAGES:
            e = rec["errors"][stage]["energy_mev_per_atom"]
            f = rec["errors"][stage]["forces_mev_per_A"]
            sec = sum(rec["seconds"].get(k, 0.0) for k in STAGE_SECONDS[stage])
            lines.append(
                f"{name:<11}{stage:<17}{e['mae']:>11.1f}{e['rmse']:>11.1f}{f['mae']:>9.1f}"
                f"{f['rmse']:>9.1f}{sec:>9.1f}"
            )
        lines.append(
            f"{'':<11}(train {rec['n_train']}, test {rec['n_test']} frames; "
            f"total {sum(rec['seconds'].values()):.1f} s)"
        )
    return "\n".join(lines)


def bar_plot(results: dict, path: Path) -> None:
    """Grouped bars of energy (meV/atom, log scale) and force (meV/Å) MAE per demo and stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.8 / len(STAGES)
    for ax, key, label in zip(
        axes,
        ("energy_mev_per_atom", "forces_mev_per_A"),
        ("energy MAE (meV/atom)", "force MAE (meV/Å)"),
        strict=True,
    ):
        for k, stage in enumerate(STAGES):
            values = [results[n]["errors"][stage][key]["mae"] for n in names]
            x = np.arange(len(names)) + (k - (len(STAGES) - 1) / 2) * width
            bars = ax.bar(x, values, width, label=stage, color=f"C{k}")
            ax.bar_label(bars, fmt="%.0f", fontsize=7)
        ax.set_xticks(np.arange(len(names)), names)
        ax.set_ylabel(label)
        if key.startswith("energy"):
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle("foundation model fine-tuned (readout only): test-set errors")
    fig.tight_layout()
    fig.savefig(str(path), dpi=110)
    plt.close(fig)
