"""Errors per kind of system (water clusters, ion clusters, molecules, ...): where a model's error sits.

A frame's kind is its ``info["kind"]`` (set by the label generators, e.g. ``ion_cluster``) or
the name of the subset it came from, with `` in field`` appended when it carries an external
field. Energies are compared per atom (meV/atom) and per frame (signed, eV), forces per
component (meV/Å), dipoles per component (e·Å).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from openmm_polarml.pqeq.charge_groups import charge_groups_of_atoms, composition_key
from openmm_polarml.training.data import frames_from_atoms
from openmm_polarml.training.evaluate import predict_frames

__all__ = [
    "KIND_TABLE_NOTE",
    "frame_kind",
    "errors_by_ion",
    "errors_by_kind",
    "ion_label",
    "format_kind_table",
    "format_probe_table",
]

KIND_TABLE_NOTE = (
    "Energy MAE per atom and force MAE per component on the GFN2-xTB test frames, grouped by the "
    "kind of system that generated them (`examples/charge_model_table.py`); each column is a "
    "model evaluated under a charge model: `none` solves PQEq under one total-charge constraint "
    "per structure, `molecules` under one constraint per molecule with its formal charge "
    "(`openmm_polarml.pqeq.charge_groups`, what OpenMM applies with `fragments='molecules'`)."
)


def frame_kind(atoms, default: str = "other") -> str:
    """Kind label of one ``ase.Atoms`` (``info["kind"]``, else ``default``; `` in field``
    appended when ``info["external_field"]`` is non-zero)."""
    kind = str(atoms.info.get("kind", default))
    field = atoms.info.get("external_field")
    if field is not None and np.any(np.asarray(field, dtype=float) != 0.0):
        kind += " in field"
    return kind


def _kind_errors(pred: dict) -> dict:
    per_frame = pred["e_pred"] - pred["e_ref"]  # [B] eV
    f_err = (pred["f_pred"] - pred["f_ref"])[pred["has_f"]]  # [M, 3] eV/Å
    d_err = (pred["d_pred"] - pred["d_ref"])[pred["has_d"]]  # [B', 3] e·Å
    return {
        "frames": int(len(per_frame)),
        "skipped": int(pred.get("skipped", 0)),
        "energy_mae_mev_per_atom": float(np.mean(np.abs(per_frame / pred["n"])) * 1e3),
        "energy_mean_signed_ev_per_frame": float(np.mean(per_frame)),
        "energy_std_signed_ev_per_frame": float(np.std(per_frame)),
        "forces_mae_mev_per_A": float(np.mean(np.abs(f_err)) * 1e3) if f_err.size else None,
        "dipole_mae_e_A": float(np.mean(np.abs(d_err))) if d_err.size else None,
    }


def errors_by_kind(model, atoms_by_subset: dict, fragments: str | None = None) -> dict:
    """Error table per kind of system.

    Parameters
    ----------
    model : PolarMLModel
        The model, on the head the frames are labelled with.
    atoms_by_subset : dict
        ``{subset name: list of ase.Atoms}`` with labels (energy in eV, forces in eV/Å).
    fragments : str, optional
        The charge model to evaluate under (``"none"`` or ``"molecules"``); default the
        model's own (``model.config["fragments"]``).

    Returns
    -------
    dict
        ``{kind: {frames, energy_mae_mev_per_atom, energy_mean_signed_ev_per_frame,
        forces_mae_mev_per_A, dipole_mae_e_A}}``, sorted by kind.
    """
    groups: dict = defaultdict(list)
    for subset, atoms_list in atoms_by_subset.items():
        for atoms in atoms_list:
            groups[frame_kind(atoms, subset)].append(atoms)
    return _group_errors(model, groups, fragments)


def _group_errors(model, groups: dict, fragments: str | None) -> dict:
    mode = model.config.get("fragments", "none") if fragments is None else fragments
    out = {}
    with torch.enable_grad():
        for key in sorted(groups):
            frames = frames_from_atoms(groups[key], fragments=mode)
            out[key] = _kind_errors(predict_frames(model, frames))
    return out


def ion_label(atoms) -> str:
    """The charged molecules of a structure under the ``molecules`` charge model, e.g.
    ``"Cl(-1)"`` or ``"F(-1) + Na(+1)"``; ``"neutral"`` when every molecule is neutral and
    ``"global q=+1"`` when formal charges do not add up (one fragment)."""
    groups = charge_groups_of_atoms(atoms)
    if groups.global_fallback:
        return f"global q={float(atoms.info.get('charge', 0.0)):+g}"
    symbols = atoms.get_chemical_symbols()
    ions = sorted(
        f"{composition_key([symbols[i] for i in g])}({q:+.0f})"
        for g, q in zip(groups.groups, groups.charges, strict=True)
        if q != 0
    )
    return " + ".join(ions) or "neutral"


def errors_by_ion(
    model, atoms_list: list, fragments: str | None = None, by_kind: bool = False
) -> dict:
    """Error table per charged-molecule composition (:func:`ion_label`): where the signed energy
    error per frame follows the ion, an energy offset per ion is missing from the model.

    With ``by_kind`` the groups are split further by the kind of frame (:func:`frame_kind`),
    e.g. ``"Mg(+2) | bare_ion"`` beside ``"Mg(+2) | ion_cluster"``.

    Returns
    -------
    dict
        ``{ion label: {frames, energy_mae_mev_per_atom, energy_mean_signed_ev_per_frame,
        energy_std_signed_ev_per_frame, ...}}``.
    """
    groups: dict = defaultdict(list)
    for atoms in atoms_list:
        label = ion_label(atoms)
        groups[f"{label} | {frame_kind(atoms)}" if by_kind else label].append(atoms)
    return _group_errors(model, groups, fragments)


def format_kind_table(tables: dict) -> str:
    """A Markdown table with one row per kind and one column group per named result.

    Parameters
    ----------
    tables : dict
        ``{column label: errors_by_kind result}``.
    """
    labels = list(tables)
    kinds = sorted({k for t in tables.values() for k in t})
    head = "| kind | frames | " + " | ".join(f"{lab}: E (meV/atom) / F (meV/Å)" for lab in labels)
    lines = [head + " |", "|---|---:|" + "---:|" * len(labels)]
    for kind in kinds:
        cells = []
        frames = next(t[kind]["frames"] for t in tables.values() if kind in t)
        for lab in labels:
            row = tables[lab].get(kind)
            if row is None:
                cells.append("–")
                continue
            force = row["forces_mae_mev_per_A"]
            cells.append(
                f"{row['energy_mae_mev_per_atom']:.1f} / {'–' if force is None else f'{force:.0f}'}"
            )
        lines.append(f"| {kind} | {frames} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_probe_table(probes: dict) -> str:
    """A Markdown table of probe summaries (``{column label: {quantity: value}}``), the GFN2-xTB
    reference beside each quantity that has one (``binding_eV/Na`` → ``binding_reference_eV/Na``,
    ``effective_charge_e`` → ``effective_charge_reference_e``)."""
    labels = list(probes)
    keys = sorted({k for p in probes.values() for k in p if "reference" not in k})
    lines = [
        "| probe | GFN2-xTB | " + " | ".join(labels) + " |",
        "|---|---:|" + "---:|" * len(labels),
    ]
    for key in keys:
        unit = key.partition("/")[0].rsplit("_", 1)[-1]  # eV, e
        ref_key = key.replace(f"_{unit}", f"_reference_{unit}", 1)
        ref = next((p[ref_key] for p in probes.values() if ref_key in p), None)
        cells = [f"{p[key]:.2f}" if key in p else "–" for p in probes.values()]
        lines.append(
            f"| {key} | {'–' if ref is None else f'{ref:.2f}'} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)
