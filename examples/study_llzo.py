"""Study: Li⁺ diffusion in cubic Li₇La₃Zr₂O₁₂ (LLZO), D(T) and the Arrhenius activation energy.

The paper runs 1536-atom cells (``../shared/data/reaxnet/LLZO``, 2×2×2 conventional cells) at
800–1800 K for 2 ns. Here, by default, one conventional cell (192 atoms, Li56 La24 Zr16 O96: the
stoichiometric octant of the paper's start structure) is run at the paper's equilibrated density
at each temperature (cell edge = half the edge of the paper's final frame at that T), NVT
Langevin (1/ps), 2 fs, with the ``pbe`` head; ``--cell paper`` runs the paper's 1536-atom start
cell unchanged (a GPU job). Per temperature: minimisation, ``--equil-ps`` of equilibration, then
``--ps`` of production whose Li MSD (centre-of-mass drift removed) gives D with a block error
(5 blocks); D(T) gives Ea with a bootstrap error bar (``openmm_polarml.analysis.statistics``).

Every temperature is a resumable run (``openmm_polarml.openmm.resumable``): rerunning the same
command continues where it stopped. ``--model`` runs another model (e.g. the same network
trained without PQEq) into its own folder.

Outputs in ``--out`` (default ``runs/studies/llzo``): ``<model>/<T>K/`` trajectories,
``llzo_<model>.json`` (D per T with errors, Ea) and ``llzo_<model>.png`` (MSD and Arrhenius).

Run: ``python examples/study_llzo.py [--temperatures 1200 1400 1600 1800] [--ps 10]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "reaxnet" / "LLZO"
#: experiment for cubic (Ga/Al/Ta-stabilised) LLZO, bulk: Ea ≈ 0.3–0.4 eV
EXPERIMENT_EA_EV = (0.30, 0.40)


def llzo_cell(temperature_k: int, cell: str):
    """The start structure: the paper's 1536-atom cell, or its stoichiometric 192-atom octant
    scaled to the paper's density at ``temperature_k``."""
    import ase.io

    start = ase.io.read(DATA / "init.vasp")
    final = DATA / f"{temperature_k}_final.vasp"
    if not final.exists():
        raise FileNotFoundError(f"no paper frame for {temperature_k} K in {DATA}; "
                                "use one of 800, 1000, ..., 1800")  # fmt: skip
    edge = float(np.cbrt(ase.io.read(final).get_volume()))  # Å, the paper's cell at T
    if cell == "paper":
        start.set_cell(np.eye(3) * edge, scale_atoms=True)
        return start
    frac = start.get_scaled_positions()
    octant = start[np.all(frac < 0.5 - 1e-6, axis=1)]
    octant.set_cell(start.cell / 2, scale_atoms=False)
    octant.set_cell(np.eye(3) * edge / 2, scale_atoms=True)
    if octant.get_chemical_formula() != "La24Li56O96Zr16":
        raise RuntimeError(f"unexpected octant {octant.get_chemical_formula()}")
    return octant


def simulation(atoms, temperature_k: float, args):
    """An OpenMM Simulation of ``atoms`` with the model (its own charge model)."""
    import openmm
    import openmm.app as app

    from openmm_polarml.openmm import PolarMLPotential
    from openmm_polarml.openmm.topology import topologyFromAtoms
    from openmm_polarml.units import ANGSTROM_TO_NM

    topology = topologyFromAtoms(atoms, bondScale=0)
    positions = atoms.positions * ANGSTROM_TO_NM
    system = PolarMLPotential(args.model, head="pbe").createSystem(topology, positions=positions)
    integrator = openmm.LangevinMiddleIntegrator(temperature_k, 1.0, args.timestep_fs * 1e-3)
    integrator.setRandomNumberSeed(args.seed)
    platform = openmm.Platform.getPlatformByName(args.platform)
    properties = {"Threads": str(args.threads)} if args.platform == "CPU" else {}
    sim = app.Simulation(topology, system, integrator, platform, properties)
    sim.context.setPositions(positions)
    return sim


def run_temperature(temperature_k: int, folder: Path, args) -> dict:
    """Minimise (fresh runs), equilibrate and produce at one temperature (resumable)."""
    import openmm.app as app

    from openmm_polarml.openmm.resumable import ResumableRun, load_progress, run_resumable

    atoms = llzo_cell(temperature_k, args.cell)
    sim = simulation(atoms, temperature_k, args)
    with open(folder / "topology.pdb", "w") as fh:  # the DCD's topology for mdtraj
        app.PDBFile.writeFile(sim.topology, atoms.positions, fh)  # Å
    if load_progress(folder)["frames"] == 0:
        sim.minimizeEnergy(maxIterations=200)
        sim.context.setVelocitiesToTemperature(temperature_k, args.seed)
    steps = int(round((args.equil_ps + args.ps) * 1000 / args.timestep_fs))
    interval = int(round(args.frame_fs / args.timestep_fs))
    run = ResumableRun(sim, folder, steps, interval, label=f"LLZO {temperature_k} K")
    return run_resumable(run)


def li_diffusion(folder: Path, args) -> dict:
    """D of Li (nm²/ps and cm²/s) from the production part, with a 5-block error."""
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--temperatures", type=int, nargs="+", default=[1200, 1400, 1600, 1800])
    p.add_argument("--ps", type=float, default=10.0, help="production per temperature (ps)")
    p.add_argument("--equil-ps", type=float, default=2.0)
    p.add_argument("--timestep-fs", type=float, default=2.0)
    p.add_argument("--frame-fs", type=float, default=50.0, help="time between stored frames")
    p.add_argument("--cell", choices=("octant", "paper"), default="octant")
    p.add_argument("--model", default="foundation")
    p.add_argument("--platform", default="CPU")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "runs/studies/llzo"))
    return p.parse_args(argv)


def main(argv=None) -> dict:
    import torch

    from openmm_polarml.analysis import arrhenius_fit

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    tag = Path(args.model).stem if args.model.endswith(".pt") else args.model
    out = Path(args.out)
    results = {}
    for t in args.temperatures:
        folder = out / tag / f"{t}K"
        folder.mkdir(parents=True, exist_ok=True)
        progress = run_temperature(t, folder, args)
        results[str(t)] = li_diffusion(folder, args) | {"ns_per_day": progress.get("ns_per_day")}
        print(f"[llzo] {t} K: D(Li) = {results[str(t)]['D_nm2_ps'] * 1e-2:.3e} ± "
              f"{results[str(t)]['D_err_nm2_ps'] * 1e-2:.1e} cm²/s", flush=True)  # fmt: skip
    usable = {t: r for t, r in results.items() if r["D_nm2_ps"] > 0}
    fit = None
    if len(usable) >= 2:
        fit = arrhenius_fit([int(t) for t in usable], [r["D_nm2_ps"] for r in usable.values()],
                            [r["D_err_nm2_ps"] for r in usable.values()])  # fmt: skip
        print(f"[llzo] Ea = {fit['Ea_eV']:.3f} ± {fit['Ea_err_eV']:.3f} eV "
              f"(experiment {EXPERIMENT_EA_EV[0]}–{EXPERIMENT_EA_EV[1]} eV)")  # fmt: skip
    summary = {
        "settings": vars(args), "model": args.model, "head": "pbe",
        "cell": "192-atom conventional cell (octant of the paper's start)"
        if args.cell == "octant" else "the paper's 1536-atom cell",
        "temperatures": results, "arrhenius": fit,
        "experiment_Ea_eV": EXPERIMENT_EA_EV,
    }  # fmt: skip
    (out / f"llzo_{tag}.json").write_text(json.dumps(summary, indent=1))
    plot(results, fit, out / f"llzo_{tag}.png")
    return summary


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
