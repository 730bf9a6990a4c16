"""MD that survives interruption: chunks of steps, each followed by an atomic checkpoint.

A study calls :func:`run_resumable` with a :class:`ResumableRun`; rerunning the same command
after a kill continues from the last checkpoint and appends to the same DCD and CSV files, so the
trajectory on disk is always whole frames up to the checkpoint (frames written after the last
checkpoint are cut off on resume, so frames and checkpoints always agree).
"""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ResumableRun", "run_resumable", "load_progress"]


@dataclass
class ResumableRun:
    """One resumable MD segment of a study.

    Parameters
    ----------
    simulation : openmm.app.Simulation
        The simulation, positions (and velocities) set for a fresh start.
    folder : str or Path
        Where ``trajectory.dcd``, ``state.csv``, ``checkpoint.chk`` and ``progress.json`` live.
    total_steps : int
        Steps of the whole segment (equilibration included).
    report_interval : int
        Steps between frames, CSV lines, progress lines and checkpoints.
    label : str
        Prefix of the progress lines.
    advance : callable, optional
        ``advance(n_steps)`` that moves the simulation on (default ``simulation.step``; e.g. a
        ``Metadynamics.step`` bound to the simulation, whose bias files live in its own folder).
    """

    simulation: object
    folder: str | Path
    total_steps: int
    report_interval: int
    label: str = "md"
    advance: Callable[[int], None] | None = None


def load_progress(folder: str | Path) -> dict:
    """``progress.json`` of a run folder (``{"steps": 0, "frames": 0, ...}`` when new)."""
    path = Path(folder) / "progress.json"
    if path.exists():
        return json.loads(path.read_text())
    return {"steps": 0, "frames": 0, "wall_s": 0.0}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _open_outputs(run: ResumableRun, progress: dict, resumed: bool):
    """The DCD and CSV file handles and their writers (appending when resumed)."""
    import openmm.app as app
    import openmm.unit as u

    folder = Path(run.folder)
    sim = run.simulation
    dt_ps = sim.integrator.getStepSize().value_in_unit(u.picosecond)
    append = resumed and progress["frames"] > 0
    dcd_file = open(folder / "trajectory.dcd", "r+b" if append else "wb")  # noqa: SIM115
    csv_file = open(folder / "state.csv", "a" if append else "w")  # noqa: SIM115
    first = 0 if append else progress["steps"]
    dcd = app.DCDFile(dcd_file, sim.topology, dt_ps, first, run.report_interval, append=append)
    csv = app.StateDataReporter(csv_file, run.report_interval, step=True, time=True,
                                potentialEnergy=True, kineticEnergy=True, temperature=True,
                                volume=True, speed=True, append=append)  # fmt: skip
    return dcd_file, csv_file, dcd, csv


def _truncate_outputs(folder: Path, n_atoms: int, frames: int, periodic: bool) -> None:
    """Cut ``trajectory.dcd`` and ``state.csv`` back to ``frames`` frames: what a kill between
    writing a frame and checkpointing it leaves behind."""
    dcd = folder / "trajectory.dcd"
    if dcd.exists():
        header = 276  # OpenMM DCDFile: 48 + 52 + 2 * 80 + 16 bytes
        frame_bytes = 3 * (4 * n_atoms + 8) + (56 if periodic else 0)
        with open(dcd, "r+b") as fh:
            fh.truncate(header + frames * frame_bytes)
            fh.seek(8)
            fh.write(struct.pack("<i", frames))  # the header's frame count
    csv = folder / "state.csv"
    if csv.exists():
        lines = csv.read_text().splitlines(keepends=True)
        csv.write_text("".join(lines[: 1 + frames]))


def run_resumable(run: ResumableRun) -> dict:
    """Run (or continue) ``run`` to ``total_steps``; returns the progress record.

    The record holds ``steps``, ``frames`` (DCD frames on disk), ``wall_s`` and ``ns_per_day``.
    """
    import openmm.unit as u

    folder = Path(run.folder)
    folder.mkdir(parents=True, exist_ok=True)
    sim = run.simulation
    progress = load_progress(folder)
    resumed = (folder / "checkpoint.chk").exists() and progress["frames"] > 0
    if resumed:
        # a fresh Context with a PythonForce must evaluate once before it loads a checkpoint
        sim.context.getState(getEnergy=True)
        sim.loadCheckpoint(str(folder / "checkpoint.chk"))
        checkpointed = int(sim.context.getStepCount())
        if checkpointed > progress["steps"]:  # killed after the checkpoint, before progress.json
            progress["steps"], progress["frames"] = checkpointed, progress["frames"] + 1
        sim.currentStep = progress["steps"]
        periodic = sim.topology.getPeriodicBoxVectors() is not None
        _truncate_outputs(folder, sim.topology.getNumAtoms(), progress["frames"], periodic)
    if progress["steps"] >= run.total_steps:
        return progress
    dcd_file, csv_file, dcd, csv = _open_outputs(run, progress, resumed)
    dt_ps = sim.integrator.getStepSize().value_in_unit(u.picosecond)
    try:
        if not resumed:
            state = sim.context.getState(getPositions=True, getEnergy=True)
            dcd.writeModel(state.getPositions(), periodicBoxVectors=state.getPeriodicBoxVectors())
            csv.report(sim, state)
            progress["frames"] = 1
            sim.saveCheckpoint(str(folder / "checkpoint.chk.tmp"))
            os.replace(folder / "checkpoint.chk.tmp", folder / "checkpoint.chk")
            _write_json(folder / "progress.json", progress)
        while progress["steps"] < run.total_steps:
            chunk = min(run.report_interval, run.total_steps - progress["steps"])
            start = time.perf_counter()
            (run.advance or sim.step)(chunk)
            progress["wall_s"] += time.perf_counter() - start
            progress["steps"] = sim.currentStep
            state = sim.context.getState(getPositions=True, getEnergy=True)
            dcd.writeModel(state.getPositions(), periodicBoxVectors=state.getPeriodicBoxVectors())
            csv.report(sim, state)
            dcd_file.flush()
            csv_file.flush()
            progress["frames"] += 1  # the frame is on disk; now checkpoint, then record it
            sim.saveCheckpoint(str(folder / "checkpoint.chk.tmp"))
            os.replace(folder / "checkpoint.chk.tmp", folder / "checkpoint.chk")
            progress["ns_per_day"] = progress["steps"] * dt_ps * 1e-3 / progress["wall_s"] * 86400
            _write_json(folder / "progress.json", progress)
            energy = state.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
            print(f"[{run.label}] step {progress['steps']:7d}/{run.total_steps} "
                  f"{progress['steps'] * dt_ps:8.2f} ps  E_pot {energy:12.1f} kJ/mol  "
                  f"{progress['ns_per_day']:.4f} ns/day", flush=True)  # fmt: skip
    finally:
        dcd_file.close()
        csv_file.close()
    return progress
