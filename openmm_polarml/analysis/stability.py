"""Analysis of the NVT stability runs: RDF first peaks against experiment, the summary table.

The references of :data:`REFERENCE_PEAKS` are EXPERIMENTAL / STRUCTURAL (X-ray and neutron
scattering of the liquids, experimental lattice constants of the crystals), NOT RDFs from GFN2
or PBE molecular dynamics. The runs themselves: :mod:`openmm_polarml.openmm.stability`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mdtraj
import numpy as np

from openmm_polarml.analysis.trajectory import (
    compute_rdfs,
    element_pairs,
    first_peak,
    load_trajectory,
)

__all__ = [
    "REFERENCE_PEAKS",
    "EQUILIBRATION_FRACTION",
    "LEGACY_SETTINGS",
    "analyse",
    "summarise",
    "format_stability_table",
    "plot_rdfs",
]

_OR = "Ohtaki & Radnai, Chem. Rev. 93, 1157 (1993)"
_KWEI = "Kwei et al., J. Phys. Chem. 97, 2368 (1993)"
#: RDF label -> (experimental first-peak position in Å, citation)
REFERENCE_PEAKS = {
    "O-O": (2.80, "liquid water, X-ray: Skinner et al., J. Chem. Phys. 138, 074506 (2013)"),
    "O-H inter": (1.85, "liquid water O...H, X-ray+neutron: Soper, ISRN Phys. Chem. 279463 (2013)"),
    "Na-O": (2.41, f"Na+ hydration shell, 2.38-2.45 A: {_OR}"),
    "Cl-O": (3.18, f"Cl- hydration shell, 3.16-3.20 A: {_OR}"),
    "K-O": (2.81, "K+ hydration shell, EXAFS/LAXS: Mähler & Persson, Inorg. Chem. 51, 425 (2012)"),
    "Na-Cl": (2.82, "rocksalt NaCl, a/2 with the experimental a = 5.64 A (room temperature)"),
    "Ti-O": (2.00, f"cubic BaTiO3, a/2 with a = 4.00 A: {_KWEI}"),
    "Ba-O": (2.83, f"cubic BaTiO3, a/sqrt(2) with a = 4.00 A: {_KWEI}"),
}


#: fraction of the frames dropped before the RDFs
EQUILIBRATION_FRACTION = 0.2
#: settings of runs recorded before the setting existed
LEGACY_SETTINGS = {"pqeq_method": "ewald"}


def analyse(folder: Path, pairs: dict) -> dict:
    """RDF first peaks (Å) per label against :data:`REFERENCE_PEAKS` (first 20 % dropped)."""
    traj = load_trajectory(folder / "trajectory.dcd", folder / "topology.pdb")
    traj = traj[int(EQUILIBRATION_FRACTION * traj.n_frames) :]
    out, curves = {}, {}
    for label, (a, b, intermolecular) in pairs.items():
        if intermolecular:
            idx = element_pairs(traj.topology, a, b)
            residue = np.array([atom.residue.index for atom in traj.topology.atoms])
            idx = idx[residue[idx[:, 0]] != residue[idx[:, 1]]]
            r_max = 0.5 * float(np.min(traj.unitcell_lengths[0]))
            r, g = mdtraj.compute_rdf(traj, idx, r_range=(0.0, r_max), bin_width=0.005)
        else:
            r, g = compute_rdfs(traj, [(a, b)])[f"{a}-{b}"]
        peak, height = first_peak(r * 10.0, g)
        ref, cite = REFERENCE_PEAKS[label]
        out[label] = {"model_A": peak, "g_peak": height, "reference_A": ref,
                      "delta_A": peak - ref, "reference": cite, "frames": traj.n_frames}  # fmt: skip
        curves[f"{label}/r"], curves[f"{label}/g"] = r * 10.0, g
    np.savez(folder / "rdf.npz", **curves)
    return out


def _entry(p: dict) -> dict:
    """The summary record of one system's ``progress.json`` (distances in Å, temperature in K,
    speed in ns/day and ms/step)."""
    ps_done = p.get("ps_done", 0.0)
    done = ps_done >= p["target_ps"] - 1e-9
    status = "failed" if p["failure"] else ("passed" if done else "incomplete")
    return {
        "atoms": p["atoms"], "model": p["model"], "model_sha256": p.get("model_sha256"),
        "head": p["head"], "dtype": p.get("dtype", "float64"), "dt_fs": p["dt_fs"],
        "hydrogen_mass_amu": p.get("hydrogen_mass_amu"),
        "pqeq_method": p.get("pqeq_method", LEGACY_SETTINGS["pqeq_method"]),
        "ps_done": ps_done, "target_ps": p["target_ps"], "status": status,
        "passed": status == "passed", "failure": p["failure"], "failure_step": p["failure_step"],
        "min_distance_A": p["min_distance_A"], "min_hh_A": p.get("min_hh_A"),
        "max_bond_stretch": p["max_bond_stretch"],
        "mean_T_K": p["T_sum"] / p["T_count"] if p["T_count"] else None,
        "ns_per_day": ps_done * 1e-3 / p["wall_s"] * 86400 if p["wall_s"] > 0 else None,
        "ms_per_step": 1e3 * p["wall_s"] / p["steps"] if p["steps"] else None,
        "rdf_first_peaks": p.get("rdf", {}),
    }  # fmt: skip


def summarise(out: Path, names, summary_to: str | None = None) -> dict:
    """Gather ``<out>/<system>/progress.json`` of the systems in ``names`` (in that order) into
    ``summary.json`` (also copied to ``summary_to``) and plot their RDFs (``rdfs.png``)."""
    summary = {}
    for name in names:
        if (out / name / "progress.json").exists():
            summary[name] = _entry(json.loads((out / name / "progress.json").read_text()))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    if summary_to:
        Path(summary_to).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "summary.json", summary_to)
    plot_rdfs(out, summary)
    return summary


def format_stability_table(summary: dict) -> str:
    """The summary as a plain-text table (one row per system, failures below their row)."""
    lines = [f"\n{'system':21s} {'atoms':>5s} {'ps done':>12s} {'status':>10s} {'min d/A':>7s} "
             f"{'stretch':>7s} {'<T>/K':>6s} {'ms/step':>7s}  RDF first peak model/ref (A)"]  # fmt: skip
    fmt = lambda x, spec: "-" if x is None else format(x, spec)  # noqa: E731
    for name, s in summary.items():
        peaks = "  ".join(f"{k} {v['model_A']:.2f}/{v['reference_A']:.2f}"
                          for k, v in s["rdf_first_peaks"].items())  # fmt: skip
        lines.append(f"{name:21s} {s['atoms']:5d} {s['ps_done']:5.2f}/{s['target_ps']:<6g} "
              f"{s['status']:>10s} {fmt(s['min_distance_A'], '7.2f')} {s['max_bond_stretch']:7.3f} "
              f"{fmt(s['mean_T_K'], '6.0f')} {fmt(s['ms_per_step'], '7.1f')}  {peaks}")  # fmt: skip
        if s["failure"]:
            lines.append(f"{'':21s} failed at step {s['failure_step']}: {s['failure']}")
    return "\n".join(lines)


def plot_rdfs(out: Path, summary: dict) -> None:
    """``rdfs.png``: one panel per system, model g(r) with the reference first peaks dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in summary if (out / n / "rdf.npz").exists()]
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        data = np.load(out / name / "rdf.npz")
        for k, label in enumerate(summary[name]["rdf_first_peaks"]):
            ax.plot(data[f"{label}/r"], data[f"{label}/g"], color=f"C{k}", label=label)
            ax.axvline(REFERENCE_PEAKS[label][0], color=f"C{k}", ls="--", lw=0.8)
        ax.set(title=f"{name} ({summary[name]['ps_done']:.2f} ps)", xlabel="r (Å)", ylabel="g(r)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "rdfs.png", dpi=120)
    plt.close(fig)
