"""Study: Li⁺ diffusion in cubic Li₇La₃Zr₂O₁₂ (LLZO), D(T) and the Arrhenius activation energy.

The paper runs 1536-atom cells (``../shared/data/reaxnet/LLZO``, 2×2×2 conventional cells) at
800–1800 K for 2 ns. Here, by default, one conventional cell (192 atoms, Li56 La24 Zr16 O96: the
stoichiometric octant of the paper's start structure) is run at the paper's equilibrated density
at each temperature (cell edge = half the edge of the paper's final frame at that T), NVT
Langevin (1/ps), 2 fs, with the ``pbe`` head; ``--cell paper`` runs the paper's 1536-atom start
cell unchanged (a GPU job). Per temperature: minimisation, ``--equil-ps`` of equilibration, then
``--ps`` of production whose Li MSD (centre-of-mass drift removed) gives D with a block error
(5 blocks); D(T) gives Ea with a bootstrap error bar (``openmm_polarml.analysis.statistics``).

Every temperature is a resumable run (``openmm_polarml.openmm.resumable``): rerunning the same
command continues where it stopped. ``--model`` runs another model (e.g. the same network
trained without PQEq) into its own folder.

The cells, diffusion and plot: :mod:`openmm_polarml.analysis.llzo`; the MD:
:mod:`openmm_polarml.openmm.llzo_md`.

Outputs in ``--out`` (default ``runs/studies/llzo``): ``<model>/<T>K/`` trajectories,
``llzo_<model>.json`` (D per T with errors, Ea) and ``llzo_<model>.png`` (MSD and Arrhenius).

Run: ``python examples/study_llzo.py [--temperatures 1200 1400 1600 1800] [--ps 10]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--temperatures", type=int, nargs="+", default=[1200, 1400, 1600, 1800])
    p.add_argument("--ps", type=float, default=10.0, help="production per temperature (ps)")
    p.add_argument("--equil-ps", type=float, default=2.0)
    p.add_argument("--timestep-fs", type=float, default=2.0)
    p.add_argument("--frame-fs", type=float, default=50.0, help="time between stored frames")
    p.add_argument("--cell", choices=("octant", "paper"), default="octant")
    p.add_argument("--model", default="foundation")
    p.add_argument("--platform", default="CPU")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "runs/studies/llzo"))
    return p.parse_args(argv)


def main(argv=None) -> dict:
    import torch

    from openmm_polarml.analysis import arrhenius_fit
    from openmm_polarml.analysis.llzo import EXPERIMENT_EA_EV, li_diffusion, plot
    from openmm_polarml.openmm.llzo_md import run_temperature

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    tag = Path(args.model).stem if args.model.endswith(".pt") else args.model
    out = Path(args.out)
    results = {}
    for t in args.temperatures:
        folder = out / tag / f"{t}K"
        folder.mkdir(parents=True, exist_ok=True)
        progress = run_temperature(t, folder, args)
        results[str(t)] = li_diffusion(folder, args) | {"ns_per_day": progress.get("ns_per_day")}
        print(f"[llzo] {t} K: D(Li) = {results[str(t)]['D_nm2_ps'] * 1e-2:.3e} ± "
              f"{results[str(t)]['D_err_nm2_ps'] * 1e-2:.1e} cm²/s", flush=True)  # fmt: skip
    usable = {t: r for t, r in results.items() if r["D_nm2_ps"] > 0}
    fit = None
    if len(usable) >= 2:
        fit = arrhenius_fit([int(t) for t in usable], [r["D_nm2_ps"] for r in usable.values()],
                            [r["D_err_nm2_ps"] for r in usable.values()])  # fmt: skip
        print(f"[llzo] Ea = {fit['Ea_eV']:.3f} ± {fit['Ea_err_eV']:.3f} eV "
              f"(experiment {EXPERIMENT_EA_EV[0]}–{EXPERIMENT_EA_EV[1]} eV)")  # fmt: skip
    summary = {
        "settings": vars(args), "model": args.model, "head": "pbe",
        "cell": "192-atom conventional cell (octant of the paper's start)"
        if args.cell == "octant" else "the paper's 1536-atom cell",
        "temperatures": results, "arrhenius": fit,
        "experiment_Ea_eV": EXPERIMENT_EA_EV,
    }  # fmt: skip
    (out / f"llzo_{tag}.json").write_text(json.dumps(summary, indent=1))
    plot(results, fit, out / f"llzo_{tag}.png")
    return summary


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
