"""ASE molecular dynamics with the shipped model through ``PolarMLCalculator``.

NVT (Langevin, 300 K, 1 fs) of a periodic NaF rocksalt crystal (64 atoms at the model's lattice
constant, 4.45 Å) with network + PQEq + D3 evaluated in PyTorch. Each step's charge/shell solve
starts from the previous steps' solutions, extrapolated (``warm_start=True``); the solver
iterations per step show the effect. Prints a table every ``--every`` steps and saves
``ase_md.png`` (temperature, potential energy, solver iterations, mean Na charge).

    python examples/ase_md_calculator.py [--steps 200] [--out runs/ase_md] [--threads 1]

About a minute on one laptop core for 200 steps.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def _plot(log: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True)
    t = np.asarray(log["time_fs"])
    panels = [
        ("temperature_K", "temperature (K)"),
        ("potential_eV", "potential energy (eV)"),
        ("iterations", "PQEq solver iterations"),
        ("na_charge", "mean Na charge (e)"),
    ]
    for ax, (key, label) in zip(axes.flat, panels, strict=True):
        ax.plot(t, log[key], lw=1)
        ax.set_ylabel(label)
    for ax in axes[1]:
        ax.set_xlabel("time (fs)")
    fig.suptitle("NaF 64 atoms, shipped model, ASE Langevin 300 K")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=20, help="print every N steps")
    parser.add_argument("--out", default="runs/ase_md")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from ase import units
    from ase.build import bulk
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import thermalize_momenta

    from openmm_polarml.calculators import PolarMLCalculator

    atoms = bulk("NaF", "rocksalt", a=4.45, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=2)
    atoms.calc = PolarMLCalculator("small_demo")
    atoms.set_constraint(FixCom())
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dyn = Langevin(
        atoms,
        1.0 * units.fs,
        temperature_K=300,
        friction=0.02 / units.fs,  # 1/(50 fs)
        fixcm=False,
        rng=np.random.default_rng(1),
    )
    log = {k: [] for k in ("time_fs", "temperature_K", "potential_eV", "iterations", "na_charge")}
    na = atoms.numbers == 11
    print(
        f"{'step':>6}{'T (K)':>9}{'E_pot (eV)':>14}{'iterations':>12}{'q_Na (e)':>10}{'ms/step':>9}"
    )
    clock = time.perf_counter()

    def record():
        log["time_fs"].append(dyn.get_number_of_steps() * 1.0)
        log["temperature_K"].append(float(atoms.get_temperature()))
        log["potential_eV"].append(float(atoms.get_potential_energy()))
        log["iterations"].append(int(atoms.calc.results["pqeq_iterations"]))
        log["na_charge"].append(float(atoms.get_charges()[na].mean()))

    def report():
        nonlocal clock
        step = dyn.get_number_of_steps()
        ms = 1e3 * (time.perf_counter() - clock) / max(1, args.every)
        clock = time.perf_counter()
        print(
            f"{step:>6}{log['temperature_K'][-1]:>9.1f}{log['potential_eV'][-1]:>14.4f}"
            f"{log['iterations'][-1]:>12}{log['na_charge'][-1]:>10.3f}{ms:>9.1f}",
            flush=True,
        )

    dyn.attach(record, interval=1)
    dyn.attach(report, interval=args.every)
    dyn.run(args.steps)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ase_md.json").write_text(json.dumps(log))
    _plot(log, out / "ase_md.png")
    late = log["iterations"][len(log["iterations"]) // 2 :]
    print(f"median solver iterations over the second half: {np.median(late):.0f}")
    print(f"wrote {out / 'ase_md.json'} and {out / 'ase_md.png'}")


if __name__ == "__main__":
    main()
