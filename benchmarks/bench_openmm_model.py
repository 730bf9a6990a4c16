"""The full model as OpenMM runs it: ms per MD step, and the share of PQEq + D3 in the step.

Four OpenMM systems of the same rattled NaCl supercell (``small`` preset, random weights,
float32 artifact, D3(BJ) PBE 12 Å, PME PQEq) on the CPU platform, each advanced with a 1 fs
``VerletIntegrator`` from 300 K velocities:

- ``network``: TorchForce of the network alone;
- ``network+D3``: TorchForce of network + D3 (TorchScript D3: the exported path);
- ``full``: that TorchForce plus the native ``PQEqForce`` (warm-started from the previous steps,
  solver tolerance 1e-6, Ewald tolerance 1e-6);
- ``full, native D3``: the network TorchForce, D3 through the native kernel
  (``attach_d3_force``, an ``openmm.PythonForce``) and the ``PQEqForce``.

The PQEq + D3 share of a step is ``(full − network) / full`` for either full system. The four
Contexts advance in turn, one step each per round (so that the machine's load changes hit them
alike); median ms per step over ``--steps`` rounds after ``--warmup`` rounds, with the median
``PQEqForce`` solver iterations per step. Prints a table and writes JSON.

    python benchmarks/bench_openmm_model.py [--sizes 1000 4096] [--threads 2] [--warmup 10] [--steps 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_model import rocksalt  # noqa: E402

from openmm_polarml import units  # noqa: E402
from openmm_polarml.model import build_model  # noqa: E402


def _system(atoms, artifact, with_pqeq: bool, native_d3=None):
    import openmm as mm

    from openmm_polarml.openmm import attach_d3_force, attach_pqeq_force, attach_torch_force

    system = mm.System()
    for mass in atoms.get_masses():
        system.addParticle(float(mass))
    a, b, c = (mm.Vec3(*(row * units.ANGSTROM_TO_NM)) for row in atoms.cell.array)
    system.setDefaultPeriodicBoxVectors(a, b, c)
    attach_torch_force(system, artifact, force_group=0)
    pqeq = None
    if with_pqeq:
        pqeq = attach_pqeq_force(system, artifact, method="pme", force_group=1)
    if native_d3 is not None:
        attach_d3_force(system, native_d3, atoms.numbers, force_group=2)
    return system, pqeq


class _Run:
    """One OpenMM Context of a variant on the CPU platform, advanced with a 1 fs VerletIntegrator."""

    def __init__(self, atoms, artifact, with_pqeq, threads, native_d3=None):
        import openmm as mm

        system, self.pqeq = _system(atoms, artifact, with_pqeq, native_d3)
        self.integrator = mm.VerletIntegrator(1.0e-3)
        platform = mm.Platform.getPlatformByName("CPU")
        self.context = mm.Context(system, self.integrator, platform, {"Threads": str(threads)})
        self.context.setPositions(atoms.positions * units.ANGSTROM_TO_NM)
        self.context.setVelocitiesToTemperature(300.0, 1)
        self.times, self.iterations = [], []

    def step(self, record: bool) -> None:
        t0 = time.perf_counter()
        self.integrator.step(
            1
        )  # synchronous on the CPU platform (no getState: it would evaluate again)
        if record:
            self.times.append(time.perf_counter() - t0)
            if self.pqeq is not None:
                self.iterations.append(self.pqeq.getLastSolverIterations(self.context))

    def median_ms(self) -> float:
        return 1e3 * float(np.median(self.times))

    def median_iterations(self) -> float | None:
        return float(np.median(self.iterations)) if self.iterations else None


def interleaved(runs: dict, warmup: int, steps: int) -> None:
    """Step every run once per round, ``warmup`` rounds unrecorded then ``steps`` recorded: load
    changes of the machine then hit all variants alike, which matters for their differences."""
    for round_ in range(warmup + steps):
        for run in runs.values():
            run.step(record=round_ >= warmup)


def bench_size(n: int, threads: int, warmup: int, steps: int, workdir: Path) -> dict:
    from openmm_polarml.export import export_model

    atoms = rocksalt(n)
    cfg = {"preset": "small", "dtype": "float32", "pqeq": {"long_range": "pme"}}
    with_d3 = build_model({**cfg, "d3": "pbe"})  # same seed: the same network weights
    network = build_model({**cfg, "d3": None})
    paths = {name: workdir / f"{name}_{n}.pt" for name in ("net", "net_d3")}
    # float32 parity: the random network's forces are small sums of large edge terms, so
    # rounding reaches ~2e-5 of max |F| at 1,000 atoms (the float64 artifact agrees to 1e-14)
    export_model(network, atoms, paths["net"], tolerance=1e-4)
    export_model(with_d3, atoms, paths["net_d3"], tolerance=1e-4)
    row = {"n_atoms": len(atoms), "threads": threads}
    runs = {
        "network": _Run(atoms, paths["net"], False, threads),
        "network_d3": _Run(atoms, paths["net_d3"], False, threads),
        "full": _Run(atoms, paths["net_d3"], True, threads),
        "full_native_d3": _Run(atoms, paths["net"], True, threads, native_d3=with_d3),
    }
    interleaved(runs, warmup, steps)
    for key, run in runs.items():
        row[f"{key}_ms"] = run.median_ms()
        if run.pqeq is not None:
            row[f"{key}_iterations"] = run.median_iterations()
    for key in ("full", "full_native_d3"):
        row[f"{key}_pqeq_d3_fraction"] = (row[f"{key}_ms"] - row["network_ms"]) / row[f"{key}_ms"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4096])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--output", default="benchmarks/results/bench_openmm_model.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{'N':>7}{'thr':>5}{'network':>10}{'+D3':>10}{'+D3+PQEq':>10}{'LR %':>7}"
        f"{'native D3':>11}{'LR %':>7}{'PQEq it':>9}  (ms per MD step)"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            r = bench_size(n, args.threads, args.warmup, args.steps, Path(tmp))
            rows.append(r)
            print(
                f"{r['n_atoms']:>7}{r['threads']:>5}{r['network_ms']:>10.1f}"
                f"{r['network_d3_ms']:>10.1f}{r['full_ms']:>10.1f}"
                f"{100 * r['full_pqeq_d3_fraction']:>7.1f}{r['full_native_d3_ms']:>11.1f}"
                f"{100 * r['full_native_d3_pqeq_d3_fraction']:>7.1f}"
                f"{r['full_native_d3_iterations']:>9.1f}",
                flush=True,
            )
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"torch": torch.__version__, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
