"""Two-body D3(BJ) on CPU: the torch module (vesin neighbour list) against the native kernel.

Rattled rock-salt NaCl supercells (a = 5.64 Å, 0.05 Å rattle) of 1,000 / 2,744 / 5,832 atoms,
PBE D3(BJ) with a 12 Å pair cutoff and a 10 Å CN cutoff, float32, energy plus backward (forces
and cell gradient), 2 threads; median of 3 runs after one warm-up. Prints a table of the times (ms)
and the speed-up. Needs ``tad-dftd3`` (the D3 tables) and the compiled kernel.

    python benchmarks/bench_d3.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from ase.build import bulk

from openmm_polarml.data_io import atoms_to_frame, collate
from openmm_polarml.data_io import keys as K
from openmm_polarml.model.d3 import D3BJ, load_d3_tables, native_available


def nacl(repeat: int):
    """Rattled NaCl supercell of 8·repeat³ atoms."""
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(repeat)
    atoms.rattle(0.05, seed=0)
    return atoms


def step_ms(fn, data: dict, repeats: int) -> float:
    """Median wall time (ms) of energy + backward w.r.t. positions and cell."""
    times = []
    for k in range(repeats + 1):
        pos = data[K.POSITIONS].clone().requires_grad_(True)  # [N, 3]
        cell = data[K.CELL].clone().requires_grad_(True)  # [1, 3, 3]
        t0 = time.perf_counter()
        energy = fn(pos, data[K.NUMBERS], cell, data[K.PBC], data[K.BATCH], data[K.PTR]).sum()
        torch.autograd.grad(energy, [pos, cell])
        if k > 0:  # the first run is the warm-up
            times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    if not native_available():
        raise SystemExit("the native D3 kernel is not built (pip install -e .)")
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=12.0, cn_cutoff=10.0).float()
    print(f"D3(BJ) energy + forces, float32, {opts.threads} threads, median of {opts.repeats}")
    print(f"{'N':>6} {'torch ms':>10} {'native ms':>10} {'speed-up':>9}")
    for repeat in (5, 7, 9):
        data = collate([atoms_to_frame(nacl(repeat))], dtype=torch.float32)
        t_torch = step_ms(d3, data, opts.repeats)
        t_native = step_ms(d3.native_energies, data, opts.repeats)
        n = data[K.POSITIONS].shape[0]
        print(f"{n:>6} {t_torch:>10.1f} {t_native:>10.1f} {t_torch / t_native:>8.1f}x")


if __name__ == "__main__":
    main()
