"""Benchmark PQEqForce against OpenMM's polarisable force fields and fixed-charge PME TIP3P on the same
platform, for water and 1 M NaCl boxes.

Models: pqeq (PQEqForce PME, solver tolerance 1e-6, Ewald tolerance 1e-5, cutoff --pqeq-cutoff, plus
flexible TIP3P bonds and TIP3P Lennard-Jones), pqeq_split (the same with split charges), amoeba (amoeba2018.xml, mutual polarisation to 1e-5),
drude (charmm_polar_2019.xml SWM4-NDP water with SOD/CLA, DrudeSCFIntegrator: polarisation converged
at every step; its own box of the same size, particle count includes Drude particles and virtual
sites) and tip3p (fixed-charge PME).

Usage: python benchmarks/bench_openmm_force.py [--sizes 650 3000 12000] [--steps 3] [--platform CPU]
       [--models pqeq amoeba drude tip3p] [--json out.json] [--txt out.txt]
Prints a table and writes JSON and text (ns/day at 1 fs, ms/step wall and process CPU time).
Set OMP_NUM_THREADS / --threads.
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
    modeller.addSolvent(
        ff,
        boxSize=mm.Vec3(side, side, side) * u.nanometer,
        ionicStrength=(1.0 if salt else 0.0) * u.molar,
        neutralize=salt,
    )
    return modeller.topology, modeller.positions


def pqeq_system(topology, solver_tol=1e-6, ewald_tol=1e-5, cutoff=0.7, transfer="global"):
    """PQEq electrostatics + flexible TIP3P bonded terms + TIP3P Lennard-Jones (charges zeroed);
    ``transfer`` ``split`` solves split charges (charge moves only along bonds < 0.5 nm)."""
    ff = app.ForceField("amber14/tip3p.xml")
    system = ff.createSystem(
        topology,
        nonbondedMethod=app.PME,
        nonbondedCutoff=cutoff * u.nanometer,
        rigidWater=False,
        constraints=None,
    )
    for f in system.getForces():
        if isinstance(f, mm.NonbondedForce):
            for i in range(f.getNumParticles()):
                _, sig, eps = f.getParticleParameters(i)
                f.setParticleParameters(i, 0.0, sig, eps)
            for i in range(f.getNumExceptions()):
                a, b, _, sig, eps = f.getExceptionParameters(i)
                f.setExceptionParameters(i, a, b, 0.0, sig, eps)
            f.setNonbondedMethod(mm.NonbondedForce.CutoffPeriodic)
    pq = po.createPQEqForce(
        topology,
        nonbondedMethod="PME",
        cutoff=cutoff,
        ewaldErrorTolerance=ewald_tol,
        solverTolerance=solver_tol,
        chargeTransfer=transfer,
    )
    system.addForce(pq)
    return system


def amoeba_system(topology):
    ff = app.ForceField("amoeba2018.xml")
    return ff.createSystem(
        topology,
        nonbondedMethod=app.PME,
        nonbondedCutoff=0.7 * u.nanometer,
        vdwCutoff=0.9 * u.nanometer,
        polarization="mutual",
        mutualInducedTargetEpsilon=1e-5,
        rigidWater=False,
        constraints=None,
    )


def drude_box(n_atoms: int, salt: bool):
    """SWM4-NDP (CHARMM polarisable 2019) box of the same side as build_box, Drude particles added."""
    ff = app.ForceField("charmm_polar_2019.xml")
    side = (n_atoms / 3 / 33.4) ** (1 / 3)
    modeller = app.Modeller(app.Topology(), [])
    modeller.addSolvent(
        ff,
        model="swm4ndp",
        boxSize=mm.Vec3(side, side, side) * u.nanometer,
        ionicStrength=(1.0 if salt else 0.0) * u.molar,
        neutralize=salt,
    )
    modeller.addExtraParticles(ff)
    system = ff.createSystem(
        modeller.topology, nonbondedMethod=app.PME, nonbondedCutoff=0.9 * u.nanometer
    )
    return system, modeller.positions


def tip3p_system(topology):
    ff = app.ForceField("amber14/tip3p.xml")
    return ff.createSystem(
        topology,
        nonbondedMethod=app.PME,
        nonbondedCutoff=0.9 * u.nanometer,
        rigidWater=False,
        constraints=None,
    )


def time_model(system, positions, platform, steps, threads, integrator=None):
    props = {"Threads": str(threads)} if platform == "CPU" else {}
    integ = integrator or mm.VerletIntegrator(1.0 * u.femtosecond)
    ctx = mm.Context(system, integ, mm.Platform.getPlatformByName(platform), props)
    ctx.setPositions(positions)
    ctx.setVelocitiesToTemperature(300 * u.kelvin, 1)
    integ.step(1)  # warm-up (first solve from scratch)
    t, c = time.perf_counter(), time.process_time()
    integ.step(steps)
    ms = (time.perf_counter() - t) / steps * 1000
    cpu_ms = (time.process_time() - c) / steps * 1000
    return ms, cpu_ms, 86400e3 / ms * 1e-6  # ns/day at 1 fs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[650, 3000, 12000])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--platform", default="CPU")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--models", nargs="+", default=["pqeq", "amoeba", "drude", "tip3p"])
    ap.add_argument("--pqeq-cutoff", type=float, default=0.7, help="PQEq real-space cutoff (nm)")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=120.0,
        help="skip a model at larger sizes once one step took longer than this",
    )
    ap.add_argument("--json", default="benchmarks/results/openmm_force_bench.json")
    ap.add_argument("--txt", default="benchmarks/results/openmm_force_bench.txt")
    args = ap.parse_args()
    rows, too_slow = [], set()
    for n in args.sizes:
        for salt in (False, True):
            top, pos = build_box(n, salt)
            natoms = top.getNumAtoms()
            name = "water" if not salt else "1M NaCl"
            for model in args.models:
                if model in too_slow:
                    rows.append(
                        dict(
                            system=name,
                            atoms=natoms,
                            model=model,
                            ms_per_step=None,
                            cpu_ms_per_step=None,
                            ns_per_day=None,
                            note="skipped: previous size exceeded --max-seconds",
                        )
                    )
                    continue
                try:
                    integ, n_part = None, natoms
                    if model in ("pqeq", "pqeq_split"):
                        transfer = "split" if model == "pqeq_split" else "global"
                        system = pqeq_system(top, cutoff=args.pqeq_cutoff, transfer=transfer)
                        p = pos
                    elif model == "amoeba":
                        system, p = amoeba_system(top), pos
                    elif model == "tip3p":
                        system, p = tip3p_system(top), pos
                    elif model == "drude":
                        system, p = drude_box(n, salt)
                        integ = mm.DrudeSCFIntegrator(1.0 * u.femtosecond)
                        n_part = system.getNumParticles()
                    else:
                        raise ValueError(f"unknown model {model}")
                    ms, cpu, nsday = time_model(
                        system, p, args.platform, args.steps, args.threads, integ
                    )
                    note = "" if n_part == natoms else f"{n_part} particles (SWM4-NDP + Drude)"
                    if ms / 1000 > args.max_seconds:
                        too_slow.add(model)
                except Exception as exc:  # report and go on
                    ms, cpu, nsday, note = None, None, None, f"failed: {exc}"[:120]
                rows.append(
                    dict(
                        system=name,
                        atoms=natoms,
                        model=model,
                        ms_per_step=ms,
                        cpu_ms_per_step=cpu,
                        ns_per_day=nsday,
                        note=note,
                    )
                )
                print(rows[-1], flush=True)
    lines = [
        f"platform {args.platform}, {args.threads} thread(s), {args.steps} steps after one warm-up step, "
        f"PQEq cutoff {args.pqeq_cutoff} nm",
        f"{'system':10s} {'atoms':>6s} {'model':8s} {'ms/step':>10s} {'cpu ms':>10s} {'ns/day':>9s}  note",
    ]
    for r in rows:
        ms = f"{r['ms_per_step']:.1f}" if r["ms_per_step"] is not None else "-"
        cpu = f"{r['cpu_ms_per_step']:.1f}" if r["cpu_ms_per_step"] is not None else "-"
        nd = f"{r['ns_per_day']:.4f}" if r["ns_per_day"] is not None else "-"
        lines.append(
            f"{r['system']:10s} {r['atoms']:6d} {r['model']:8s} {ms:>10s} {cpu:>10s} {nd:>9s}  {r['note']}"
        )
    exponents = {}
    for system in ("water", "1M NaCl"):
        pq = [
            r
            for r in rows
            if r["model"] == "pqeq" and r["cpu_ms_per_step"] and r["system"] == system
        ]
        if len(pq) >= 2:
            x = np.log([r["atoms"] for r in pq])
            y = np.log([r["cpu_ms_per_step"] for r in pq])
            exponents[system] = float(np.polyfit(x, y, 1)[0])
            lines.append(f"PQEq cost exponent ({system}, CPU time): {exponents[system]:.2f}")
    text = "\n".join(lines)
    print("\n" + text)
    for path in (args.json, args.txt):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(
            dict(
                platform=args.platform,
                threads=args.threads,
                steps=args.steps,
                pqeq_cutoff_nm=args.pqeq_cutoff,
                rows=rows,
                pqeq_cost_exponent=exponents,
            ),
            fh,
            indent=1,
        )
    with open(args.txt, "w") as fh:
        fh.write(text + "\n")
    print(f"JSON written to {args.json}, table to {args.txt}")


if __name__ == "__main__":
    main()
