"""BaTiO₃ NPT in OpenMM (study 2): one resumable run per temperature, chained along a heating or
cooling ramp, with the model's ``pbe`` head and an anisotropic Monte Carlo barostat.

``args`` is the study's argument namespace: ``model``, ``repeat`` (supercell edge in cubic
cells), ``timestep_fs``, ``frame_fs`` (fs), ``equil_ps``, ``ps`` (ps), ``pressure_bar``,
``platform``, ``threads`` and ``seed``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["cubic_supercell", "simulation", "run_temperature", "final_state"]

#: Lattice constant of the cubic start (Å; experiment ≈ 4.00 at 400 K).
CUBIC_A = 4.00
#: Random displacement of the start from the ideal sites (Å), to break the cubic symmetry.
START_RATTLE = 0.02


def cubic_supercell(repeat: int, seed: int = 0):
    """Ideal cubic BaTiO₃ ``repeat``³ supercell (ASE ``Atoms``, Å) and the same slightly rattled."""
    from ase import Atoms

    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    ideal = Atoms("BaTiO3", scaled_positions=frac, cell=[CUBIC_A] * 3, pbc=True).repeat(repeat)
    start = ideal.copy()
    start.rattle(START_RATTLE, seed=seed)
    return ideal, start


def simulation(atoms, temperature_k: float, args):
    """An OpenMM NPT Simulation of ``atoms`` with the model (its own charge model)."""
    import openmm
    import openmm.app as app

    from openmm_polarml.openmm import PolarMLPotential
    from openmm_polarml.openmm.topology import topologyFromAtoms
    from openmm_polarml.units import ANGSTROM_TO_NM

    topology = topologyFromAtoms(atoms, bondScale=0)
    positions = atoms.positions * ANGSTROM_TO_NM
    system = PolarMLPotential(args.model, head="pbe").createSystem(topology, positions=positions)
    barostat = openmm.MonteCarloAnisotropicBarostat(
        (args.pressure_bar,) * 3, temperature_k, True, True, True, 25
    )
    barostat.setRandomNumberSeed(args.seed)
    system.addForce(barostat)
    integrator = openmm.LangevinMiddleIntegrator(temperature_k, 2.0, args.timestep_fs * 1e-3)
    integrator.setRandomNumberSeed(args.seed)
    platform = openmm.Platform.getPlatformByName(args.platform)
    properties = {"Threads": str(args.threads)} if args.platform == "CPU" else {}
    sim = app.Simulation(topology, system, integrator, platform, properties)
    sim.context.setPeriodicBoxVectors(*(atoms.cell.array * ANGSTROM_TO_NM))
    sim.context.setPositions(positions)
    return sim


def final_state(folder: Path):
    """The last positions and cell of a finished temperature (ASE ``Atoms``), or None."""
    path = Path(folder) / "final.extxyz"
    if not path.exists():
        return None
    from ase.io import read

    return read(path)


def run_temperature(temperature_k: float, folder: Path, start, args) -> dict:
    """Equilibrate and produce at one temperature from ``start`` (ASE ``Atoms``: the previous
    temperature's final state, or the rattled cubic cell); resumable. Writes ``final.extxyz``."""
    import openmm.app as app
    from ase.io import write

    from openmm_polarml.openmm.resumable import ResumableRun, load_progress, run_resumable
    from openmm_polarml.units import NM_TO_ANGSTROM

    folder.mkdir(parents=True, exist_ok=True)
    sim = simulation(start, temperature_k, args)
    with open(folder / "topology.pdb", "w") as fh:  # the DCD's topology for mdtraj
        app.PDBFile.writeFile(sim.topology, start.positions, fh)  # Å
    if load_progress(folder)["frames"] == 0:
        sim.context.setVelocitiesToTemperature(temperature_k, args.seed)
    steps = int(round((args.equil_ps + args.ps) * 1000 / args.timestep_fs))
    interval = int(round(args.frame_fs / args.timestep_fs))
    run = ResumableRun(sim, folder, steps, interval, label=f"BaTiO3 {temperature_k:g} K")
    progress = run_resumable(run)
    state = sim.context.getState(getPositions=True, enforcePeriodicBox=False)
    final = start.copy()
    final.positions = np.asarray(state.getPositions(asNumpy=True)._value) * NM_TO_ANGSTROM
    final.cell = np.asarray(state.getPeriodicBoxVectors(asNumpy=True)._value) * NM_TO_ANGSTROM
    tmp = folder / "final.tmp.extxyz"
    write(tmp, final)
    tmp.replace(folder / "final.extxyz")
    return progress
