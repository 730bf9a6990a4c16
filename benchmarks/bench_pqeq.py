"""PQEq engine benchmark: energy+forces time and peak memory vs N for each long-range method and
solver, on water boxes, NaCl and BaTiO3 supercells (and water clusters for ``direct``).

Prints a table, the fitted scaling exponents and the issue's targets; writes JSON. Not a test.

    python benchmarks/bench_pqeq.py                       # full matrix (≈200 to ≈20,000 atoms)
    python benchmarks/bench_pqeq.py --quick               # small sizes only
    python benchmarks/bench_pqeq.py --threads 2 --out benchmarks/results/pqeq.json
    python benchmarks/bench_pqeq.py --threads 2 --methods pme --solvers iterative --repeats 3
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pqeq"))
from pqeq_structures import batio3, nacl, tensors, water_box, water_cluster  # noqa: E402

from openmm_polarml.pqeq import PQEq  # noqa: E402

#: (system, builder, sizes) — builder(size) returns ase Atoms; sizes give ≈200 … ≈20,000 atoms.
SYSTEMS = {
    "water": (lambda s: water_box(s, spacing=3.1), [4, 6, 10, 15, 19]),  # 192 … 20,577
    "NaCl": (lambda s: nacl(s), [3, 5, 8, 12, 14]),  # 216 … 21,952 (8·s³)
    "BaTiO3": (lambda s: batio3(s, ti_shift=0.1), [4, 6, 10, 14, 16]),  # 320 … 20,480
}
QUICK_SIZES = {"water": [4, 6], "NaCl": [3, 5], "BaTiO3": [4, 6]}
#: Largest N for each (method, solver) pair; beyond it the row is skipped (cost, not failure).
LIMITS = {
    ("pme", "iterative"): 25_000,
    ("pme", "dense"): 1_000,
    ("ewald", "iterative"): 1_100,  # explicit k-sum: O(N·K) memory and time
    ("ewald", "dense"): 700,
    ("taper", "iterative"): 3_500,
    ("taper", "dense"): 700,
    ("direct", "iterative"): 700,
    ("direct", "dense"): 700,
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(atoms, method: str, solver: str, repeats: int = 1) -> dict:
    """Cold-start energy + forces, ``repeats`` times: median (``seconds``), min and all (s)."""
    pos, z, cell, pbc = tensors(atoms)
    if method == "direct":
        cell, pbc = None, False
    engine = PQEq(method, solver=solver)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = engine(pos, z, cell=cell, pbc=pbc)
        times.append(time.perf_counter() - start)
    return {
        "seconds": float(np.median(times)),
        "seconds_min": min(times),
        "seconds_all": times,
        "iterations": int(out["iterations"]),
    }


def fit_exponent(points):
    if len(points) < 2:
        return float("nan")
    n, t = np.array(points).T
    return float(np.polyfit(np.log(n), np.log(t), 1)[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    parser.add_argument("--out", default="benchmarks/results/pqeq.json")
    parser.add_argument("--resume", action="store_true", help="keep rows already in --out")
    parser.add_argument("--methods", nargs="+", default=["direct", "pme", "ewald", "taper"])
    parser.add_argument("--solvers", nargs="+", default=["iterative", "dense"])
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per row; the table shows the median"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = json.loads(Path(args.out).read_text()) if args.resume and Path(args.out).exists() else []
    done = {(r["system"], r["n_atoms"], r["method"], r["solver"]) for r in rows}
    header = f"{'system':<8}{'N':>7}{'method':>8}{'solver':>11}{'iters':>7}{'time (s)':>10}{'peak RSS MB':>13}"
    print(header, flush=True)
    for name in args.systems:
        build, sizes = SYSTEMS[name]
        for size in QUICK_SIZES[name] if args.quick else sizes:
            atoms = build(size)
            if name == "water" and size <= 10:
                cases = [("direct", water_cluster(size**3, seed=1))]
            else:
                cases = []
            cases += [(m, atoms) for m in ("pme", "ewald", "taper")]
            for method, structure in cases:
                for solver in ("iterative", "dense"):
                    n = len(structure)
                    label = name if method != "direct" else "water-cluster"
                    skip = method not in args.methods or solver not in args.solvers
                    if skip or n > LIMITS[(method, solver)] or (label, n, method, solver) in done:
                        continue
                    try:
                        result = run_case(structure, method, solver, args.repeats)
                    except Exception as err:  # report, keep measuring the others
                        result = {"seconds": float("nan"), "iterations": -1}
                        print(f"  {name} {method} {solver}: {type(err).__name__}: {str(err)[:90]}")
                    row = dict(
                        system=name if method != "direct" else "water-cluster",
                        n_atoms=n,
                        method=method,
                        solver=solver,
                        threads=args.threads,
                        peak_rss_mb=peak_rss_mb(),
                        **result,
                    )
                    rows.append(row)
                    print(
                        f"{row['system']:<8}{n:>7}{method:>8}{solver:>11}{row['iterations']:>7}"
                        f"{row['seconds']:>10.2f}{row['peak_rss_mb']:>13.0f}",
                        flush=True,
                    )
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(rows, indent=2))  # partial results survive
    summarize(rows)
    print(f"wrote {args.out}")


def summarize(rows):
    print("\nfitted scaling exponents t ∝ N^p:")
    for system in sorted({r["system"] for r in rows}):
        for method in ("direct", "pme", "ewald", "taper"):
            for solver in ("iterative", "dense"):
                pts = [
                    (r["n_atoms"], r["seconds"])
                    for r in rows
                    if r["system"] == system
                    and r["method"] == method
                    and r["solver"] == solver
                    and np.isfinite(r["seconds"])
                ]
                if len(pts) >= 2:
                    print(
                        f"  {system:<14}{method:>7}{solver:>11}: p = {fit_exponent(pts):.2f} "
                        f"({pts[0][0]}–{pts[-1][0]} atoms)"
                    )
    print("\ntargets (iterative + PME):")
    for system in sorted({r["system"] for r in rows if r["method"] == "pme"}):
        it = [
            (r["n_atoms"], r["seconds"])
            for r in rows
            if r["system"] == system
            and r["method"] == "pme"
            and r["solver"] == "iterative"
            and np.isfinite(r["seconds"])
        ]
        dense = [
            (r["n_atoms"], r["seconds"])
            for r in rows
            if r["system"] == system
            and r["method"] == "pme"
            and r["solver"] == "dense"
            and np.isfinite(r["seconds"])
        ]
        if not it:
            continue
        largest = max(it)
        line = f"  {system:<8} N^{fit_exponent(it):.2f} (target ≤ 1.3); largest N={largest[0]}: {largest[1]:.1f} s"
        if len(dense) >= 2:
            p_dense = fit_exponent(dense)
            n0, t0 = max(dense)
            t_dense_5000 = t0 * (5000 / n0) ** p_dense
            t_it_5000 = np.exp(np.polyval(np.polyfit(*np.log(np.array(it)).T, 1), np.log(5000)))
            line += (
                f"; at 5,000 atoms dense ≈ {t_dense_5000:.0f} s (extrapolated N^{p_dense:.2f}) vs "
                f"iterative ≈ {t_it_5000:.1f} s: {t_dense_5000 / t_it_5000:.0f}×"
            )
        print(line)


if __name__ == "__main__":
    main()
