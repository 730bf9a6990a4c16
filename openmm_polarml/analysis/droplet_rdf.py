"""First RDF peaks of droplet trajectories (:mod:`openmm_polarml.analysis.droplet_md`).

A first peak is the maximum of the pair-distance histogram divided by r² (0.02 Å bins, Gaussian
smoothing σ = 0.04 Å) inside a window per pair (:data:`PAIRS`); its spread is the
half-difference between the peaks of the two halves of the production frames. Distances in Å.
Imports only numpy and ase.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.io import read

from openmm_polarml.analysis.droplet_md import (
    EQUILIBRATION_PS,
    FRAME_EVERY,
    FRICTION_PER_FS,
    H_MASS_AMU,
    TEMPERATURE_K,
    TIMESTEP_FS,
    WATERS,
)

__all__ = [
    "PAIRS",
    "BIN_A",
    "SMOOTH_A",
    "histogram_peak",
    "analyse",
    "ion_placement",
    "protocol",
    "format_peak_table",
    "plot",
]

#: label -> (element A, element B, (r_min, r_max) Å window of the first peak)
PAIRS = {"O-O": ("O", "O", (2.4, 3.3)), "Na-O": ("Na", "O", (1.9, 3.4)),
         "Cl-O": ("Cl", "O", (2.7, 3.7))}  # fmt: skip

BIN_A, SMOOTH_A = 0.02, 0.04


def histogram_peak(frames, a: str, b: str, window: tuple) -> float:
    """Å, maximum of the r²-normalised, smoothed a–b distance histogram inside ``window``."""
    edges = np.arange(1.0, 6.0 + BIN_A, BIN_A)
    counts = np.zeros(len(edges) - 1)
    for atoms in frames:
        sym = np.array(atoms.get_chemical_symbols())
        ia, ib = np.flatnonzero(sym == a), np.flatnonzero(sym == b)
        d = np.linalg.norm(
            atoms.positions[ia, None] - atoms.positions[None, ib], axis=-1
        )  # [na, nb]
        d = d[np.triu(np.ones_like(d, bool), 1)] if a == b else d.ravel()
        counts += np.histogram(d, edges)[0]
    r = 0.5 * (edges[1:] + edges[:-1])
    kernel = np.exp(-0.5 * (np.arange(-4, 5) * BIN_A / SMOOTH_A) ** 2)
    g = np.convolve(counts / r**2, kernel / kernel.sum(), mode="same")
    inside = (r >= window[0]) & (r <= window[1])
    return float(r[inside][np.argmax(g[inside])])


def analyse(traj_path: Path) -> dict:
    """First peaks (Å, with their halves' spread) per pair of :data:`PAIRS` present, the ion's
    placement and the simulated ps of one droplet trajectory; empty below 20 production
    frames."""
    frames = read(str(traj_path), index=":")
    start = int(round(EQUILIBRATION_PS * 1000 / (TIMESTEP_FS * FRAME_EVERY)))
    production = frames[start:]
    if len(production) < 20:
        return {}
    half = len(production) // 2
    sym = set(production[0].get_chemical_symbols())
    out = {"frames": len(production), "ps": (len(frames) - 1) * FRAME_EVERY * TIMESTEP_FS / 1e3}
    for label, (a, b, window) in PAIRS.items():
        if a in sym and b in sym:
            peaks = [histogram_peak(part, a, b, window)
                     for part in (production, production[:half], production[half:])]  # fmt: skip
            out[label] = {"peak_A": peaks[0], "halves_spread_A": abs(peaks[1] - peaks[2]) / 2}
    ions = sym & {"Na", "Cl"}
    if ions:
        out["ion"] = ion_placement(production, ions.pop())
    return out


def ion_placement(frames, ion: str) -> dict:
    """Å, means over ``frames``: the ion's nearest O and its distance from the droplet centre."""
    nearest, centre = [], []
    for atoms in frames:
        sym = np.array(atoms.get_chemical_symbols())
        k, oxygens = np.flatnonzero(sym == ion)[0], np.flatnonzero(sym == "O")
        nearest.append(np.linalg.norm(atoms.positions[oxygens] - atoms.positions[k], axis=1).min())
        centre.append(np.linalg.norm(atoms.positions[k] - atoms.get_center_of_mass()))
    return {"nearest_O_A": float(np.mean(nearest)), "from_centre_A": float(np.mean(centre))}


def protocol(ps: float) -> str:
    """The run and analysis settings in one sentence (for the model card)."""
    return (
        f"gas-phase droplets of {WATERS} waters, Na⁺ + {WATERS} and Cl⁻ + {WATERS} waters "
        f"(seeded packing); ASE Langevin NVT at {TEMPERATURE_K:g} K, friction "
        f"{FRICTION_PER_FS:g} fs⁻¹, {TIMESTEP_FS:g} fs, H {H_MASS_AMU:g} amu, centre of mass "
        f"fixed; {ps:g} ps per engine, the first {EQUILIBRATION_PS:g} ps dropped, a frame every "
        f"{FRAME_EVERY * TIMESTEP_FS:g} fs; first peak = maximum of the r²-normalised "
        f"pair-distance histogram ({BIN_A:g} Å bins, Gaussian smoothing σ = {SMOOTH_A:g} Å)."
    )


def format_peak_table(results: dict) -> str:
    """First peaks (Å) of GFN2-xTB and the model per system and pair, and their difference."""
    lines = [f"\n{'system':12s} {'pair':5s} {'GFN2-xTB/A':>11s} {'model/A':>9s} {'delta/A':>8s}"]
    for system, r in results.items():
        for pair in PAIRS:
            if pair in r["gfn2"] and pair in r["model"]:
                g, m = r["gfn2"][pair]["peak_A"], r["model"][pair]["peak_A"]
                lines.append(f"{system:12s} {pair:5s} {g:11.2f} {m:9.2f} {m - g:+8.2f}")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    """First peaks with their spread, GFN2-xTB beside the model, per system and pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [(s, p) for s, r in results.items() for p in PAIRS if p in r["gfn2"]]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(len(labels))
    for shift, engine in ((-0.15, "gfn2"), (0.15, "model")):
        y = [results[s][engine][p]["peak_A"] for s, p in labels]
        e = [results[s][engine][p]["halves_spread_A"] for s, p in labels]
        ax.errorbar(
            x + shift, y, yerr=e, fmt="o", label="GFN2-xTB" if engine == "gfn2" else "model"
        )
    ax.set_xticks(x, [f"{p}\n{s}" for s, p in labels], fontsize=8)
    ax.set_ylabel("first peak (Å)")
    ax.set_title("Droplet MD, 300 K: model vs GFN2-xTB")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
