"""Equilibrium lattice constants of the model's ``pbe`` head against its PBE teacher, SevenNet-0.

The crystal stability runs (``stability_runs.py``) hold the cell at the experimental lattice
constant, so their RDF first peaks measure the cell, not the method. Here the cubic cells of ten
crystals are relaxed (atoms and isotropic volume: ASE ``FrechetCellFilter`` with
``hydrostatic_strain``, BFGS to 1 meV/Å) by the model (``pbe`` head, float64) and by SevenNet-0
(sevenn 0.13.0, trained on PBE/PBE+U Materials Project relaxations; run in the label interpreter
``.venv-labels``), from the same start. Experimental room-temperature values are printed for scale.

The cells and the relaxation: :mod:`openmm_polarml.analysis.lattice`.

Outputs: ``<out>/lattice_constants.json`` and the table on stdout.

Run: ``python examples/lattice_constants.py [--out runs/lattice] [--summary-to PATH]``
(about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_teacher(out: Path) -> dict:
    """SevenNet-0's lattice constants, from this script in the label interpreter."""
    from openmm_polarml.data.teachers import label_python

    target = out / "sevenn.json"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([str(label_python()), __file__, "--worker", str(target)], env=env, check=True)
    return json.loads(target.read_text())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "runs/lattice"))
    p.add_argument("--summary-to", default=None, help="also write the JSON summary here")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:  # label interpreter (numpy, ase, sevenn): SevenNet-0
        from openmm_polarml.standalone import bare_subpackage

        bare_subpackage("analysis")
        from openmm_polarml.analysis.lattice import (
            EXPERIMENT_A,
            crystal,
            relaxed_lattice_constant,
            sevenn_calculator,
        )

        calc = sevenn_calculator()
        result = {name: relaxed_lattice_constant(crystal(name), calc) for name in EXPERIMENT_A}
        Path(args.worker).write_text(json.dumps(result))
        return 0
    import torch

    from openmm_polarml.analysis.lattice import (
        EXPERIMENT_A,
        crystal,
        lattice_summary,
        model_calculator,
        relaxed_lattice_constant,
    )

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    teacher = run_teacher(out)
    calc = model_calculator()
    rows = {}
    print(
        f"{'crystal':8s} {'SevenNet-0/A':>12s} {'model/A':>8s} {'model-7net':>10s} {'expt/A':>7s}"
    )
    for name, a_exp in EXPERIMENT_A.items():
        a_model = relaxed_lattice_constant(crystal(name), calc)
        rows[name] = {"teacher_A": teacher[name], "model_A": a_model, "experiment_A": a_exp}
        rel = 100 * (a_model / teacher[name] - 1)
        print(f"{name:8s} {teacher[name]:12.3f} {a_model:8.3f} {rel:+9.2f}% {a_exp:7.3f}")
    summary = lattice_summary(rows, calc.model)
    (out / "lattice_constants.json").write_text(json.dumps(summary, indent=1))
    if args.summary_to:
        Path(args.summary_to).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
