"""PQEq engine benchmark: energy+forces time and peak memory vs N for each long-range method and
solver, on water boxes and NaCl/BaTiO3 supercells. Prints a table and writes JSON.

    python benchmarks/bench_pqeq.py [--sizes 2 3 4] [--threads 2] [--out benchmarks/results/pqeq.json]
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
from pqeq_structures import batio3, nacl, tensors, water_box  # noqa: E402

from openmm_polarml.pqeq import PQEq  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_call(engine, atoms, repeats: int = 1) -> float:
    pos, z, cell, pbc = tensors(atoms)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        engine(pos, z, cell=cell, pbc=pbc)
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 3, 4], help="supercell repeats")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tolerance", type=float, default=1e-6)
    parser.add_argument("--max-dense", type=int, default=1500, help="largest N for the dense solver")
    parser.add_argument("--out", default="benchmarks/results/pqeq.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    systems = {
        "water": lambda n: water_box(2 * n, spacing=3.1),
        "NaCl": lambda n: nacl(n + 1),
        "BaTiO3": lambda n: batio3(2 * n, ti_shift=0.1),
    }
    rows = []
    print(f"{'system':<8}{'N':>7}{'method':>8}{'solver':>11}{'time (s)':>11}{'peak RSS MB':>13}")
    for name, build in systems.items():
        for size in args.sizes:
            atoms = build(size)
            for method in ("ewald", "pme", "taper"):
                for solver in ("dense", "iterative"):
                    if solver == "dense" and len(atoms) > args.max_dense:
                        continue
                    engine = PQEq(method, solver=solver, tolerance=args.tolerance)
                    try:
                        seconds = time_call(engine, atoms)
                    except Exception as err:  # report, keep measuring the others
                        seconds = float("nan")
                        print(f"  {name} {method} {solver}: {type(err).__name__}: {str(err)[:80]}")
                    row = dict(system=name, n_atoms=len(atoms), method=method, solver=solver,
                               seconds=seconds, peak_rss_mb=peak_rss_mb(), threads=args.threads)
                    rows.append(row)
                    print(f"{name:<8}{len(atoms):>7}{method:>8}{solver:>11}{seconds:>11.3f}"
                          f"{row['peak_rss_mb']:>13.0f}", flush=True)
    print("\nfitted scaling exponents t ∝ N^p (iterative):")
    for name in systems:
        for method in ("ewald", "pme", "taper"):
            pts = [(r["n_atoms"], r["seconds"]) for r in rows if r["system"] == name
                   and r["method"] == method and r["solver"] == "iterative" and np.isfinite(r["seconds"])]
            if len(pts) >= 2:
                p = np.polyfit(np.log([a for a, _ in pts]), np.log([b for _, b in pts]), 1)[0]
                print(f"  {name:<8}{method:>8}: p = {p:.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
