"""Cost of the network's charge-state input in OpenMM: the same network with and without it.

Both models are built into Systems for one 1 M NaCl(aq) box (``Modeller``, about ``--size``
atoms; ``fragments='molecules'``, so Na⁺/Cl⁻ carry q⁰ = ±1), PythonForce backend, CPU platform.
Rows are timed in turn, one evaluation each per round (load changes hit them alike): the network
force group alone and the full energy + forces (network + PQEq + D3), median ms over ``--rounds``.

    python benchmarks/bench_charge_input.py --with runs/charge_model/molecules_split_qin/best.pt \\
        --without campaigns/foundation_v3/run/best.pt [--size 650] [--threads 1] [--rounds 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_openmm_nsday import build_box  # noqa: E402


def context_for(model_path: str, topology, positions, threads: int):
    """A CPU-platform Context of the model's System at ``positions`` (nm)."""
    import openmm

    from openmm_polarml.model.serialization import load_model
    from openmm_polarml.openmm import PolarMLPotential

    model = load_model(model_path, dtype="float32", head="gfn2")
    system = PolarMLPotential(model).createSystem(
        topology, backend="python", pqeqMethod="pme", positions=positions
    )
    platform = openmm.Platform.getPlatformByName("CPU")
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.0005), platform, {"Threads": str(threads)}
    )
    ctx.setPositions(positions)
    return ctx, bool(model.shortrange.network.charge_input)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with", dest="with_input", required=True, help="model with the input")
    parser.add_argument("--without", required=True, help="the same network without it")
    parser.add_argument("--size", type=int, default=650)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    import torch

    from openmm_polarml.openmm import FORCE_GROUPS

    torch.set_num_threads(args.threads)
    pdb = Path(tempfile.mkdtemp()) / "box.pdb"
    topology, positions = build_box(args.size, 1.0, pdb)
    rows = {}
    for label, path in (("without", args.without), ("with", args.with_input)):
        rows[label] = context_for(path, topology, positions, args.threads)
    groups = {"network": {FORCE_GROUPS["network"]}, "full": -1}
    times = {(label, g): [] for label in rows for g in groups}
    for round_ in range(args.rounds + 1):  # round 0 warms up
        for label, (ctx, _) in rows.items():
            for g, mask in groups.items():
                start = time.perf_counter()
                ctx.getState(getEnergy=True, getForces=True, groups=mask)
                if round_:
                    times[(label, g)].append(1e3 * (time.perf_counter() - start))
    print(f"{topology.getNumAtoms()} atoms, {args.threads} thread(s), CPU platform, "
          f"median of {args.rounds} rounds")  # fmt: skip
    print("| model | charge input | network (ms) | full E+F (ms) |")
    print("|---|---|---:|---:|")
    for label, (_, has_input) in rows.items():
        net = np.median(times[(label, "network")])
        full = np.median(times[(label, "full")])
        print(f"| {label} | {has_input} | {net:.0f} | {full:.0f} |")


if __name__ == "__main__":
    main()
