"""The project's main job (README command 1): MD on the shipped default model.

1. The PQEq demo table (water cluster and NaCl crystal in and out of a field, ``pqeq_demo.py``).
2. MD of a periodic NaF crystal (rocksalt 2x2x2, 64 atoms) with the shipped model
   ``openmm_polarml/models/small_demo`` in OpenMM: the exported network + D3 as a ``TorchForce``
   and the native ``PQEqForce`` with the model's element parameters. Minimise, equilibrate with a
   ``LangevinMiddleIntegrator`` (NVT), then run NVE production with a ``VerletIntegrator`` (both
   in one ``CompoundIntegrator``, so the model is loaded once), writing a DCD trajectory, a PDB
   topology, ``StateDataReporter`` CSVs and the PQEq charges along the run.
3. Analysis with ``openmm_polarml.analysis`` (mdtraj): temperature, total-energy drift, RDF first
   peaks, MSD, charges; a summary table, ``summary.json`` and ``md_analysis.png``.

Why NaF: the demo model (400 small DFT crystals, 79 elements) is far from transferable. A water
box dissociates during minimisation and heats to thousands of K within 0.2 ps; LiF (its energy
minimum at a = 4.10 Å is close to experiment) fuses Li and F within 0.3 ps at 300 K; NaCl keeps
expanding beyond a = 6.2 Å (experiment 5.64 Å), and at 5.64 Å its lattice collapses into Cl-Cl
contacts of 2.8 Å. NaF at the model's own lattice constant (4.45 Å; experiment 4.63 Å) stays
rocksalt at 300 K with a 1 fs step and conserves energy in NVE.

Run: ``python examples/main_job.py [--out runs/main_job] [--steps 1000] [--skip-demo]``
(about 3 minutes on one CPU core; ``--threads`` sets the CPU platform's and torch's threads).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from openmm_polarml import units  # noqa: E402

# Rocksalt lattice constants (Å) at the minimum of the shipped model's energy (scan of the
# 8-atom cubic cell, 0 K); experiment at room temperature: LiF 4.03, NaF 4.63.
LATTICE_ANGSTROM = {"NaF": 4.45, "LiF": 4.10}


def rocksalt_crystal(
    formula: str = "NaF",
    repeat: int = 2,
    lattice: float | None = None,
    rattle: float = 0.05,
    seed: int = 2,
):
    """Rocksalt supercell (cubic cell of 8 atoms repeated ``repeat`` times per axis).

    Parameters
    ----------
    formula : str
        Binary salt, e.g. ``"NaF"``.
    repeat : int
        Repetitions of the 8-atom cubic cell along each axis (2 -> 64 atoms).
    lattice : float, optional
        Cubic lattice constant (Å); default :data:`LATTICE_ANGSTROM` of ``formula``.
    rattle : float
        Standard deviation of random displacements (Å) that break the lattice symmetry.
    seed : int
        Seed of the displacements.

    Returns
    -------
    ase.Atoms
        Periodic structure (positions and cell in Å).
    """
    from ase.build import bulk

    a = lattice if lattice is not None else LATTICE_ANGSTROM[formula]
    atoms = bulk(formula, "rocksalt", a=a, cubic=True).repeat(repeat)
    if rattle > 0:
        atoms.rattle(rattle, seed=seed)
    return atoms


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
    """A CSV StateDataReporter (every ``report_every`` steps) and a short one on stdout."""
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
    sim.minimizeEnergy(maxIterations=args.min_iterations)
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/main_job", help="output folder (created)")
    p.add_argument("--salt", default="NaF", help="rocksalt crystal (NaF; others need --lattice)")
    p.add_argument("--lattice", type=float, default=None, help="lattice constant (Å)")
    p.add_argument("--repeat", type=int, default=2, help="supercell repetitions (2: 64 atoms)")
    p.add_argument("--steps", type=int, default=1000, help="NVE production steps")
    p.add_argument("--equilibration-steps", type=int, default=500)
    p.add_argument("--min-iterations", type=int, default=200)
    p.add_argument("--dt-fs", type=float, default=1.0, help="time step (fs)")
    p.add_argument("--temperature", type=float, default=300.0, help="K")
    p.add_argument("--friction", type=float, default=10.0, help="Langevin friction (1/ps)")
    p.add_argument("--report-every", type=int, default=10, help="CSV/DCD/charges interval (steps)")
    p.add_argument("--print-every", type=int, default=100, help="stdout interval (steps)")
    p.add_argument("--platform", default="CPU")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-demo", action="store_true", help="skip the PQEq demo table")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    if not args.skip_demo:
        from pqeq_demo import main as pqeq_demo

        pqeq_demo(["--out", str(out / "pqeq_demo")])

    from openmm_polarml.analysis import analyse_md, format_summary

    atoms = rocksalt_crystal(args.salt, args.repeat, args.lattice)
    artifact = out / f"model_{args.salt}.pt"
    t0 = time.perf_counter()
    meta = export_artifact(atoms, artifact)
    r = args.repeat
    print(
        f"\nMD on the shipped model (small_demo): {args.salt} rocksalt {r}x{r}x{r}, "
        f"{len(atoms)} atoms, box {atoms.cell.lengths()[0]:.2f} Å"
    )
    print(
        f"exported {artifact} in {time.perf_counter() - t0:.1f} s, TorchScript ≡ eager: "
        f"|ΔE| {meta['parity']['energy_kj_per_mol']:.1e} kJ/mol"
    )
    system, pqeq = build_system(atoms, artifact)
    md = run_md(atoms, system, pqeq, out, args)

    summary = analyse_md(
        md["dcd"],
        md["pdb"],
        md["csv"],
        charges=md["charges"],
        figure=out / "md_analysis.png",
        equilibration_csv=md["equilibration_csv"],
        frame_interval_ps=args.report_every * args.dt_fs * 1e-3,
    )
    print()
    print(format_summary(summary))
    md["times"]["total_s"] = time.perf_counter() - t_start
    record = {k: v for k, v in summary.items() if k != "curves"}
    record.update(md=md, settings=vars(args))
    (out / "summary.json").write_text(json.dumps(record, indent=2))
    print(
        f"\nwrote {out}/: topology.pdb trajectory.dcd production.csv equilibration.csv "
        f"charges.npz md_analysis.png summary.json"
    )
    print("wall time: " + ", ".join(f"{k} {v:.1f} s" for k, v in md["times"].items()))
    return record


if __name__ == "__main__":
    main(sys.argv[1:])
