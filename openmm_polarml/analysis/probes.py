"""Model-card probes evaluated against their reference labels (see :mod:`openmm_polarml.data.probes`).

- :func:`ion_pair_curves`: gas-phase diatomic energy curves relative to the reference minimum.
- :func:`charged_cluster_curve`: interaction energy of Na⁺(H₂O)₄ and Cl⁻(H₂O)₄ against their
  separation, and the effective cluster charge its 1/R tail implies.
- :func:`ion_water_curves`: Na⁺–OH₂ and Cl⁻···H–OH binding curves, E(pair) − E(ion) − E(water),
  with the minimum (distance and binding energy) of each curve.

Energies in eV, distances in Å.
"""

from __future__ import annotations

import numpy as np
import torch

from openmm_polarml.data_io import collate
from openmm_polarml.data_io import keys as K
from openmm_polarml.training.data import frames_from_atoms
from openmm_polarml.units import COULOMB_EV_ANGSTROM


def model_energies(model, atoms_list: list, fragments=None) -> np.ndarray:
    """Energies (eV) of the full model (network + PQEq + D3) on ``atoms_list``, one by one.

    Frames are routed to the model's current head (their ``level`` is ignored).

    Parameters
    ----------
    fragments : callable, optional
        ``fragments(atoms) -> (index lists, charges in e)`` or None: charge-conserving groups of
        the PQEq solve (as ``PolarMLPotential(fragments=...)`` uses them in MD). Default: the
        model's own charge model (``model.config["fragments"]``, as in its training).
    """
    dtype = model.shortrange.network.shift.dtype
    out = []
    with torch.enable_grad():
        for atoms in atoms_list:
            plain = atoms.copy()
            plain.info = {k: v for k, v in atoms.info.items() if k in ("charge", "external_field")}
            charge_model = model.config.get("fragments", "none")
            batch = collate(frames_from_atoms([plain], fragments=charge_model), dtype)
            if fragments is not None:
                groups, charges = fragments(atoms)
                batch[K.FRAGMENTS] = [[torch.as_tensor(g, dtype=torch.long) for g in groups]]
                batch[K.FRAGMENT_CHARGES] = [torch.as_tensor(charges, dtype=dtype)]
            pred = model(batch, compute_forces=False)
            out.append(float(pred["energy"].detach()[0]))
    return np.array(out)


def ion_and_water(atoms) -> tuple[list, list]:
    """Fragments of an ion–water probe frame: the water (charge 0) and the ion (its charge)."""
    ion = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s not in ("O", "H")]
    water = [i for i in range(len(atoms)) if i not in ion]
    groups = [g for g in (water, ion) if g]
    charges = [0.0 if g is water else float(atoms.info["charge"]) for g in groups]
    return groups, charges


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


#: eV above the reference minimum: ion–water points higher than this (the repulsive wall) are
#: plotted but left out of the curve MAE
ION_WATER_MAE_WINDOW = 1.0
#: Å, ion–O first-shell distance of the aqueous ions by X-ray/neutron diffraction (Ohtaki &
#: Radnai, Chem. Rev. 93, 1157 (1993)): a liquid-state peak, not a gas-phase monomer minimum
FIRST_SHELL_EXPERIMENT_A = {"Na": 2.41, "Cl": 3.18}


def curve_minimum(r: np.ndarray, energy: np.ndarray) -> dict:
    """Minimum of a sampled curve: the grid point and the parabola through it and its neighbours.

    Parameters
    ----------
    r : np.ndarray
        Distances (Å), increasing, shape ``[n]``.
    energy : np.ndarray
        Energies (eV) at ``r``, shape ``[n]``.

    Returns
    -------
    dict
        ``r_grid_A``/``e_grid_eV``: the lowest sampled point; ``r_A``/``e_eV``: the vertex of the
        parabola through that point and its two neighbours (the grid point itself when it is at an
        end of the grid or the three points do not curve upwards).
    """
    k = int(np.argmin(energy))
    out = {"r_grid_A": float(r[k]), "e_grid_eV": float(energy[k])}
    out.update(r_A=out["r_grid_A"], e_eV=out["e_grid_eV"])
    if 0 < k < len(r) - 1:
        a, b, c = np.polyfit(r[k - 1 : k + 2], energy[k - 1 : k + 2], 2)  # exact through 3 points
        if a > 0:
            out.update(r_A=float(-b / (2 * a)), e_eV=float(c - b * b / (4 * a)))
    return out


def _binding(
    frames: list, energies: np.ndarray, alone: str = "ion"
) -> tuple[np.ndarray, np.ndarray]:
    """(distances [n] Å, E(pair) − E(``alone`` part) − E(water alone) [n] eV), sorted by r."""
    part = {a.info["part"]: e for a, e in zip(frames, energies, strict=True) if "r" not in a.info}
    pairs = sorted((a.info["r"], e) for a, e in zip(frames, energies, strict=True) if "r" in a.info)
    r = np.array([p[0] for p in pairs], dtype=float)
    return r, np.array([p[1] for p in pairs]) - part[alone] - part["water"]


def ion_water_curves(model, references: list) -> dict:
    """Ion–water binding curves of the model and the reference, per ion (``Na``, ``Cl``).

    Parameters
    ----------
    model : torch.nn.Module
        The full model (network + PQEq + D3), evaluated by :func:`model_energies`.
    references : list of Atoms
        Labelled probe frames; those with ``info["probe"] == "ion_water"`` are used (an ion
        whose ``ion`` or ``water`` frame is unlabelled is left out).

    Returns
    -------
    dict
        Per ion: ``r_A`` (ion–O distances, Å), ``reference_eV``/``model_eV`` (binding energies
        E(pair) − E(ion) − E(water), eV; ``model_fragments_eV`` with the ion and the water each
        holding its own charge, as ``PolarMLPotential`` runs MD by default, instead of one
        total-charge constraint), ``mae_eV``/``mae_fragments_eV`` over the ``mae_points`` points within
        :data:`ION_WATER_MAE_WINDOW` of the reference minimum, and for reference and model the
        grid minimum ``r_min_grid_*_A``, the parabola minimum ``r_min_*_A`` and the binding
        energy there ``binding_*_eV`` (:func:`curve_minimum`), ``*`` being ``reference``,
        ``model`` or ``model_fragments``.
    """
    out = {}
    frames = [a for a in references if a.info.get("probe") == "ion_water"]
    for ion in dict.fromkeys(a.info["ion"] for a in frames):  # in probe order: Na, Cl
        mine = [a for a in frames if a.info["ion"] == ion]
        if {"ion", "water"} - {a.info["part"] for a in mine}:
            continue
        r, ref = _binding(mine, np.array([a.info["energy"] for a in mine]))
        _, pred = _binding(mine, model_energies(model, mine))
        _, held = _binding(mine, model_energies(model, mine, fragments=ion_and_water))
        window = ref - ref.min() < ION_WATER_MAE_WINDOW  # [n] bool
        curve = {
            "r_A": r.tolist(),
            "reference_eV": ref.tolist(),
            "model_eV": pred.tolist(),
            "model_fragments_eV": held.tolist(),
            "mae_eV": float(np.abs(pred - ref)[window].mean()),
            "mae_fragments_eV": float(np.abs(held - ref)[window].mean()),
            "mae_points": int(window.sum()),
        }
        for name, energy in (("reference", ref), ("model", pred), ("model_fragments", held)):
            m = curve_minimum(r, energy)
            curve[f"r_min_grid_{name}_A"] = m["r_grid_A"]
            curve[f"r_min_{name}_A"] = m["r_A"]
            curve[f"binding_{name}_eV"] = m["e_eV"]
        out[ion] = curve
    return out


#: H···H distances (Å) at which the ``hh_contact`` table compares repulsion
HH_CONTACT_REPORT_A = (1.0, 1.25, 1.5)


def _molecule_and_water(atoms) -> tuple[list, list]:
    """Fragments of an H···H contact probe frame: the molecule and the water, each neutral."""
    if atoms.info["part"] != "pair":
        return [list(range(len(atoms)))], [0.0]
    n = int(atoms.info["molecule_atoms"])
    return [list(range(n)), list(range(n, len(atoms)))], [0.0, 0.0]


def hh_contact_curves(model, references: list) -> dict:
    """Methyl H···water H contact curves of the model and the reference, per molecule.

    Energies are E(pair) − E(molecule alone) − E(water alone) (eV), the model's with the molecule
    and the water each neutral (as in MD with ``fragments='molecules'``).

    Returns
    -------
    dict
        Per molecule: ``r_A`` (H···H, Å), ``reference_eV``, ``model_eV``, ``mae_eV`` over all
        points, and ``at_<r>_reference_eV`` / ``at_<r>_model_eV`` for r in
        :data:`HH_CONTACT_REPORT_A`.
    """
    out = {}
    frames = [a for a in references if a.info.get("probe") == "hh_contact"]
    for name in dict.fromkeys(a.info["pair"] for a in frames):
        mine = [a for a in frames if a.info["pair"] == name]
        parts = {a.info["part"] for a in mine}
        if {"molecule", "water"} - parts:
            continue
        ref_all = np.array([a.info["energy"] for a in mine])
        pred_all = model_energies(model, mine, fragments=_molecule_and_water)
        r, ref = _binding(mine, ref_all, alone="molecule")
        _, pred = _binding(mine, pred_all, alone="molecule")
        curve = {
            "r_A": r.tolist(),
            "reference_eV": ref.tolist(),
            "model_eV": pred.tolist(),
            "mae_eV": float(np.abs(pred - ref).mean()),
        }
        for x in HH_CONTACT_REPORT_A:
            k = np.flatnonzero(np.isclose(r, x))
            if len(k):
                curve[f"at_{x:g}_reference_eV"] = float(ref[k[0]])
                curve[f"at_{x:g}_model_eV"] = float(pred[k[0]])
        out[name] = curve
    return out


def probe_plot(
    ion_pairs: dict, clusters: dict, path, ion_water: dict | None = None, hh_contact=None
) -> None:
    """Ion-pair curves, the charged-cluster interaction and (when given) the ion–water binding
    and H···H contact curves, model (lines) vs reference (points); saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_panels = 2 + bool(ion_water) + bool(hh_contact)
    fig, axes = plt.subplots(1, n_panels, figsize=(5.5 * n_panels, 4.2))
    left, right = axes[0], axes[1]
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
    if ion_water:
        _ion_water_panel(axes[2], ion_water)
    if hh_contact:
        _hh_contact_panel(axes[-1], hh_contact)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _ion_water_panel(ax, ion_water: dict) -> None:
    """Binding curves per ion, model lines vs GFN2-xTB points, the experimental first shell dotted."""
    for k, (ion, c) in enumerate(ion_water.items()):
        color = f"C{k + 3}"
        ax.plot(c["r_A"], c["reference_eV"], "o", color=color, label=f"{ion} GFN2-xTB")
        ax.plot(c["r_A"], c["model_eV"], "-", color=color, label=f"{ion} model, as trained")
        if "model_fragments_eV" in c:
            label = f"{ion} model, ion and water as fragments"
            ax.plot(c["r_A"], c["model_fragments_eV"], "--", color=color, label=label)
        if ion in FIRST_SHELL_EXPERIMENT_A:
            ax.axvline(FIRST_SHELL_EXPERIMENT_A[ion], color=color, ls=":", lw=1)
    ax.set(
        xlabel="ion–O distance (Å)  (dotted: first shell in water, experiment)",
        ylabel="E(pair) − E(ion) − E(water) (eV)",
        title="Na⁺–OH₂ (C2 axis) and Cl⁻···H–OH (linear)",
    )
    ax.legend(fontsize=8)


def _hh_contact_panel(ax, hh_contact: dict) -> None:
    """Methyl H···water H contact curves, model lines vs GFN2-xTB points."""
    for k, (name, c) in enumerate(hh_contact.items()):
        color = f"C{k + 5}"
        ax.plot(c["r_A"], c["reference_eV"], "o", color=color, label=f"{name} GFN2-xTB")
        ax.plot(c["r_A"], c["model_eV"], "-", color=color, label=f"{name} model")
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set(
        xlabel="H···H distance (Å), collinear C–H···H–O",
        ylabel="E(pair) − E(molecule) − E(water) (eV)",
        title="methyl H ··· water H contact",
    )
    ax.legend(fontsize=8)
