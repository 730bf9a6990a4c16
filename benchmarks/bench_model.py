"""Inference and training throughput of the model: ms per energy+forces call versus N.

Prints a table and writes JSON (``benchmarks/results/bench_model.json`` by default).
Columns: preset, dtype, threads, N; network, D3 and PQEq alone (energy + forces, median of
``--repeats`` single points, cold PQEq start); the full model ("total") and the share of
PQEq + D3 in it ("LR %"); then the MD step: PQEq and the full model along the first steps of a
300 K trajectory (1 fs, ballistic), each solve warm-started from the previous steps' charges and
shells as in MD (``PolarMLModel.pqeq_warm_start``; same tolerance), and the PQEq + D3 share of
that step ("LR md %"); plus a random-weight MACE model of matching cutoff and width when
``mace-torch`` imports.

    python benchmarks/bench_model.py                       # quick set (N up to ~3,000)
    python benchmarks/bench_model.py --sizes 216 1728 5832 13824 21952 --presets small seed

mace-torch pins e3nn 0.4.4 (we use 0.6.0), so MACE can run from a separate directory:
``pip install --no-deps --target DIR mace-torch e3nn==0.4.4 ...`` and ``--mace-path DIR``;
MACE is then timed in a subprocess with ``DIR`` first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.build import bulk

from openmm_polarml.data_io import atoms_to_frame, collate
from openmm_polarml.model import build_model


def rocksalt(n_target: int):
    """A rattled NaCl supercell with about ``n_target`` atoms (8 atoms per cubic cell)."""
    reps = max(1, round((n_target / 8) ** (1 / 3)))
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(reps)
    atoms.rattle(0.05, seed=0)
    return atoms


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    best = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(best))


def ballistic_frames(atoms, n_frames: int, temperature: float = 300.0, step_fs: float = 1.0):
    """``n_frames`` copies of ``atoms`` moving with Maxwell–Boltzmann velocities (``temperature``
    K, seeded) for ``step_fs`` fs per frame: the first few steps of an MD trajectory."""
    from ase import units

    rng = np.random.default_rng(0)
    sigma = np.sqrt(units.kB * temperature / atoms.get_masses())[:, None]  # [N, 1] Å per ASE time
    step = sigma * rng.normal(size=(len(atoms), 3)) * step_fs * units.fs  # [N, 3] Å per frame
    frames = []
    for k in range(n_frames):
        frame = atoms.copy()
        frame.positions = atoms.positions + k * step
        frames.append(frame)
    return frames


def _time_md(fn, frames, tdt, warm_up: int = 3) -> float:
    """Median ms of ``fn(data)`` over ``frames`` after ``warm_up`` untimed steps (warm start)."""
    times = []
    for k, frame in enumerate(frames):
        data = collate([atoms_to_frame(frame)], tdt)
        t0 = time.perf_counter()
        fn(data)
        if k >= warm_up:
            times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def bench_ours(preset, dtype, atoms, repeats, pqeq: str | None, d3: str | None, md_steps: int):
    """Cold single points and warm-started MD steps of the model and of its three terms."""
    model = build_model(
        {"preset": preset, "dtype": dtype, "d3": d3, "pqeq": {"long_range": pqeq} if pqeq else None}
    )
    tdt = torch.float32 if dtype == "float32" else torch.float64
    data = collate([atoms_to_frame(atoms)], tdt)

    def run(batch=data, **kw):
        return model(batch, compute_forces=True, **kw)["forces"]

    def pq_only(batch=data):
        pos = batch["positions"].detach().requires_grad_(True)
        e = model.pqeq_energy(pos, batch["cell"], batch, fixed_solution=True)["energy"]
        torch.autograd.grad(e.sum(), pos)

    row = {
        "total_ms": _time(lambda: run(), repeats),
        "network_ms": _time(lambda: run(include_pqeq=False, include_d3=False), repeats),
    }
    if d3:

        def d3_only():
            pos = data["positions"].detach().requires_grad_(True)
            e = model.d3_energies(pos, data["cell"], data, fast=True)
            torch.autograd.grad(e.sum(), pos)

        row["d3_ms"] = _time(d3_only, repeats)
    if pqeq:
        row["pqeq_ms"] = _time(pq_only, repeats)
        frames = ballistic_frames(atoms, md_steps + 3)
        model.pqeq_warm_start = True
        row["pqeq_md_ms"] = _time_md(pq_only, frames, tdt)
        model.warm_start.clear()
        row["total_md_ms"] = _time_md(run, frames, tdt)
        model.pqeq_warm_start = False
    return row


def bench_mace(dtype, atoms, repeats, r_max=6.0, channels=128):
    """Random-weight MACE (``128x0e``, r_max 6 Å) energy + forces, or None if unavailable."""
    try:
        from e3nn import o3
        from mace import modules
        from mace.data import AtomicData, config_from_atoms
        from mace.tools import AtomicNumberTable, torch_geometric
    except Exception:
        return None
    tdt = torch.float32 if dtype == "float32" else torch.float64
    torch.set_default_dtype(tdt)
    try:
        z_table = AtomicNumberTable(sorted(set(atoms.numbers.tolist())))
        model = modules.MACE(
            r_max=r_max,
            num_bessel=8,
            num_polynomial_cutoff=5,
            max_ell=3,
            interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
            interaction_cls_first=modules.interaction_classes[
                "RealAgnosticResidualInteractionBlock"
            ],
            num_interactions=2,
            num_elements=len(z_table),
            hidden_irreps=o3.Irreps(f"{channels}x0e"),
            MLP_irreps=o3.Irreps("16x0e"),
            atomic_energies=np.zeros(len(z_table)),
            avg_num_neighbors=30.0,
            atomic_numbers=z_table.zs,
            correlation=3,
            gate=torch.nn.SiLU(),
        ).to(tdt)
        data = AtomicData.from_config(config_from_atoms(atoms), z_table=z_table, cutoff=r_max)
        batch = next(iter(torch_geometric.dataloader.DataLoader([data], batch_size=1)))
        return _time(lambda: model(batch.to_dict(), training=False, compute_force=True), repeats)
    finally:
        torch.set_default_dtype(torch.float64)


def mace_subprocess(mace_path, dtype, n, repeats, threads):
    """Time MACE in a child process whose ``PYTHONPATH`` starts with ``mace_path``."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([mace_path, os.environ.get("PYTHONPATH", "")]),
        OMP_NUM_THREADS=str(threads),
        # e3nn 0.4.4 (pinned by mace-torch) loads its own constants with old torch.load
        TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1",
    )
    cmd = [
        sys.executable,
        __file__,
        "--mace-only",
        "--sizes",
        str(n),
        "--dtypes",
        dtype,
        "--repeats",
        str(repeats),
        "--threads",
        str(threads),
    ]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in res.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            return json.loads(line)["mace_ms"]
    return None


def bench_training(preset, n_frames=16, batch_size=8):
    """Training throughput (structures/s) of a preset on 64-atom rattled NaCl cells."""
    from openmm_polarml.training.loss import global_counts, loss_terms, total_loss

    model = build_model({"preset": preset, "dtype": "float32"})
    frames = []
    for k in range(n_frames):
        a = rocksalt(64)
        a.rattle(0.05, seed=k)
        f = atoms_to_frame(a)
        frames.append(f)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for start in range(0, n_frames, batch_size):
        batch = collate(frames[start : start + batch_size], torch.float32)
        out = model(batch, compute_forces=True, compute_stress=True, create_graph=True)
        loss = total_loss(
            loss_terms(out, batch, global_counts(batch)), {"energy": 1, "forces": 1, "stress": 1}
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    return n_frames / (time.perf_counter() - t0)


def _fractions(row: dict) -> None:
    """Share of PQEq + D3 in the cold single point and in the warm-started MD step."""
    d3_ms = row.get("d3_ms", 0.0)
    row["pqeq_d3_fraction"] = (row.get("pqeq_ms", 0.0) + d3_ms) / row["total_ms"]
    if "total_md_ms" in row:
        row["pqeq_d3_md_fraction"] = (row["pqeq_md_ms"] + d3_ms) / row["total_md_ms"]


def _format_row(r: dict) -> str:
    nan = float("nan")
    return (
        f"{r['preset']:<8}{r['dtype']:<9}{r['threads']:>4}{r['n_atoms']:>7}"
        f"{r['network_ms']:>9.1f}{r.get('d3_ms', nan):>8.1f}{r.get('pqeq_ms', nan):>9.1f}"
        f"{r['total_ms']:>10.1f}{100 * r['pqeq_d3_fraction']:>6.1f}"
        f"{r.get('pqeq_md_ms', nan):>9.1f}{r.get('total_md_ms', nan):>9.1f}"
        f"{100 * r.get('pqeq_d3_md_fraction', nan):>8.1f}"
        f"{r['mace_ms'] if r['mace_ms'] is not None else nan:>9.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[216, 1000, 2744])
    parser.add_argument("--presets", nargs="+", default=["small", "medium"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pqeq", default="pme", help="PQEq long-range method or 'none'")
    parser.add_argument("--d3", default="pbe", help="D3 functional or 'none'")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--md-steps", type=int, default=5, help="timed warm-started MD steps")
    parser.add_argument("--no-mace", action="store_true")
    parser.add_argument("--mace-path", default=None, help="directory holding mace-torch")
    parser.add_argument("--mace-max-atoms", type=int, default=5000, help="skip MACE above this")
    parser.add_argument("--mace-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--pqeq-max-atoms",
        type=int,
        default=30000,
        help="skip the PQEq term above this size",
    )
    parser.add_argument("--output", default="benchmarks/results/bench_model.json")
    args = parser.parse_args()
    if args.mace_only:
        torch.set_num_threads(args.threads[0])
        ms = bench_mace(args.dtypes[0], rocksalt(args.sizes[0]), args.repeats)
        print(json.dumps({"mace_ms": ms}))
        return
    pqeq = None if args.pqeq == "none" else args.pqeq
    d3 = None if args.d3 == "none" else args.d3
    rows = []
    header = (
        f"{'preset':<8}{'dtype':<9}{'thr':>4}{'N':>7}{'net ms':>9}{'D3 ms':>8}"
        f"{'PQEq ms':>9}{'total ms':>10}{'LR %':>6}{'PQEq md':>9}{'md ms':>9}{'LR md %':>8}"
        f"{'MACE ms':>9}"
    )
    print(header)
    for threads in args.threads:
        torch.set_num_threads(threads)
        for n in args.sizes:
            atoms = rocksalt(n)
            for dtype in args.dtypes:
                if args.no_mace or len(atoms) > args.mace_max_atoms:
                    mace_ms = None
                elif args.mace_path:
                    mace_ms = mace_subprocess(args.mace_path, dtype, n, args.repeats, threads)
                else:
                    mace_ms = bench_mace(dtype, atoms, args.repeats)
                for name in args.presets:
                    use_pqeq = pqeq if len(atoms) <= args.pqeq_max_atoms else None
                    r = bench_ours(name, dtype, atoms, args.repeats, use_pqeq, d3, args.md_steps)
                    r.update(preset=name, dtype=dtype, threads=threads, n_atoms=len(atoms))
                    r["mace_ms"] = mace_ms
                    _fractions(r)
                    rows.append(r)
                    print(_format_row(r), flush=True)
    torch.set_num_threads(1)
    training = {p: bench_training(p) for p in args.presets}
    print(
        "training throughput (64-atom cells, float32, 1 thread): "
        + ", ".join(f"{p} {v:.1f} structures/s" for p, v in training.items())
    )
    result = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "pqeq": pqeq,
        "d3": d3,
        "rows": rows,
        "training_structures_per_s": training,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
