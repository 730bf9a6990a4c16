"""Benchmark PQEqForce against OpenMM's AMOEBA (amoeba2018.xml, mutual polarisation) and fixed-charge
PME TIP3P on the same platform, for water and 1 M NaCl boxes.

Usage: python benchmarks/bench_openmm_force.py [--sizes 650 3000 12000] [--steps 5] [--platform CPU]
       [--models pqeq amoeba tip3p] [--json out.json]
Prints a table and writes JSON (ns/day at 1 fs, ms/step). Set OMP_NUM_THREADS / --threads.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import openmm as mm
import openmm.app as app
import openmm.unit as u

import openmm_polarml.openmm as po


def build_box(n_atoms: int, salt: bool):
    """TIP3P-solvated cubic box of about n_atoms atoms (1 M NaCl when salt)."""
    ff = app.ForceField("amber14/tip3p.xml")
    side = (n_atoms / 3 / 33.4) ** (1 / 3)  # nm (33.4 waters / nm^3)
    modeller = app.Modeller(app.Topology(), [])
    modeller.addSolvent(ff, boxSize=mm.Vec3(side, side, side) * u.nanometer,
                        ionicStrength=(1.0 if salt else 0.0) * u.molar, neutralize=salt)
    return modeller.topology, modeller.positions


def pqeq_system(topology, solver_tol=1e-6, ewald_tol=1e-5, cutoff=0.9):
    """PQEq electrostatics + flexible TIP3P bonded terms + TIP3P Lennard-Jones (charges zeroed)."""
    ff = app.ForceField("amber14/tip3p.xml")
    system = ff.createSystem(topology, nonbondedMethod=app.PME, nonbondedCutoff=cutoff * u.nanometer,
                             rigidWater=False, constraints=None)
    for f in system.getForces():
        if isinstance(f, mm.NonbondedForce):
            for i in range(f.getNumParticles()):
                _, sig, eps = f.getParticleParameters(i)
                f.setParticleParameters(i, 0.0, sig, eps)
            for i in range(f.getNumExceptions()):
                a, b, _, sig, eps = f.getExceptionParameters(i)
                f.setExceptionParameters(i, a, b, 0.0, sig, eps)
            f.setNonbondedMethod(mm.NonbondedForce.CutoffPeriodic)
    pq = po.createPQEqForce(topology, nonbondedMethod="PME", cutoff=cutoff, ewaldErrorTolerance=ewald_tol,
                            solverTolerance=solver_tol)
    system.addForce(pq)
    return system


def amoeba_system(topology):
    ff = app.ForceField("amoeba2018.xml")
    return ff.createSystem(topology, nonbondedMethod=app.PME, nonbondedCutoff=0.7 * u.nanometer,
                           vdwCutoff=0.9 * u.nanometer, polarization="mutual", mutualInducedTargetEpsilon=1e-5,
                           rigidWater=False, constraints=None)


def tip3p_system(topology):
    ff = app.ForceField("amber14/tip3p.xml")
    return ff.createSystem(topology, nonbondedMethod=app.PME, nonbondedCutoff=0.9 * u.nanometer,
                           rigidWater=False, constraints=None)


def time_model(system, positions, platform, steps, threads):
    props = {"Threads": str(threads)} if platform == "CPU" else {}
    integ = mm.VerletIntegrator(1.0 * u.femtosecond)
    ctx = mm.Context(system, integ, mm.Platform.getPlatformByName(platform), props)
    ctx.setPositions(positions)
    ctx.setVelocitiesToTemperature(300 * u.kelvin, 1)
    integ.step(1)  # warm-up (first solve from scratch)
    t = time.perf_counter()
    integ.step(steps)
    ms = (time.perf_counter() - t) / steps * 1000
    return ms, 86400e3 / ms * 1e-6  # ns/day at 1 fs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[650, 3000, 12000])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--platform", default="CPU")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--models", nargs="+", default=["pqeq", "amoeba", "tip3p"])
    ap.add_argument("--max-seconds", type=float, default=120.0,
                    help="skip a model at larger sizes once one step took longer than this")
    ap.add_argument("--json", default="benchmarks/results/bench_openmm_force.json")
    args = ap.parse_args()
    builders = {"pqeq": pqeq_system, "amoeba": amoeba_system, "tip3p": tip3p_system}
    rows, too_slow = [], set()
    for n in args.sizes:
        for salt in (False, True):
            top, pos = build_box(n, salt)
            natoms = top.getNumAtoms()
            for model in args.models:
                name = "water" if not salt else "1M NaCl"
                if model in too_slow:
                    rows.append(dict(system=name, atoms=natoms, model=model, ms_per_step=None, ns_per_day=None,
                                     note="skipped: previous size exceeded --max-seconds"))
                    continue
                try:
                    system = builders[model](top)
                    ms, nsday = time_model(system, pos, args.platform, args.steps, args.threads)
                    note = ""
                    if ms / 1000 > args.max_seconds:
                        too_slow.add(model)
                except Exception as exc:  # report and go on
                    ms, nsday, note = None, None, f"failed: {exc}"[:120]
                rows.append(dict(system=name, atoms=natoms, model=model, ms_per_step=ms, ns_per_day=nsday,
                                 note=note))
                print(rows[-1], flush=True)
    print(f"\nplatform {args.platform}, {args.threads} thread(s), {args.steps} steps after one warm-up step")
    print(f"{'system':10s} {'atoms':>6s} {'model':8s} {'ms/step':>10s} {'ns/day':>9s}  note")
    for r in rows:
        ms = f"{r['ms_per_step']:.1f}" if r["ms_per_step"] is not None else "-"
        nd = f"{r['ns_per_day']:.4f}" if r["ns_per_day"] is not None else "-"
        print(f"{r['system']:10s} {r['atoms']:6d} {r['model']:8s} {ms:>10s} {nd:>9s}  {r['note']}")
    pq = [r for r in rows if r["model"] == "pqeq" and r["ms_per_step"] and r["system"] == "water"]
    if len(pq) >= 2:
        x = np.log([r["atoms"] for r in pq])
        y = np.log([r["ms_per_step"] for r in pq])
        print(f"PQEq cost exponent (water): {np.polyfit(x, y, 1)[0]:.2f}")
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(dict(platform=args.platform, threads=args.threads, steps=args.steps, rows=rows), fh, indent=1)
    print(f"JSON written to {args.json}")


if __name__ == "__main__":
    main()
