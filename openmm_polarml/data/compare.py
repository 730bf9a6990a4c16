"""How far a teacher is from the real DFT labels: SevenNet-0 on unperturbed ``dft`` frames.

``polarml data compare-teacher`` labels a seeded sample of the ``dft`` subset's structures (at
most :data:`~openmm_polarml.data.structures.MAX_ATOMS` atoms, elements SevenNet-0 knows) with
the teacher and tabulates the disagreement per source: energy per atom (raw, and after the
best per-element constant shift, which a readout head's element reference energies can absorb),
forces and stress. The result goes to ``<out>/sevenn/teacher_vs_dft.json``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from openmm_polarml.data import shards as _shards


def sample_dft(out: str | Path, n: int, seed: int = 0, max_atoms: int = 48) -> list:
    """``n`` frames of the built ``dft`` subset drawn without replacement (seeded)."""
    folder = Path(out) / "dft"
    frames = [
        a
        for marker in sorted(folder.glob("shard_*.done"))
        for a in _shards.read_frames(marker.with_suffix(".extxyz.gz"))
        if len(a) <= max_atoms and not set(a.numbers) & set(range(84, 89))
    ]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(frames), size=min(n, len(frames)), replace=False)
    return [frames[int(i)] for i in sorted(picks)]


def full_stress(stress) -> np.ndarray:
    """A stress (Voigt 6 or 3×3, eV/Å³) as the flattened 3×3 tensor [9]."""
    from ase.stress import voigt_6_to_full_3x3_stress

    stress = np.asarray(stress, dtype=np.float64)
    return (voigt_6_to_full_3x3_stress(stress) if stress.size == 6 else stress).reshape(9)


def shifted_energy_errors(pairs: list[tuple]) -> np.ndarray:
    """Per-atom energy errors after the least-squares per-element shift.

    ``pairs`` are ``(numbers, e_teacher, e_reference)``; returns ``(e_t − e_r − Σ_Z n_Z c_Z)/N``.
    """
    elements = sorted({int(z) for numbers, _, _ in pairs for z in numbers})
    column = {z: k for k, z in enumerate(elements)}
    counts = np.zeros((len(pairs), len(elements)))  # [frames, elements]
    for row, (numbers, _, _) in enumerate(pairs):
        for z in numbers:
            counts[row, column[int(z)]] += 1
    delta = np.array([t - r for _, t, r in pairs])  # [frames] eV
    shift, *_ = np.linalg.lstsq(counts, delta, rcond=None)
    return (delta - counts @ shift) / counts.sum(axis=1)


def disagreement(reference: list, labelled: list) -> dict:
    """Rows per ``source_origin`` (and ``all``) of teacher-minus-DFT errors.

    Energies in eV/atom, forces in eV/Å, stress in GPa.
    """
    groups = defaultdict(list)
    for ref, lab in zip(reference, labelled, strict=True):
        key = f"{ref.info.get('source_package')}:{ref.info.get('source_origin', '')}"
        groups[key].append((ref, lab))
        groups["all"].append((ref, lab))
    rows = {}
    for key, members in sorted(groups.items()):
        e_err = np.array([(lab["energy"] - ref.info["energy"]) / len(ref) for ref, lab in members])
        f_err = np.concatenate(
            [(np.asarray(lab["forces"]) - ref.arrays["forces"]).ravel() for ref, lab in members]
        )
        pairs = [(ref.numbers, lab["energy"], ref.info["energy"]) for ref, lab in members]
        row = {
            "frames": len(members),
            "energy_mae_eV_per_atom": float(np.abs(e_err).mean()),
            "energy_mean_eV_per_atom": float(e_err.mean()),
            "energy_mae_shifted_eV_per_atom": float(np.abs(shifted_energy_errors(pairs)).mean()),
            "force_mae_eV_per_A": float(np.abs(f_err).mean()),
            "force_rmse_eV_per_A": float(np.sqrt((f_err**2).mean())),
        }
        s_err = [
            np.asarray(lab["stress"]) - full_stress(ref.info["stress"])
            for ref, lab in members
            if "stress" in ref.info and "stress" in lab
        ]
        if s_err:
            row["stress_mae_GPa"] = float(np.abs(np.concatenate(s_err)).mean() * 160.21766)
        rows[key] = row
    return rows


def format_rows(rows: dict) -> str:
    head = (
        f"{'source':<34} {'frames':>6} {'E MAE':>8} {'E mean':>8} {'E shifted':>9} "
        f"{'F MAE':>7} {'F RMSE':>7} {'S MAE':>7}"
    )
    lines = [head, f"{'':<34} {'':>6} {'eV/atom':>8} {'eV/atom':>8} {'eV/atom':>9} "
             f"{'eV/Å':>7} {'eV/Å':>7} {'GPa':>7}", "-" * len(head)]  # fmt: skip
    for key, r in rows.items():
        stress = f"{r['stress_mae_GPa']:7.2f}" if "stress_mae_GPa" in r else f"{'-':>7}"
        lines.append(
            f"{key[:34]:<34} {r['frames']:>6} {r['energy_mae_eV_per_atom']:8.3f} "
            f"{r['energy_mean_eV_per_atom']:8.3f} {r['energy_mae_shifted_eV_per_atom']:9.3f} "
            f"{r['force_mae_eV_per_A']:7.3f} {r['force_rmse_eV_per_A']:7.3f} {stress}"
        )
    return "\n".join(lines)


def compare_teacher(out: str | Path, n: int = 300, seed: int = 0, teacher: str = "sevenn") -> dict:
    """Label ``n`` sampled ``dft`` frames with one SevenNet checkpoint (``teacher``, a key of
    :data:`~openmm_polarml.data.label_worker.SEVENN_CHECKPOINTS`); write and return the
    comparison (``<out>/sevenn/teacher_vs_dft.json`` for SevenNet-0, else
    ``<out>/sevenn/<teacher>_vs_dft.json``)."""
    from openmm_polarml.data import teachers

    reference = sample_dft(out, n, seed)
    from ase import Atoms

    bare = [Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=a.pbc) for a in reference]
    output = teachers.run_worker(teacher, bare)
    kept = [(ref, res) for ref, res in zip(reference, output["results"], strict=True) if res["ok"]]
    rows = disagreement([r for r, _ in kept], [res for _, res in kept])
    record = {
        "teacher": teacher,
        "versions": output["versions"],
        "settings": output["settings"],
        "sampled": len(reference),
        "labelled": len(kept),
        "seed": seed,
        "rows": rows,
    }
    name = "teacher" if teacher == "sevenn" else teacher
    path = Path(out) / "sevenn" / f"{name}_vs_dft.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _shards._write_json(path, record)
    print(format_rows(rows))
    return record


def main_json(path: str | Path) -> str:
    """The table of a saved comparison."""
    return format_rows(json.loads(Path(path).read_text())["rows"])
