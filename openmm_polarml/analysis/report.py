"""One call from an MD run's files to a summary (dict + printed table) and a PNG figure.

Inputs are what OpenMM's reporters write: a trajectory (DCD) with a topology (PDB) and a
``StateDataReporter`` CSV; optionally PQEq charges along the run (``.npz`` with ``time_ps
[n_frames]`` and ``charges [n_frames, n_atoms]`` in e, from ``PQEqForce.getCharges``).
The table gives lengths in Å (the project's internal unit); the dict keeps the stated units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openmm_polarml import units
from openmm_polarml.analysis.thermo import energy_drift, read_state_csv, temperature_stats
from openmm_polarml.analysis.trajectory import (
    compute_rdfs,
    diffusion_coefficient,
    first_peak,
    load_trajectory,
    mean_square_displacement,
    unwrap_positions,
)

__all__ = ["analyse_md", "format_summary", "plot_md"]


def _symbols(topology) -> np.ndarray:
    return np.array([a.element.symbol if a.element is not None else a.name for a in topology.atoms])


def analyse_md(
    trajectory: str | Path,
    topology: str | Path,
    state_csv: str | Path,
    charges: str | Path | None = None,
    figure: str | Path | None = None,
    equilibration_csv: str | Path | None = None,
    rdf_bin_width: float = 0.005,
    frame_interval_ps: float | None = None,
) -> dict:
    """Analyse one MD run: temperature, energy drift, RDF first peaks, MSD, PQEq charges.

    Parameters
    ----------
    trajectory, topology : str or Path
        DCD (nm) and PDB files of the production run.
    state_csv : str or Path
        ``StateDataReporter`` CSV of the production run.
    charges : str or Path, optional
        ``.npz`` with ``time_ps`` and ``charges`` (e) along the run.
    figure : str or Path, optional
        Write a PNG with the time series, RDFs, MSD and charges here.
    equilibration_csv : str or Path, optional
        CSV of the equilibration, shown in the figure before the production.
    rdf_bin_width : float
        RDF histogram bin width (nm).

    Returns
    -------
    dict
        ``n_atoms``, ``n_frames``, ``symbols`` (per atom), ``duration_ps``, ``temperature`` (K, see
        :func:`temperature_stats`), ``energy`` (meV/atom(/ps), see :func:`energy_drift`),
        ``rdf_first_peaks`` (``pair -> {"r_angstrom", "g"}``), ``msd_angstrom2`` (per element,
        at the largest lag), ``diffusion_cm2_per_s`` (per element, Einstein fit) and, with
        ``charges``, ``charges_e`` (per element mean, std over atoms and frames, drift of the
        mean between the first and last frame). The raw curves are under ``"curves"``.
    """
    traj = load_trajectory(trajectory, topology)
    state = read_state_csv(state_csv)
    n_atoms = traj.n_atoms
    symbols = _symbols(traj.topology)
    elements = sorted(set(symbols.tolist()))
    summary: dict = {
        "n_atoms": int(n_atoms),
        "n_frames": int(traj.n_frames),
        "symbols": symbols.tolist(),
        "duration_ps": float(state["time_ps"][-1] - state["time_ps"][0]),
        "temperature": temperature_stats(state["temperature_k"]),
        "energy": energy_drift(state["time_ps"], state["total_kj_mol"], n_atoms),
    }
    rdfs = compute_rdfs(traj, bin_width=rdf_bin_width)
    summary["rdf_first_peaks"] = {}
    for pair, (r, g) in rdfs.items():
        r_peak, g_peak = first_peak(r, g)
        summary["rdf_first_peaks"][pair] = {
            "r_angstrom": r_peak * units.NM_TO_ANGSTROM,
            "g": g_peak,
        }

    xyz = unwrap_positions(traj.xyz, traj.unitcell_vectors)  # [n_frames, n_atoms, 3] nm
    masses = np.array(
        [a.element.mass if a.element is not None else 1.0 for a in traj.topology.atoms]
    )
    dt_frame = frame_interval_ps  # DCD files carry no reliable time: frames are indices
    if dt_frame is None:
        dt_frame = summary["duration_ps"] / max(traj.n_frames - 1, 1)
    msd, diffusion = {}, {}
    for el in elements:
        curve = mean_square_displacement(
            xyz, np.flatnonzero(symbols == el), masses=masses, remove_com=True
        )
        lags = np.arange(len(curve)) * dt_frame  # ps
        msd[el] = (lags, curve)
        diffusion[el] = diffusion_coefficient(lags, curve) * 1e-2  # nm²/ps -> cm²/s
    summary["msd_angstrom2"] = {
        el: float(c[-1]) * units.NM_TO_ANGSTROM**2 for el, (_, c) in msd.items()
    }
    summary["diffusion_cm2_per_s"] = diffusion

    q = None
    if charges is not None:
        data = np.load(charges)
        q = {"time_ps": data["time_ps"], "charges": data["charges"]}  # [n], [n, n_atoms] e
        summary["charges_e"] = {}
        for el in elements:
            sel = q["charges"][:, symbols == el]  # [n, n_el]
            summary["charges_e"][el] = {
                "mean": float(sel.mean()),
                "std": float(sel.std()),
                "change_of_mean": float(sel[-1].mean() - sel[0].mean()),
            }
    summary["curves"] = {"rdf": rdfs, "msd": msd, "state": state, "charges": q}
    if figure is not None:
        eq = read_state_csv(equilibration_csv) if equilibration_csv is not None else None
        plot_md(summary, figure, equilibration=eq)
    return summary


def format_summary(summary: dict) -> str:
    """The summary as a plain-text table (lengths in Å, energies in meV/atom)."""
    t, e = summary["temperature"], summary["energy"]
    lines = [
        f"MD analysis: {summary['n_atoms']} atoms, {summary['n_frames']} frames, "
        f"{summary['duration_ps']:.3f} ps",
        f"  temperature        {t['mean_k']:8.1f} ± {t['std_k']:.1f} K   "
        f"(min {t['min_k']:.1f}, max {t['max_k']:.1f})",
        f"  total-energy drift {e['drift_mev_per_atom_per_ps']:+8.4f} meV/atom/ps   "
        f"(fluctuation {e['fluctuation_mev_per_atom']:.4f} meV/atom)",
        "  RDF first peaks    pair      r (Å)      g(r)",
    ]
    for pair, p in summary["rdf_first_peaks"].items():
        lines.append(f"{'':21s}{pair:<8s}{p['r_angstrom']:8.3f}{p['g']:10.2f}")
    lines.append("  MSD at max lag     element   MSD (Å²)   D (cm²/s, Einstein fit)")
    for el, v in summary["msd_angstrom2"].items():
        lines.append(f"{'':21s}{el:<8s}{v:8.4f}{summary['diffusion_cm2_per_s'][el]:12.2e}")
    if "charges_e" in summary:
        lines.append("  PQEq charges       element   mean (e)   std (e)   Δmean first→last")
        for el, c in summary["charges_e"].items():
            lines.append(
                f"{'':21s}{el:<8s}{c['mean']:+8.4f}{c['std']:10.4f}{c['change_of_mean']:+12.4f}"
            )
    return "\n".join(lines)


def plot_md(summary: dict, path: str | Path, equilibration: dict | None = None) -> None:
    """Four panels: energy and temperature vs time, RDFs, MSD, charges (PNG, Agg backend).

    Parameters
    ----------
    summary : dict
        Output of :func:`analyse_md` (uses its ``curves``).
    path : str or Path
        PNG file.
    equilibration : dict, optional
        Columns of the equilibration CSV (:func:`read_state_csv`), drawn in grey.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = summary["curves"]
    n = summary["n_atoms"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    ax = axes[0, 0]
    ax2 = ax.twinx()
    for data, color, label in (
        (equilibration, "0.6", "equilibration"),
        (curves["state"], None, "production"),
    ):
        if data is None:
            continue
        e = data["total_kj_mol"] / units.EV_TO_KJ_PER_MOL / n  # eV/atom
        ax.plot(
            data["time_ps"],
            e - curves["state"]["total_kj_mol"][0] / units.EV_TO_KJ_PER_MOL / n,
            color=color or "tab:blue",
            label=f"E_total ({label})",
        )
        ax2.plot(
            data["time_ps"],
            data["temperature_k"],
            color=color or "tab:red",
            ls=":",
            label=f"T ({label})",
        )
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("E_total − E_total(start of production) (eV/atom)")
    ax2.set_ylabel("temperature (K)")
    ax.set_title("energy (solid) and temperature (dotted)")

    ax = axes[0, 1]
    for pair, (r, g) in curves["rdf"].items():
        ax.plot(r * units.NM_TO_ANGSTROM, g, label=pair)
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.legend()
    ax.set_title("radial distribution functions")

    ax = axes[1, 0]
    for el, (lags, c) in curves["msd"].items():
        ax.plot(lags, c * units.NM_TO_ANGSTROM**2, label=el)
    ax.set_xlabel("lag (ps)")
    ax.set_ylabel("MSD (Å²)")
    ax.legend()
    ax.set_title("mean-square displacement (centre of mass removed)")

    ax = axes[1, 1]
    q = curves["charges"]
    if q is not None:
        symbols = sorted(summary["charges_e"])
        sym = np.array(summary["symbols"])
        for el in symbols:
            sel = q["charges"][:, sym == el].ravel()  # every atom of el in every frame
            label = f"{el}: {sel.mean():+.4f} ± {sel.std():.4f} e"
            ax.hist(sel - sel.mean(), bins=40, alpha=0.6, label=label)
        ax.set_xlabel("PQEq charge − element mean (e)")
        ax.set_ylabel("count (atoms x frames)")
        ax.legend()
        ax.set_title("PQEq charges along the trajectory")
    else:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
