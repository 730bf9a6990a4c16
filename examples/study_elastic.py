"""Study: elastic constants of 13 crystals, the model's ``pbe`` head beside its PBE teacher.

Each crystal's cell is relaxed (ions and cell, ASE ``FrechetCellFilter``; cubic cells
isotropically), then the relaxed-ion elastic tensor is measured by finite strain
(``openmm_polarml.analysis.elastic``: six Voigt strains at ±0.5 % and ±1 %, ions relaxed to
1 meV/Å in each strained cell) — by the model (``pbe`` head, float64) and by SevenNet-0
(sevenn 0.13.0, run in the label interpreter ``.venv-labels``; ``bash tools/label_env.sh``) with
the same script. Room-temperature single-crystal experiments are printed for scale.

The study's logic: :mod:`openmm_polarml.analysis.elastic_study`.

Outputs in ``--out`` (default ``runs/studies/elastic``): ``elastic.json`` (tensors, independent
constants, Voigt–Reuss–Hill moduli, BFGS steps), ``elastic_parity.png`` and the table on stdout.
Each calculator's results are kept per crystal, so a rerun resumes where it stopped.

Run: ``python examples/study_elastic.py [--crystals Al Cu ...] [--skip-teacher]
[--publish docs/studies]`` (about 1 min for the model and 6 min for the teacher on one core).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the crystals (keys of openmm_polarml.analysis.elastic_study.EXPERIMENT_C)
CRYSTALS = ["Al", "Cu", "Fe", "W", "Si", "NaCl", "KCl", "LiF", "MgO", "SrTiO3", "Mg", "ZnO",
            "Mg2SiO4"]  # fmt: skip


def run_teacher(names: list[str], out: Path) -> dict:
    """SevenNet-0's results, from this script in the label interpreter."""
    from openmm_polarml.data.teachers import label_python

    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [str(label_python()), __file__, "--worker", str(out / "sevenn.json"), "--crystals"]
    subprocess.run(cmd + names, env=env, check=True)
    return json.loads((out / "sevenn.json").read_text())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "runs/studies/elastic"))
    p.add_argument("--crystals", nargs="+", default=CRYSTALS, choices=CRYSTALS)
    p.add_argument("--skip-teacher", action="store_true", help="model only")
    p.add_argument(
        "--publish", default=None, help="also copy the JSON and plot here (docs/studies)"
    )
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:  # label interpreter (numpy, ase, sevenn): SevenNet-0
        from sevenn.calculator import SevenNetCalculator

        from openmm_polarml.standalone import bare_subpackage

        bare_subpackage("analysis")
        from openmm_polarml.analysis.elastic_study import run_all

        run_all(args.crystals, SevenNetCalculator("7net-0", device="cpu"), Path(args.worker),
                "SevenNet-0")  # fmt: skip
        return 0
    import torch

    from openmm_polarml.analysis.elastic_study import elastic_summary, parity_plot, run_all, table
    from openmm_polarml.calculators import PolarMLCalculator
    from openmm_polarml.openmm.artifacts import model_fingerprint

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    calc = PolarMLCalculator("foundation", head="pbe", dtype="float64")
    model = run_all(args.crystals, calc, out / "model.json", "model")
    teacher = {} if args.skip_teacher else run_teacher(args.crystals, out)
    print(table(args.crystals, model, teacher))
    summary = elastic_summary(args.crystals, model, teacher, model_fingerprint(calc.model))
    for key, value in summary["comparison"].items():
        print(f"{key:32s} " + "  ".join(f"{k} {v:.1f}" for k, v in value.items()))
    (out / "elastic.json").write_text(json.dumps(summary, indent=1))
    parity_plot(args.crystals, model, teacher, out / "elastic_parity.png")
    if args.publish:
        publish = Path(args.publish)
        publish.mkdir(parents=True, exist_ok=True)
        for name in ("elastic.json", "elastic_parity.png"):
            shutil.copyfile(out / name, publish / name)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
