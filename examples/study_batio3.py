"""Study: BaTiO₃ phase transitions on heating (the paper's Table 2), NPT with the ``pbe`` head.

A cubic supercell (``--repeat`` cells per edge; the paper uses 10, here 4 by default: 320 atoms)
is heated through ``--temperatures`` (default 50–450 K in 50 K steps), each temperature starting
from the previous one's final state: anisotropic Monte Carlo barostat at 1 bar, Langevin 2/ps,
``--equil-ps`` of equilibration then ``--ps`` of production per temperature. The polarisation of
each frame is (e/V) Σ Z*_i Δr_i with the DFPT Born charges of cubic BaTiO₃ (the model's own Born
charges are not physical yet: ``docs/studies.md`` part 0) and the displacements from the ideal
cubic sites; its sorted absolute components give the phase (C, T, O, R) and the phase changes
give the transition temperatures, beside the paper (145/205/285 K) and experiment (183/278/403 K).

Every temperature is a resumable run (:mod:`openmm_polarml.openmm.resumable`): rerunning the
same command continues where it stopped. Analysis: :mod:`openmm_polarml.analysis.ferroelectric`;
MD: :mod:`openmm_polarml.openmm.batio3_md`.

Outputs in ``--out`` (default ``runs/studies/batio3``): ``<T>K/`` trajectories,
``batio3.json`` and ``batio3.png`` (cell edges and polarisation against T).

Run: ``python examples/study_batio3.py [--repeat 4] [--ps 10] [--temperatures 50 100 ...]
[--publish docs/studies]``
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--temperatures", type=float, nargs="+", default=list(range(50, 451, 50)))
    p.add_argument("--repeat", type=int, default=4, help="cubic cells per supercell edge")
    p.add_argument("--ps", type=float, default=10.0, help="production per temperature (ps)")
    p.add_argument("--equil-ps", type=float, default=2.0)
    p.add_argument("--timestep-fs", type=float, default=2.0)
    p.add_argument("--frame-fs", type=float, default=100.0)
    p.add_argument("--pressure-bar", type=float, default=1.0)
    p.add_argument("--model", default="foundation")
    p.add_argument("--platform", default="CPU")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "runs" / "studies" / "batio3"))
    p.add_argument("--publish", default=None, help="copy JSON + plot into this folder")
    return p.parse_args(argv)


def main(argv=None) -> None:
    import torch

    from openmm_polarml.analysis.batio3_study import analyse_temperature, plot, summarise
    from openmm_polarml.openmm.batio3_md import cubic_supercell, final_state, run_temperature

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    ideal, state = cubic_supercell(args.repeat, args.seed)
    rows = []
    for temperature in args.temperatures:
        folder = out / f"{temperature:g}K"
        progress = run_temperature(temperature, folder, state, args)
        state = final_state(folder)
        row = analyse_temperature(folder, ideal, args)
        row.update(
            temperature_K=temperature, simulated_ps=progress["steps"] * args.timestep_fs * 1e-3
        )
        rows.append(row)
        print(f"[batio3] {temperature:g} K: phase {row['phase']}, sorted |P| "
              f"{[round(x, 3) for x in row['polarization_sorted_C_m2']]} C/m2, edges "
              f"{[round(x, 3) for x in row['cell_edges_sorted_A']]} A", flush=True)  # fmt: skip
    summary = summarise(rows, args)
    (out / "batio3.json").write_text(json.dumps(summary, indent=1))
    plot(summary, out / "batio3.png")
    print(f"[batio3] transitions {summary['transitions_K']} (paper {summary['paper_K']}, "
          f"experiment {summary['experiment_K']})")  # fmt: skip
    if args.publish:
        for name in ("batio3.json", "batio3.png"):
            shutil.copy(out / name, Path(args.publish) / name)


if __name__ == "__main__":
    main()
