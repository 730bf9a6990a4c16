"""Li⁺ diffusion in cubic LLZO (Li₇La₃Zr₂O₁₂): start cells, D from the Li MSD, the plot.

The paper's structures (``../shared/data/reaxnet/LLZO``) give the start cell and the density at
each temperature (:func:`~openmm_polarml.data.llzo.llzo_cell`); :func:`li_diffusion` takes D of
Li (nm²/ps) with a 5-block error from the production part of a trajectory. The MD:
:mod:`openmm_polarml.openmm.llzo_md`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openmm_polarml.data.llzo import DATA, llzo_cell

__all__ = ["DATA", "EXPERIMENT_EA_EV", "llzo_cell", "li_diffusion", "plot"]

#: experiment for cubic (Ga/Al/Ta-stabilised) LLZO, bulk: Ea ≈ 0.3–0.4 eV
EXPERIMENT_EA_EV = (0.30, 0.40)


def li_diffusion(folder: Path, args) -> dict:
    """D of Li (nm²/ps) from the production part, with a 5-block error; ``args`` holds
    ``equil_ps`` (ps dropped) and ``frame_fs`` (fs between frames)."""
    import mdtraj

    from openmm_polarml.analysis import (
        block_estimates,
        diffusion_coefficient,
        mean_square_displacement,
        unwrap_positions,
    )

    traj = mdtraj.load_dcd(str(folder / "trajectory.dcd"), top=str(folder / "topology.pdb"))
    skip = int(round(args.equil_ps * 1000 / args.frame_fs))
    xyz = unwrap_positions(traj.xyz[skip:], traj.unitcell_vectors[skip:])
    li = np.array([a.index for a in traj.topology.atoms if a.element.symbol == "Li"])
    masses = np.array([a.element.mass for a in traj.topology.atoms])
    dt_ps = args.frame_fs * 1e-3

    def d_of(start: int, stop: int) -> float:
        msd = mean_square_displacement(xyz[start:stop], li, masses=masses, remove_com=True)
        return diffusion_coefficient(dt_ps * np.arange(msd.size), msd)

    whole = mean_square_displacement(xyz, li, masses=masses, remove_com=True)
    blocks = block_estimates(d_of, xyz.shape[0], n_blocks=5)
    return {
        "D_nm2_ps": diffusion_coefficient(dt_ps * np.arange(whole.size), whole), "D_err_nm2_ps": blocks.sem,
        "D_block_values_nm2_ps": blocks.block_means.tolist(),
        "production_ps": (xyz.shape[0] - 1) * dt_ps,
        "msd_nm2": whole.tolist(), "msd_dt_ps": dt_ps,
    }  # fmt: skip


def plot(results: dict, fit: dict | None, path: Path) -> None:
    """Li MSD (Å²) per temperature and the Arrhenius plot of D (cm²/s) with the fit."""
    import matplotlib.pyplot as plt

    from openmm_polarml.units import BOLTZMANN_EV_PER_K, NM2_PER_PS_TO_M2_PER_S

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.2))
    for t, r in sorted(results.items(), key=lambda kv: int(kv[0])):
        lag = r["msd_dt_ps"] * np.arange(len(r["msd_nm2"]))
        a.plot(lag, 100 * np.array(r["msd_nm2"]), label=f"{t} K")
    a.set(xlabel="lag / ps", ylabel="Li MSD / Å²", title="Li mean-square displacement")
    a.legend(fontsize=8)
    temps = np.array([int(t) for t in results])
    d = np.array([r["D_nm2_ps"] for r in results.values()]) * NM2_PER_PS_TO_M2_PER_S * 1e4
    err = np.array([r["D_err_nm2_ps"] for r in results.values()]) * NM2_PER_PS_TO_M2_PER_S * 1e4
    b.errorbar(1000 / temps, d, yerr=err, fmt="o", label="model")
    if fit:
        x = np.linspace(1000 / temps.max(), 1000 / temps.min(), 20)
        b.plot(x, fit["prefactor"] * NM2_PER_PS_TO_M2_PER_S * 1e4 * np.exp(-fit["Ea_eV"] * x / 1000 / BOLTZMANN_EV_PER_K),
               "k--", label=f"Ea = {fit['Ea_eV']:.2f} ± {fit['Ea_err_eV']:.2f} eV")  # fmt: skip
    b.set(yscale="log", xlabel="1000 / T (1/K)", ylabel="D(Li) / cm² s⁻¹", title="Arrhenius")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
