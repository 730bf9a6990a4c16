"""Model-card probes evaluated against their reference labels (see :mod:`openmm_polarml.data.probes`).

- :func:`ion_pair_curves`: gas-phase diatomic energy curves relative to the reference minimum.
- :func:`charged_cluster_curve`: interaction energy of Na⁺(H₂O)₄ and Cl⁻(H₂O)₄ against their
  separation, and the effective cluster charge its 1/R tail implies.

Energies in eV, distances in Å.
"""

from __future__ import annotations

import numpy as np
import torch

from openmm_polarml.data_io import collate
from openmm_polarml.training.data import frames_from_atoms
from openmm_polarml.units import COULOMB_EV_ANGSTROM


def model_energies(model, atoms_list: list) -> np.ndarray:
    """Energies (eV) of the full model (network + PQEq + D3) on ``atoms_list``, one by one.

    Frames are routed to the model's current head (their ``level`` is ignored)."""
    dtype = model.shortrange.network.shift.dtype
    out = []
    with torch.enable_grad():
        for atoms in atoms_list:
            plain = atoms.copy()
            plain.info = {k: v for k, v in atoms.info.items() if k in ("charge", "external_field")}
            batch = collate(frames_from_atoms([plain]), dtype)
            pred = model(batch, compute_forces=False)
            out.append(float(pred["energy"].detach()[0]))
    return np.array(out)


#: eV above the reference minimum: ion-pair points higher than this (hard compression) are
#: plotted but left out of the curve MAE
ION_PAIR_MAE_WINDOW = 5.0


def ion_pair_curves(model, references: list) -> dict:
    """Per pair: distances, model and reference energies relative to the reference minimum,
    their MAE (eV) over the points within :data:`ION_PAIR_MAE_WINDOW` of the reference minimum,
    and the two minima (Å). Only frames with a reference label are used."""
    out = {}
    pairs = sorted({a.info["pair"] for a in references if a.info.get("probe") == "ion_pair"})
    for pair in pairs:
        frames = sorted(
            (a for a in references if a.info.get("pair") == pair), key=lambda a: a.info["r"]
        )
        r = np.array([a.info["r"] for a in frames])
        ref = np.array([a.info["energy"] for a in frames])
        pred = model_energies(model, frames)
        k = int(np.argmin(ref))
        ref_rel, pred_rel = ref - ref[k], pred - pred[k]
        out[pair] = {
            "r_A": r.tolist(),
            "reference_eV": ref_rel.tolist(),
            "model_eV": pred_rel.tolist(),
            "mae_eV": float(np.abs(pred_rel - ref_rel)[ref_rel < ION_PAIR_MAE_WINDOW].mean()),
            "mae_points": int((ref_rel < ION_PAIR_MAE_WINDOW).sum()),
            "r_min_reference_A": float(r[k]),
            "r_min_model_A": float(r[int(np.argmin(pred))]),
        }
    return out


def _interaction(frames: list, energies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(separations, pair energy − cation alone − anion alone) of a charged-cluster probe."""
    part = {a.info["part"]: e for a, e in zip(frames, energies, strict=True) if "r" not in a.info}
    pairs = [(a.info["r"], e) for a, e in zip(frames, energies, strict=True) if "r" in a.info]
    pairs.sort()
    r = np.array([p[0] for p in pairs])
    return r, np.array([p[1] for p in pairs]) - part["cation"] - part["anion"]


def effective_charge(r: np.ndarray, interaction: np.ndarray) -> float:
    """|q| of two opposite point charges whose Coulomb law gives the interaction change between
    the nearest separation of at least 10 Å and the farthest one."""
    near = int(np.argmax(r >= 10.0))
    slope = (interaction[-1] - interaction[near]) / (1.0 / r[near] - 1.0 / r[-1])  # = k q²
    return float(np.sqrt(max(slope, 0.0) / COULOMB_EV_ANGSTROM))


def charged_cluster_curve(model, references: list) -> dict:
    """Interaction energies (eV) of the charged-cluster probe, model and reference, the MAE of
    their shapes (each relative to its farthest point) and the effective charges."""
    frames = [a for a in references if a.info.get("probe") == "charged_clusters"]
    r, ref = _interaction(frames, np.array([a.info["energy"] for a in frames]))
    _, pred = _interaction(frames, model_energies(model, frames))
    return {
        "r_A": r.tolist(),
        "reference_eV": ref.tolist(),
        "model_eV": pred.tolist(),
        "coulomb_unit_charges_eV": (-COULOMB_EV_ANGSTROM / r).tolist(),
        "shape_mae_eV": float(np.abs((pred - pred[-1]) - (ref - ref[-1])).mean()),
        "effective_charge_reference_e": effective_charge(r, ref),
        "effective_charge_model_e": effective_charge(r, pred),
    }


def probe_plot(ion_pairs: dict, clusters: dict, path) -> None:
    """Ion-pair curves (left) and the charged-cluster interaction (right), model vs reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for k, (pair, c) in enumerate(ion_pairs.items()):
        color = f"C{k}"
        left.plot(c["r_A"], c["reference_eV"], "o", color=color, label=f"{pair} GFN2-xTB")
        left.plot(c["r_A"], c["model_eV"], "-", color=color, label=f"{pair} model")
    left.set(xlabel="distance (Å)", ylabel="E − E(ref. minimum) (eV)", title="gas-phase ion pairs")
    left.legend(fontsize=8)
    r = np.array(clusters["r_A"])
    right.plot(r, clusters["reference_eV"], "o", label="GFN2-xTB")
    right.plot(r, clusters["model_eV"], "-", label="model")
    right.plot(r, clusters["coulomb_unit_charges_eV"], "--", color="grey", label="−k/R (±1 e)")
    right.set(
        xlabel="ion–ion distance R (Å)",
        ylabel="E(pair) − E(Na⁺ cluster) − E(Cl⁻ cluster) (eV)",
        title="Na⁺(H₂O)₄ ··· Cl⁻(H₂O)₄",
    )
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
