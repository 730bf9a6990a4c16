"""MD of an exported model in OpenMM: a ``TorchForce`` (network + D3) beside the native
``PQEqForce``, minimised, NVT-equilibrated and run NVE in one ``CompoundIntegrator``.

The protocol of the main job (``examples/main_job.py``): :func:`export_artifact` writes the
TorchScript artifact for one atom order, :func:`build_system` makes the System (force group 1:
network + D3, group 2: PQEq) and :func:`run_md` runs Langevin NVT then Verlet NVE with the model
loaded once, writing a DCD trajectory, a PDB topology, ``StateDataReporter`` CSVs and the PQEq
charges. Positions in Å on the ASE side, nm in OpenMM.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from openmm_polarml import units
from openmm_polarml.openmm.minimize import minimize

__all__ = ["openmm_topology", "export_artifact", "build_system", "run_md"]


def openmm_topology(atoms):
    """An OpenMM ``Topology`` with one residue per atom (ions) and the periodic box (nm)."""
    import openmm
    import openmm.app as app

    top = app.Topology()
    chain = top.addChain()
    for k, z in enumerate(atoms.numbers):
        element = app.Element.getByAtomicNumber(int(z))
        residue = top.addResidue(element.symbol.upper(), chain, id=str(k + 1))
        top.addAtom(element.symbol.upper(), element, residue)
    top.setPeriodicBoxVectors([openmm.Vec3(*(v * units.ANGSTROM_TO_NM)) for v in atoms.cell.array])
    return top


def export_artifact(atoms, path: str | Path, model=None) -> dict:
    """Export the shipped model (or ``model``) for ``atoms``' atom order; returns the metadata."""
    from openmm_polarml.export import export_model
    from openmm_polarml.model.serialization import load_pretrained

    return export_model(model if model is not None else load_pretrained(), atoms, path)


def build_system(
    atoms,
    artifact: str | Path,
    ewald_error_tolerance: float = 1e-6,
    solver_tolerance: float = 1e-6,
):
    """OpenMM System of the full model: TorchForce (network + D3, group 1) + PQEqForce (group 2).

    Parameters
    ----------
    atoms : ase.Atoms
        Periodic structure; masses (amu) and box (Å) come from it.
    artifact : str or Path
        Exported model for exactly this atom order (:func:`export_artifact`).
    ewald_error_tolerance, solver_tolerance : float
        Accuracy of the native PQEq force (Ewald sums, charge/shell solve).

    Returns
    -------
    tuple
        ``(openmm.System, PQEqForce)``.
    """
    import openmm

    from openmm_polarml.openmm import attach_pqeq_force, attach_torch_force

    system = openmm.System()
    for mass in atoms.get_masses():
        system.addParticle(float(mass))
    system.setDefaultPeriodicBoxVectors(
        *(openmm.Vec3(*(v * units.ANGSTROM_TO_NM)) for v in atoms.cell.array)
    )
    attach_torch_force(system, artifact, force_group=1)
    pqeq = attach_pqeq_force(
        system,
        artifact,
        ewald_error_tolerance=ewald_error_tolerance,
        solver_tolerance=solver_tolerance,
        force_group=2,
    )
    return system, pqeq


def _state_reporters(csv_path, args, total_energy: bool) -> list:
    """A CSV StateDataReporter (every ``args.report_every`` steps) and a short one on stdout
    (every ``args.print_every`` steps)."""
    import openmm.app as app

    full = dict(
        step=True,
        time=True,
        potentialEnergy=True,
        kineticEnergy=True,
        totalEnergy=True,
        temperature=True,
    )
    return [
        app.StateDataReporter(str(csv_path), args.report_every, **full),
        app.StateDataReporter(
            sys.stdout,
            args.print_every,
            step=True,
            time=True,
            potentialEnergy=True,
            totalEnergy=total_energy,
            temperature=True,
            speed=True,
        ),
    ]


def run_md(atoms, system, pqeq, out: Path, args) -> dict:
    """Minimise, NVT-equilibrate (Langevin), NVE production (Verlet); write reporters' files.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure (positions in Å) the System was built for.
    system, pqeq : openmm.System, PQEqForce
        From :func:`build_system`.
    out : Path
        Output folder (exists).
    args : argparse.Namespace or similar
        ``dt_fs`` (fs), ``temperature`` (K), ``friction`` (1/ps), ``seed``, ``platform``,
        ``threads``, ``min_iterations``, ``equilibration_steps``, ``steps`` (NVE),
        ``report_every`` (CSV/DCD/charges interval, steps) and ``print_every`` (stdout, steps).

    Returns
    -------
    dict
        File paths (``dcd``, ``pdb``, ``csv``, ``equilibration_csv``, ``charges``) and wall
        times (s) of each stage.
    """
    import openmm
    import openmm.app as app
    import openmm.unit as u

    dt_ps = args.dt_fs * 1e-3
    integrator = openmm.CompoundIntegrator()
    langevin = openmm.LangevinMiddleIntegrator(args.temperature, args.friction, dt_ps)
    langevin.setRandomNumberSeed(args.seed)  # reproducible runs
    integrator.addIntegrator(langevin)
    integrator.addIntegrator(openmm.VerletIntegrator(dt_ps))
    platform = openmm.Platform.getPlatformByName(args.platform)
    props = {"Threads": str(args.threads)} if args.platform == "CPU" else {}
    topology = openmm_topology(atoms)
    sim = app.Simulation(topology, system, integrator, platform, props)
    sim.context.setPositions(atoms.positions * units.ANGSTROM_TO_NM)
    files = {
        k: out / name
        for k, name in (
            ("pdb", "topology.pdb"),
            ("dcd", "trajectory.dcd"),
            ("csv", "production.csv"),
            ("equilibration_csv", "equilibration.csv"),
            ("charges", "charges.npz"),
        )
    }
    with open(files["pdb"], "w") as fh:
        app.PDBFile.writeFile(topology, atoms.positions * units.ANGSTROM_TO_NM * u.nanometer, fh)
    times = {}

    t0 = time.perf_counter()
    e_start = sim.context.getState(getEnergy=True).getPotentialEnergy()
    minimize(sim.context, 10.0, args.min_iterations)
    e_min = sim.context.getState(getEnergy=True).getPotentialEnergy()
    times["minimise_s"] = time.perf_counter() - t0
    print(
        f"\nminimised: E_pot {e_start.value_in_unit(u.kilojoule_per_mole):.1f} -> "
        f"{e_min.value_in_unit(u.kilojoule_per_mole):.1f} kJ/mol ({times['minimise_s']:.1f} s)"
    )

    sim.context.setVelocitiesToTemperature(args.temperature, args.seed)
    integrator.setCurrentIntegrator(0)
    sim.reporters = _state_reporters(files["equilibration_csv"], args, total_energy=False)
    print(
        f"NVT equilibration: {args.equilibration_steps} steps of {args.dt_fs} fs, Langevin "
        f"{args.temperature} K, friction {args.friction}/ps"
    )
    t0 = time.perf_counter()
    sim.step(args.equilibration_steps)
    times["equilibration_s"] = time.perf_counter() - t0

    integrator.setCurrentIntegrator(1)
    sim.reporters = [
        *_state_reporters(files["csv"], args, total_energy=True),
        app.DCDReporter(str(files["dcd"]), args.report_every, enforcePeriodicBox=False),
    ]
    print(f"NVE production: {args.steps} steps of {args.dt_fs} fs (Verlet)")
    t0 = time.perf_counter()
    q_times, charges = [], []
    for _ in range(args.steps // args.report_every):
        sim.step(args.report_every)
        charges.append(np.asarray(pqeq.getCharges(sim.context)))  # [n_atoms] e
        q_times.append(sim.context.getState().getTime().value_in_unit(u.picosecond))
    times["production_s"] = time.perf_counter() - t0
    np.savez(files["charges"], time_ps=np.array(q_times), charges=np.array(charges))
    sim.reporters.clear()  # the reporters close their files when released
    return {**{k: str(v) for k, v in files.items()}, "times": times}
