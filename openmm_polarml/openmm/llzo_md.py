"""LLZO MD in OpenMM: one resumable NVT run per temperature with a model's ``pbe`` head.

``args`` is the study's argument namespace: ``model``, ``cell`` (``"octant"`` or ``"paper"``),
``timestep_fs`` and ``frame_fs`` (fs), ``equil_ps`` and ``ps`` (ps), ``platform``, ``threads``
and ``seed``.
"""

from __future__ import annotations

from pathlib import Path

from openmm_polarml.data.llzo import llzo_cell
from openmm_polarml.openmm.minimize import minimize

__all__ = ["simulation", "run_temperature"]


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
        minimize(sim.context, 10.0, 200)
        sim.context.setVelocitiesToTemperature(temperature_k, args.seed)
    steps = int(round((args.equil_ps + args.ps) * 1000 / args.timestep_fs))
    interval = int(round(args.frame_fs / args.timestep_fs))
    run = ResumableRun(sim, folder, steps, interval, label=f"LLZO {temperature_k} K")
    return run_resumable(run)
