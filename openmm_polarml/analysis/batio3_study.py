"""Study 2 (BaTiO₃ phases): per-temperature analysis of the NPT trajectories, summary and plot.

The MD is :mod:`openmm_polarml.openmm.batio3_md`; the physics of the analysis is
:mod:`.ferroelectric` (polarisation from DFPT Born charges and displacements, phases, transitions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .ferroelectric import (
    BATIO3_BORN_DFPT,
    BATIO3_TRANSITIONS_K,
    perovskite_born_tensors,
    state_summary,
    transition_temperatures,
)


def analyse_temperature(folder: Path, ideal, args) -> dict:
    """Phase summary of one temperature's production frames (after ``args.equil_ps``).

    ``ideal``: the ideal cubic supercell (ASE ``Atoms``) in the atom order of the trajectory.
    """
    import mdtraj

    traj = mdtraj.load(str(Path(folder) / "trajectory.dcd"), top=str(Path(folder) / "topology.pdb"))
    skip = int(round(args.equil_ps * 1000 / args.frame_fs)) + 1  # + the start frame
    traj = traj[skip:] if traj.n_frames > skip else traj[-1:]
    positions = traj.xyz * 10.0  # [F, N, 3] Å
    cells = traj.unitcell_vectors * 10.0  # [F, 3, 3] Å
    born = perovskite_born_tensors(ideal.get_chemical_symbols(), ideal.positions, ideal.cell.array)
    return state_summary(positions, cells, ideal.positions, ideal.cell.array, born)


def summarise(rows: list[dict], args) -> dict:
    """The study's JSON: settings, per-temperature rows, transitions beside paper and experiment."""
    temps = [r["temperature_K"] for r in rows]
    return {
        "settings": {
            "repeat": args.repeat,
            "atoms": 5 * args.repeat**3,
            "model": args.model,
            "ps_per_temperature": args.ps,
            "equil_ps": args.equil_ps,
            "timestep_fs": args.timestep_fs,
            "pressure_bar": args.pressure_bar,
            "born_charges": BATIO3_BORN_DFPT,
        },
        "temperatures": rows,
        "transitions_K": transition_temperatures(temps, [r["phase"] for r in rows]),
        "paper_K": BATIO3_TRANSITIONS_K["paper"],
        "experiment_K": BATIO3_TRANSITIONS_K["experiment"],
    }


def plot(summary: dict, path) -> None:
    """Cell edges and sorted |P| components against temperature, with the reference transitions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["temperatures"]
    t = np.array([r["temperature_K"] for r in rows])
    edges = np.array([r["cell_edges_sorted_A"] for r in rows]) / summary["settings"]["repeat"]
    pol = np.array([r["polarization_sorted_C_m2"] for r in rows])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    for k in range(3):
        ax1.plot(t, edges[:, k], "o-", label=f"edge {k + 1}")
        ax2.plot(t, pol[:, k], "o-", label=f"|P| component {k + 1}")
    for name, style in (("experiment_K", ":"), ("paper_K", "--")):
        for value in summary[name].values():
            for ax in (ax1, ax2):
                ax.axvline(value, color="grey", ls=style, lw=0.8)
    ax1.set_ylabel("pseudo-cubic edge (Å)")
    ax2.set_ylabel("polarisation (C/m²)")
    ax2.set_xlabel("temperature (K)")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    ax1.set_title("BaTiO₃ heating (dotted: experiment, dashed: paper)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
