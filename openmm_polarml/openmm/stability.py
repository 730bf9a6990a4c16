"""Resumable NVT stability runs of a model in OpenMM, with integrity checks after every report.

Each system (:data:`SYSTEMS`, built by :mod:`openmm_polarml.openmm.standard_systems`) runs
Langevin NVT at 300 K (1/ps) up to :attr:`StabilitySettings.ps`; every report writes
``trajectory.dcd`` and ``state.csv``, checks the structure
(:class:`~openmm_polarml.analysis.integrity.IntegrityChecker`) and saves ``checkpoint.chk``
atomically, so running again continues from the checkpoint. A run continued with other settings
than it started with is refused. RDF first peaks and the summary:
:mod:`openmm_polarml.analysis.stability`. ``examples/stability_runs.py`` is the command line.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import mdtraj
import numpy as np
import openmm
import openmm.app as app
import openmm.unit as u
from openmm.app.dcdfile import DCDFile

from openmm_polarml.analysis.integrity import IntegrityChecker
from openmm_polarml.analysis.stability import LEGACY_SETTINGS, analyse, summarise
from openmm_polarml.openmm.artifacts import model_fingerprint
from openmm_polarml.openmm.minimize import minimize
from openmm_polarml.openmm.potential import PolarMLPotential
from openmm_polarml.openmm.standard_systems import (
    alanine_dipeptide_aq,
    baTiO3,
    kcl_aq,
    nacl_aq,
    nacl_crystal,
    water64,
)

__all__ = ["SYSTEMS", "StabilitySettings", "run_system", "recheck", "run_stability"]

#: name -> (builder, default head)
SYSTEMS = {
    "water64": (water64, "gfn2"),
    "nacl_aq": (nacl_aq, "gfn2"),
    "kcl_aq": (kcl_aq, "gfn2"),
    "alanine_dipeptide_aq": (alanine_dipeptide_aq, "gfn2"),
    "nacl_crystal": (nacl_crystal, "pbe"),
    "baTiO3": (baTiO3, "pbe"),
}


@dataclass
class StabilitySettings:
    """The settings of a set of stability runs (the command line of
    ``examples/stability_runs.py``, same names and defaults).

    Attributes
    ----------
    systems : tuple of str
        Names of :data:`SYSTEMS` to run, in order.
    ps : float
        Target simulated time per system (ps).
    model : str
        Shipped model name or model file.
    head : str, optional
        Readout head; default: each system's (``gfn2`` liquids, ``pbe`` crystals).
    backend : str
        ``"python"`` or ``"torch"``.
    dt_fs : float, optional
        Time step (fs); default 1 with hydrogens (0.5 with ``hydrogen_mass`` 0), 2 without.
    hydrogen_mass : float
        Hydrogen mass (amu) by repartitioning from the bonded heavy atom; 0 keeps 1.008.
    dtype : str
        Network precision in MD (``"float32"`` or ``"float64"``; PQEq and D3 are double).
    pqeq_method : str
        PQEq lattice sum of periodic systems, ``"pme"`` or ``"ewald"``.
    report_fs : float
        Report/check interval (fs), unless ``report_every`` (steps) is given.
    report_every : int, optional
        Report/check interval (steps).
    min_iterations : int
        Minimiser iterations of a fresh run.
    threads : int
        OpenMM CPU threads.
    seed : int
        Seed of the thermostat and the initial velocities.
    out : str
        Output folder (``<out>/<system>/``, ``summary.json``, ``rdfs.png``).
    fresh : bool
        Discard earlier runs of these systems.
    analyse_only : bool
        No new steps: analyse what is on disk and summarise.
    recheck : bool
        Replay each stored trajectory through the integrity checks first.
    summary_to : str, optional
        Also copy ``summary.json`` here.
    """

    systems: tuple = tuple(SYSTEMS)
    ps: float = 20.0
    model: str = "foundation"
    head: str | None = None
    backend: str = "python"
    dt_fs: float | None = None
    hydrogen_mass: float = 2.0
    dtype: str = "float32"
    pqeq_method: str = "pme"
    report_fs: float = 25.0
    report_every: int | None = None
    min_iterations: int = 50
    threads: int = 1
    seed: int = 1
    out: str = "runs/stability"
    fresh: bool = False
    analyse_only: bool = False
    recheck: bool = False
    summary_to: str | None = None


def _box(state_or_topology) -> np.ndarray:
    """[3, 3] nm, the periodic box vectors of an OpenMM State or Topology."""
    return np.array([v.value_in_unit(u.nanometer) for v in state_or_topology.getPeriodicBoxVectors()])  # fmt: skip


def _prepare(name: str, folder: Path, fresh: bool):
    """Topology (as read back from ``topology.pdb``), initial positions (nm) and RDF pairs."""
    if fresh and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "initial.npy").exists():
        topology, positions, pairs = SYSTEMS[name][0]()
        with open(folder / "topology.pdb", "w") as f:
            app.PDBFile.writeFile(topology, positions * 10.0, f, keepIds=True)  # Å
        (folder / "pairs.json").write_text(json.dumps(pairs))
        np.save(folder / "initial.npy", positions)
    pairs = {k: tuple(v) for k, v in json.loads((folder / "pairs.json").read_text()).items()}
    topology = app.PDBFile(str(folder / "topology.pdb")).topology
    return topology, np.load(folder / "initial.npy"), pairs


def _check_resume(name: str, progress: dict, settings: dict) -> None:
    """Refuse to continue a run with other settings (model weights, head, dtype, time step,
    masses, PQEq lattice sum) than it started with: the trajectory would mix two simulations."""
    if not progress["steps"]:
        return
    recorded = {k: progress.get(k, LEGACY_SETTINGS.get(k)) for k in settings}
    changed = {k: (recorded[k], v) for k, v in settings.items() if recorded[k] != v}
    if changed:
        detail = ", ".join(f"{k}: {old} -> {new}" for k, (old, new) in changed.items())
        raise SystemExit(
            f"{name}: the run on disk used other settings ({detail}); rerun with --fresh to "
            "start it anew, or with the settings it was started with"
        )


def run_system(name: str, settings: StabilitySettings) -> dict:
    """Run (or continue) one system up to ``settings.ps``; returns its ``progress.json``
    record (also written to ``<out>/<name>/progress.json``)."""
    args = settings
    folder = Path(args.out) / name
    topology, initial, pairs = _prepare(name, folder, args.fresh)
    path = folder / "progress.json"
    progress = json.loads(path.read_text()) if path.exists() else {
        "system": name, "atoms": topology.getNumAtoms(), "steps": 0, "wall_s": 0.0,
        "failure": None, "failure_step": None, "min_distance_A": None, "max_bond_stretch": 1.0,
        "T_sum": 0.0, "T_count": 0,
    }  # fmt: skip
    has_h = any(a.element.symbol == "H" for a in topology.atoms())
    hydrogen_mass = (args.hydrogen_mass or None) if has_h else None
    dt_fs = args.dt_fs or ((1.0 if hydrogen_mass else 0.5) if has_h else 2.0)
    target = int(round(args.ps * 1000.0 / dt_fs))
    head = args.head or SYSTEMS[name][1]
    potential = PolarMLPotential(args.model, head=head, dtype=args.dtype)
    run_settings = {
        "model": str(args.model), "model_sha256": model_fingerprint(potential.model),
        "head": head, "dtype": args.dtype, "dt_fs": dt_fs, "hydrogen_mass_amu": hydrogen_mass,
        "pqeq_method": args.pqeq_method,
    }  # fmt: skip
    _check_resume(name, progress, run_settings)
    progress.update(run_settings, target_ps=args.ps)
    print(f"{name}: {topology.getNumAtoms()} atoms, head {head}, {args.dtype} network, "
          f"{dt_fs} fs, H mass {hydrogen_mass} amu, PQEq {args.pqeq_method}, {target} steps")  # fmt: skip
    if args.recheck and progress["failure"] is None and (folder / "trajectory.dcd").exists():
        recheck(folder, progress, IntegrityChecker(topology, initial, _box(topology)))
    if progress["failure"] is None and progress["steps"] < target and not args.analyse_only:
        system = potential.createSystem(  # the model's own charge model (as in its training)
            topology, backend=args.backend, hydrogenMass=hydrogen_mass,
            pqeqMethod=args.pqeq_method, positions=initial,
        )  # fmt: skip
        integrator = openmm.LangevinMiddleIntegrator(300.0, 1.0, dt_fs * 1e-3)  # K, 1/ps, ps
        integrator.setRandomNumberSeed(args.seed)
        platform = openmm.Platform.getPlatformByName("CPU")
        sim = app.Simulation(topology, system, integrator, platform, {"Threads": str(args.threads)})
        sim.context.setPositions(initial)
        resumed = (folder / "checkpoint.chk").exists()
        if resumed:
            # OpenMM 8.5: a fresh Context with a PythonForce segfaults when it loads a checkpoint
            # before its first evaluation, so evaluate once at the initial geometry first
            sim.context.getState(getEnergy=True)
            sim.loadCheckpoint(str(folder / "checkpoint.chk"))
        else:
            minimize(sim.context, 10.0, args.min_iterations)
            sim.context.setVelocitiesToTemperature(300 * u.kelvin, args.seed)
        interval = args.report_every or max(1, int(round(args.report_fs / dt_fs)))
        checker = IntegrityChecker(topology, initial, _box(topology))
        _simulate(sim, folder, progress, target, interval, checker, resumed)
    progress["ps_done"] = progress["steps"] * dt_fs * 1e-3
    if (folder / "trajectory.dcd").exists():
        progress["rdf"] = analyse(folder, pairs)
    path.write_text(json.dumps(progress, indent=1))
    return progress


def _simulate(sim, folder: Path, progress: dict, target: int, interval: int, checker, resumed):
    """Step in chunks of ``interval``; report, check and checkpoint after each chunk."""
    n_dof = 3 * sim.system.getNumParticles() - sim.system.getNumConstraints() - 3  # CM removed
    kB = u.MOLAR_GAS_CONSTANT_R.value_in_unit(u.kilojoule_per_mole / u.kelvin)
    dt_ps = sim.integrator.getStepSize().value_in_unit(u.picosecond)
    with (
        open(folder / "trajectory.dcd", "r+b" if resumed else "wb") as dcd_file,
        open(folder / "state.csv", "a" if resumed else "w") as csv_file,
    ):
        dcd = DCDFile(dcd_file, sim.topology, dt_ps, sim.currentStep, interval, append=resumed)
        csv = app.StateDataReporter(csv_file, interval, step=True, time=True, temperature=True,
                                    potentialEnergy=True, speed=True, append=resumed)  # fmt: skip
        start = last = time.perf_counter()
        step0 = sim.currentStep
        while True:
            step = sim.currentStep
            state = sim.context.getState(getPositions=True, getEnergy=True)
            energy = state.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
            kinetic = state.getKineticEnergy().value_in_unit(u.kilojoule_per_mole)
            temperature = 2 * kinetic / (n_dof * kB)
            positions = state.getPositions(asNumpy=True).value_in_unit(u.nanometer)
            reason, stats = checker.check(positions, _box(state), temperature, energy)
            _track_extremes(progress, stats)
            if reason is not None:
                progress.update(failure=reason, failure_step=step)
                with open(folder / "failure.pdb", "w") as f:
                    app.PDBFile.writeFile(sim.topology, positions * 10.0, f, keepIds=True)
                print(f"  FAILED at step {step}: {reason}", flush=True)
                return
            new = step > progress["steps"]
            if new or (step == 0 and not resumed):
                box = state.getPeriodicBoxVectors()
                dcd.writeModel(state.getPositions(), periodicBoxVectors=box)
                csv.report(sim, state)
                progress["T_sum"] += temperature * new
                progress["T_count"] += int(new)
            now = time.perf_counter()
            progress["wall_s"] += (now - last) * new
            progress["steps"], last = max(step, progress["steps"]), now
            ns_day = (step - step0) * dt_ps * 1e-3 / max(now - start, 1e-9) * 86400
            print(f"  step {step:7d}  {step * dt_ps:8.3f} ps  T {temperature:6.1f} K  "
                  f"E_pot {energy:13.1f} kJ/mol  {ns_day:7.4f} ns/day  "
                  f"min d {stats['min_distance_A']:.2f} A", flush=True)  # fmt: skip
            dcd_file.flush()
            csv_file.flush()
            sim.saveCheckpoint(str(folder / "checkpoint.chk.tmp"))
            os.replace(folder / "checkpoint.chk.tmp", folder / "checkpoint.chk")
            (folder / "progress.json").write_text(json.dumps(progress, indent=1))
            if step >= target:
                return
            try:
                sim.step(min(interval - step % interval, target - step))
            except openmm.OpenMMException as err:
                progress.update(failure=f"OpenMM error: {err}", failure_step=sim.currentStep)
                print(f"  FAILED: {err}", flush=True)
                return


def _track_extremes(progress: dict, stats: dict) -> None:
    """Keep the run's closest contacts and largest bond stretch in ``progress``."""
    for key, pick in (("min_distance_A", min), ("min_hh_A", min), ("max_bond_stretch", max)):
        if stats.get(key) is not None:
            previous = progress.get(key)
            progress[key] = stats[key] if previous is None else pick(stats[key], previous)


def recheck(folder: Path, progress: dict, checker) -> None:
    """Replay ``trajectory.dcd`` through ``checker``; record the first failing frame (its step
    from ``state.csv``, written with the same frames) and the run's extremes."""
    traj = mdtraj.load_dcd(str(folder / "trajectory.dcd"), top=str(folder / "topology.pdb"))
    steps = np.loadtxt(folder / "state.csv", delimiter=",", usecols=0, ndmin=1).astype(int)
    boxes = traj.unitcell_vectors  # [m, 3, 3] nm
    for k, (positions, box) in enumerate(zip(traj.xyz, boxes, strict=True)):
        reason, stats = checker.check(positions, box)
        _track_extremes(progress, stats)
        if reason is not None and progress["failure"] is None:
            step = int(steps[k]) if k < len(steps) else None
            progress.update(failure=f"{reason} (found on recheck)", failure_step=step)
            print(f"  recheck: frame {k} (step {step}) fails: {reason}", flush=True)


def run_stability(settings: StabilitySettings) -> dict:
    """Run (or continue) every system of ``settings``; returns the summary (also
    ``<out>/summary.json``, with ``rdfs.png``).

    Raises
    ------
    SystemExit
        For an unknown system name, or a run on disk with other settings than ``settings``.
    """
    names = list(settings.systems)
    unknown = sorted(set(names) - set(SYSTEMS))
    if unknown:
        raise SystemExit(f"unknown system(s) {unknown}; choose from {list(SYSTEMS)}")
    for name in names:
        run_system(name, settings)
    return summarise(Path(settings.out), SYSTEMS, settings.summary_to)
