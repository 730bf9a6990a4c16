"""Error tables (MAE/RMSE per subset and per element) of a model on labelled frames."""

from __future__ import annotations

import numpy as np
import torch

from openmm_polarml.data_io import collate
from openmm_polarml.data_io import keys as K
from openmm_polarml.units import EV_PER_A3_TO_GPA


def predict_frames(model, frames: list, batch_size: int = 8) -> dict:
    """Concatenated predictions and labels (numpy) of the full model (network + PQEq + D3)."""
    dtype = model.shortrange.network.shift.dtype
    acc: dict = {
        k: []
        for k in (
            "e_pred",
            "e_ref",
            "n",
            "f_pred",
            "f_ref",
            "z",
            "s_pred",
            "s_ref",
            "has_f",
            "has_s",
            "d_pred",
            "d_ref",
            "has_d",
        )
    }
    skipped = 0
    for start in range(0, len(frames), batch_size):
        chunk = frames[start : start + batch_size]
        try:
            batch, out = _run(model, chunk, dtype)
        except Exception:
            if model.pqeq is None:
                raise
            kept = [f for f in chunk if _solvable(model, f, dtype)]
            skipped += len(chunk) - len(kept)
            chunk = kept
            if not chunk:
                continue
            batch, out = _run(model, chunk, dtype)
        acc["e_pred"].append(out["energy"].detach().double().numpy())
        acc["e_ref"].append(batch[K.ENERGY].double().numpy())
        acc["n"].append(batch[K.N_ATOMS].numpy())
        acc["f_pred"].append(out["forces"].detach().double().numpy())
        acc["f_ref"].append(batch[K.FORCES].double().numpy())
        acc["z"].append(batch[K.NUMBERS].numpy())
        acc["has_f"].append(batch[K.HAS_FORCES][batch[K.BATCH]].numpy())
        acc["has_s"].append(batch[K.HAS_STRESS].numpy())
        if "stress" in out:
            s = out["stress"].detach().double().numpy()
        else:
            s = np.zeros((len(out["energy"]), 3, 3))
        acc["s_pred"].append(s)
        acc["s_ref"].append(batch[K.STRESS].double().numpy())
        acc["d_pred"].append(out["dipole"].detach().double().numpy())
        acc["d_ref"].append(batch[K.DIPOLE].double().numpy())
        acc["has_d"].append(batch[K.HAS_DIPOLE].numpy())
    out = {k: np.concatenate(v) for k, v in acc.items()}
    out["skipped"] = skipped
    return out


def _run(model, frames: list, dtype):
    batch = collate(frames, dtype)
    stress = bool(batch[K.HAS_STRESS].any())
    return batch, model(batch, compute_forces=True, compute_stress=stress)


def _solvable(model, frame: dict, dtype) -> bool:
    """Whether the model (its PQEq solve) succeeds on a single frame."""
    try:
        _run(model, [frame], dtype)
    except Exception:
        return False
    return True


def _mae_rmse(err: np.ndarray) -> dict:
    if err.size == 0:
        return {"mae": float("nan"), "rmse": float("nan"), "count": 0}
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "count": int(err.size),
    }


def error_table(pred: dict) -> dict:
    """Errors in meV/atom (energy), meV/Å (forces), GPa (stress), e·Å (dipole components of
    frames with a dipole label: neutral finite frames), and forces per element."""
    e_err = (pred["e_pred"] - pred["e_ref"]) / pred["n"] * 1e3
    f_mask = pred["has_f"]
    f_err = (pred["f_pred"] - pred["f_ref"])[f_mask] * 1e3
    s_err = (pred["s_pred"] - pred["s_ref"])[pred["has_s"]] * EV_PER_A3_TO_GPA
    has_d = pred.get("has_d", np.zeros(0, dtype=bool))
    d_err = (pred["d_pred"] - pred["d_ref"])[has_d] if has_d.any() else np.zeros(0)
    out = {
        "skipped_frames": int(pred.get("skipped", 0)),
        "energy_mev_per_atom": _mae_rmse(e_err),
        "forces_mev_per_A": _mae_rmse(f_err),
        "stress_gpa": _mae_rmse(s_err),
        "dipole_e_A": _mae_rmse(d_err),
        "per_element_forces_mev_per_A": {},
    }
    z = pred["z"][f_mask]
    for element in np.unique(z):
        out["per_element_forces_mev_per_A"][int(element)] = _mae_rmse(f_err[z == element])
    return out


def format_tables(results: dict) -> str:
    """Plain-text tables of :func:`error_table` results keyed by subset name."""
    from ase.data import chemical_symbols

    w = max([12] + [len(name) + 2 for name in results])  # subset column wide enough for every name
    lines = [f"{'subset':<{w}}{'quantity':<22}{'MAE':>12}{'RMSE':>12}{'count':>9}"]
    for subset, res in results.items():
        if res.get("skipped_frames"):
            lines.append(f"{subset:<{w}}(skipped {res['skipped_frames']} frames: PQEq failed)")
        for key in ("energy_mev_per_atom", "forces_mev_per_A", "stress_gpa", "dipole_e_A"):
            r = res.get(key)
            if r is None or not r["count"]:
                continue
            lines.append(
                f"{subset:<{w}}{key:<22}{r['mae']:>12.4g}{r['rmse']:>12.4g}{r['count']:>9}"
            )
    lines.append("")
    lines.append(f"{'subset':<{w}}{'element':<8}{'force MAE':>12}{'RMSE (meV/Å)':>14}{'count':>9}")
    for subset, res in results.items():
        for z, r in sorted(res["per_element_forces_mev_per_A"].items()):
            lines.append(
                f"{subset:<{w}}{chemical_symbols[int(z)]:<8}{r['mae']:>12.4g}"
                f"{r['rmse']:>14.4g}{r['count']:>9}"
            )
    return "\n".join(lines)


def evaluate(model, subsets: dict, batch_size: int = 8) -> tuple[dict, dict]:
    """``(tables, predictions)`` for ``{name: frames}``; empty subsets are skipped."""
    tables, preds = {}, {}
    with torch.enable_grad():
        for name, frames in subsets.items():
            if frames:
                preds[name] = predict_frames(model, frames, batch_size)
                tables[name] = error_table(preds[name])
    return tables, preds
