"""NVE total-energy drift of NaCl in water with PQEqForce (resumable; progress in a log).

System: about --atoms atoms of 1 M NaCl in water (benchmarks/bench_openmm_force.py: PQEq electrostatics
with per-molecule/ion fragments, flexible TIP3P bonds/angles, TIP3P Lennard-Jones repulsion), velocity
Verlet at --dt fs on the CPU platform (double precision), one run per solver tolerance, same start.
The drift is the slope of a linear fit of the total energy (meV/atom) against time (ps).

The start structure is reproducible (--seed seeds Python's random, which openmm's Modeller uses to pick
the waters replaced by ions; before this every process drew its own ion placement). --start-state
continues from a serialized State (positions, velocities, box; e.g. an equilibrated checkpoint of another
run), so several tolerances can be compared from one equilibrated state.

Usage: python benchmarks/nve_drift.py --atoms 650 --ps 20 --tolerances 1e-5 1e-6 1e-8
Each run checkpoints to --workdir every --checkpoint-every reports and resumes from there when the
command is repeated; finished runs are skipped. Results: --json (and the log), rewritten at every
checkpoint: a run still in progress appears with "complete": false and its drift fitted over the time
simulated so far ("ps"), so an interrupted run still leaves a result.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

import numpy as np
import openmm as mm
import openmm.unit as u

sys.path.insert(0, os.path.dirname(__file__))
from bench_openmm_force import build_box, pqeq_system  # noqa: E402

from openmm_polarml import units  # noqa: E402


def drift_fit(times_ps, energies_kj, n_atoms):
    """Slope (meV/atom/ps) and RMS fluctuation about the fit (meV/atom) of the total energy."""
    e = np.asarray(energies_kj) / units.EV_TO_KJ_PER_MOL * 1000.0 / n_atoms
    t = np.asarray(times_ps)
    if len(t) < 2:
        return float("nan"), float("nan")
    coef = np.polyfit(t, e, 1)
    return float(coef[0]), float(np.std(e - np.polyval(coef, t)))


def make_context(atoms, tol, dt_fs, cutoff, ewald_tol, seed, threads, start_state=None):
    random.seed(seed)  # Modeller.addSolvent places the ions with Python's random
    top, pos = build_box(atoms, salt=True)
    system = pqeq_system(top, solver_tol=tol, ewald_tol=ewald_tol, cutoff=cutoff)
    integ = mm.VerletIntegrator(dt_fs * u.femtosecond)
    ctx = mm.Context(system, integ, mm.Platform.getPlatformByName("CPU"), {"Threads": str(threads)})
    if start_state:
        with open(start_state) as fh:
            state = mm.XmlSerializer.deserialize(fh.read())
        ctx.setPeriodicBoxVectors(*state.getPeriodicBoxVectors())
        ctx.setPositions(state.getPositions())
        ctx.setVelocities(state.getVelocities())
    else:
        ctx.setPositions(pos)
        ctx.setVelocitiesToTemperature(300 * u.kelvin, seed)
    return ctx, integ, system.getNumParticles()


def summarize(args, tol, data, n_atoms, complete):
    """Result record of one run from its samples so far."""
    step = int(round(data["times"][-1] * 1000 / args.dt))
    slope, fluct = drift_fit(data["times"], data["energies"], n_atoms)
    keep = [i for i, t in enumerate(data["times"]) if t >= args.equilibrate_ps - 1e-12]
    slope_eq, fluct_eq = drift_fit(
        [data["times"][i] for i in keep], [data["energies"][i] for i in keep], n_atoms
    )
    return dict(
        atoms=n_atoms,
        solver_tolerance=tol,
        ewald_tolerance=args.ewald_tol,
        cutoff_nm=args.cutoff,
        dt_fs=args.dt,
        target_ps=args.ps,
        ps=data["times"][-1],
        complete=complete,
        start=(f"state {args.start_state}" if args.start_state else f"fresh box, seed {args.seed}"),
        drift_meV_per_atom_per_ps=slope,
        fluctuation_meV_per_atom=fluct,
        equilibrate_ps=args.equilibrate_ps,
        drift_after_equilibration_meV_per_atom_per_ps=slope_eq,
        fluctuation_after_equilibration_meV_per_atom=fluct_eq,
        ms_per_step=data["wall"] / max(step, 1) * 1000,
        times_ps=data["times"],
        total_energy_kj_mol=data["energies"],
    )


def run_one(args, tol, log, save_partial=lambda res: None):
    tag = f"tol{tol:.0e}"
    ckpt_state = os.path.join(args.workdir, f"{tag}.state.xml")
    ckpt_data = os.path.join(args.workdir, f"{tag}.json")
    ctx, integ, n_atoms = make_context(
        args.atoms,
        tol,
        args.dt,
        args.cutoff,
        args.ewald_tol,
        args.seed,
        args.threads,
        args.start_state,
    )
    data = dict(times=[], energies=[], wall=0.0)
    if os.path.exists(ckpt_data) and os.path.exists(ckpt_state):
        with open(ckpt_data) as fh:
            data = json.load(fh)
        with open(ckpt_state) as fh:
            ctx.setState(mm.XmlSerializer.deserialize(fh.read()))
        log(f"{tag}: resumed at {data['times'][-1]:.3f} ps")
    n_steps = int(round(args.ps * 1000 / args.dt))
    step = int(round(data["times"][-1] * 1000 / args.dt)) if data["times"] else 0
    if not data["times"]:
        st = ctx.getState(getEnergy=True)
        data["times"].append(0.0)
        data["energies"].append(
            (st.getPotentialEnergy() + st.getKineticEnergy()).value_in_unit(u.kilojoule_per_mole)
        )
    reports = 0
    while step < n_steps:
        t0 = time.perf_counter()
        k = min(args.report_every, n_steps - step)
        integ.step(k)
        step += k
        st = ctx.getState(getEnergy=True)
        data["times"].append(step * args.dt / 1000)
        data["energies"].append(
            (st.getPotentialEnergy() + st.getKineticEnergy()).value_in_unit(u.kilojoule_per_mole)
        )
        data["wall"] += time.perf_counter() - t0
        reports += 1
        if reports % args.checkpoint_every == 0 or step >= n_steps:
            with open(ckpt_state, "w") as fh:
                fh.write(
                    mm.XmlSerializer.serialize(ctx.getState(getPositions=True, getVelocities=True))
                )
            with open(ckpt_data, "w") as fh:
                json.dump(data, fh)
            res = summarize(args, tol, data, n_atoms, step >= n_steps)
            save_partial(res)
            log(
                f"{tag}: {res['ps']:.3f} ps, drift {res['drift_meV_per_atom_per_ps']:+.5f} meV/atom/ps "
                f"(after {args.equilibrate_ps:g} ps: {res['drift_after_equilibration_meV_per_atom_per_ps']:+.5f}), "
                f"fluctuation {res['fluctuation_meV_per_atom']:.5f} meV/atom, {res['ms_per_step']:.1f} ms/step"
            )
    return summarize(args, tol, data, n_atoms, True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--atoms", type=int, default=650)
    ap.add_argument("--ps", type=float, default=20.0)
    ap.add_argument("--dt", type=float, default=0.5, help="time step (fs)")
    ap.add_argument("--tolerances", type=float, nargs="+", default=[1e-5, 1e-6, 1e-8])
    ap.add_argument("--cutoff", type=float, default=0.6, help="real-space cutoff (nm)")
    ap.add_argument("--ewald-tol", type=float, default=1e-5)
    ap.add_argument(
        "--equilibrate-ps",
        type=float,
        default=0.5,
        help="also fit the drift over t >= this (the unminimised start relaxes first)",
    )
    ap.add_argument("--seed", type=int, default=1, help="ion placement and initial velocities")
    ap.add_argument(
        "--start-state",
        default=None,
        help="serialized State XML (positions, velocities) to start from instead of a fresh box",
    )
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--report-every", type=int, default=20, help="steps between energy samples")
    ap.add_argument("--checkpoint-every", type=int, default=10, help="samples between checkpoints")
    ap.add_argument("--workdir", default="/tmp/polarml_nve_drift")
    ap.add_argument("--json", default="benchmarks/results/openmm_force_nve_drift.json")
    ap.add_argument("--log", default="benchmarks/results/openmm_force_nve_drift.log")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        with open(args.log, "a") as fh:
            fh.write(line + "\n")

    log(f"NVE drift: {args}")
    results = []

    def save(runs):
        tmp = args.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(dict(platform="CPU", threads=args.threads, runs=runs), fh, indent=1)
        os.replace(tmp, args.json)

    for tol in args.tolerances:
        res = run_one(args, tol, log, save_partial=lambda r: save(results + [r]))
        results.append(res)
        log(
            f"done tol {tol:.0e}: drift {res['drift_meV_per_atom_per_ps']:+.5f} meV/atom/ps over {res['ps']:.3f} ps"
        )
        save(results)
    print(
        f"\n{'tol':>8s} {'ps':>7s} {'drift meV/atom/ps':>18s} {'after equil.':>13s} {'fluct meV/atom':>15s} "
        f"{'ms/step':>8s}"
    )
    for r in results:
        print(
            f"{r['solver_tolerance']:8.0e} {r['ps']:7.3f} {r['drift_meV_per_atom_per_ps']:+18.5f} "
            f"{r['drift_after_equilibration_meV_per_atom_per_ps']:+13.5f} {r['fluctuation_meV_per_atom']:15.5f} "
            f"{r['ms_per_step']:8.1f}"
        )


if __name__ == "__main__":
    main()
