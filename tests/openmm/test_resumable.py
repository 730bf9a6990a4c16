"""Resumable MD: a run killed part-way (even between writing a frame and checkpointing it) and
continued gives the same trajectory as one uninterrupted run, frame for frame."""

import json

import mdtraj
import numpy as np
import openmm
import openmm.app as app

from openmm_polarml.openmm.resumable import ResumableRun, load_progress, run_resumable


def argon_simulation(seed=3):
    """27 LJ argon atoms in a 1.2 nm box, Verlet on the Reference platform (deterministic)."""
    topology = app.Topology()
    chain = topology.addChain()
    system = openmm.System()
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(0.55)
    grid = np.array([[i, j, k] for i in range(3) for j in range(3) for k in range(3)]) * 0.4 + 0.2
    for _ in grid:
        residue = topology.addResidue("AR", chain)
        topology.addAtom("Ar", app.element.argon, residue)
        system.addParticle(39.948)
        nb.addParticle(0.0, 0.34, 0.996)
    system.addForce(nb)
    box = np.eye(3) * 1.2
    system.setDefaultPeriodicBoxVectors(*box)
    topology.setPeriodicBoxVectors(box)
    sim = app.Simulation(topology, system, openmm.VerletIntegrator(0.002),
                         openmm.Platform.getPlatformByName("Reference"))  # fmt: skip
    sim.context.setPositions(grid + np.random.default_rng(seed).normal(0, 0.01, grid.shape))
    sim.context.setVelocitiesToTemperature(120, seed)
    return sim


def frames(folder):
    top = mdtraj.Topology.from_openmm(argon_simulation().topology)
    return mdtraj.load_dcd(str(folder / "trajectory.dcd"), top=top).xyz


def test_interrupted_run_equals_uninterrupted(tmp_path):
    whole = tmp_path / "whole"
    run_resumable(ResumableRun(argon_simulation(), whole, 40, 10))
    parts = tmp_path / "parts"
    run_resumable(ResumableRun(argon_simulation(), parts, 20, 10))
    # a kill after writing the next frame but before its checkpoint: an extra frame on disk
    sim = argon_simulation()
    sim.loadCheckpoint(str(parts / "checkpoint.chk"))
    sim.step(10)
    dcd = app.DCDFile(open(parts / "trajectory.dcd", "r+b"), sim.topology, 0.002, 0, 10,
                      append=True)  # fmt: skip
    state = sim.context.getState(getPositions=True)
    dcd.writeModel(state.getPositions(), periodicBoxVectors=state.getPeriodicBoxVectors())
    dcd._file.close()
    with open(parts / "state.csv", "a") as fh:
        fh.write("garbage line of the killed run\n")
    progress = run_resumable(ResumableRun(argon_simulation(seed=9), parts, 40, 10))
    assert progress["steps"] == 40 and progress["frames"] == 5
    np.testing.assert_array_equal(frames(parts), frames(whole))
    assert len((parts / "state.csv").read_text().splitlines()) == 1 + 5
    assert "garbage" not in (parts / "state.csv").read_text()


def test_checkpoint_newer_than_progress_is_taken(tmp_path):
    folder = tmp_path / "run"
    run_resumable(ResumableRun(argon_simulation(), folder, 20, 10))
    stale = load_progress(folder)
    run_resumable(ResumableRun(argon_simulation(), folder, 30, 10))
    # killed after the checkpoint of step 30 was saved, before progress.json was rewritten
    (folder / "progress.json").write_text(json.dumps(stale))
    progress = run_resumable(ResumableRun(argon_simulation(), folder, 40, 10))
    assert progress["frames"] == 5
    whole = tmp_path / "whole"
    run_resumable(ResumableRun(argon_simulation(), whole, 40, 10))
    np.testing.assert_array_equal(frames(folder), frames(whole))


def test_finished_run_is_not_extended(tmp_path):
    folder = tmp_path / "run"
    run_resumable(ResumableRun(argon_simulation(), folder, 20, 10))
    before = (folder / "trajectory.dcd").read_bytes()
    assert run_resumable(ResumableRun(argon_simulation(), folder, 20, 10))["steps"] == 20
    assert (folder / "trajectory.dcd").read_bytes() == before
