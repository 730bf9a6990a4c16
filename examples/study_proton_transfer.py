"""Study: proton transfer in the protonated water dimer H₅O₂⁺ at a stretched O–O distance.

Reaction coordinate δ = d(O₁–H*) − d(O₂–H*) for the shared proton H*, with the O–O distance
held at ``--oo`` (2.6 Å by default, where the transfer has a small double-well barrier):

1. relaxed scans E(δ) (all other coordinates minimised at fixed δ and O–O, ASE
   ``FixInternals``, BFGS to 0.01 eV/Å) by the model (``gfn2`` head, total charge +1) and by
   GFN2-xTB itself (tblite 0.8.0 in the label interpreter ``.venv-labels``), from the same start;
2. the model's free-energy profile F(δ) at 300 K from well-tempered metadynamics in OpenMM
   (``openmm.app.Metadynamics``, Langevin 1/ps, 0.5 fs; the O–O distance restrained
   harmonically at the same value), resumable: the bias files and an MD checkpoint live in
   ``--out``, and rerunning continues.

The structure, scans, checks and plot: :mod:`openmm_polarml.analysis.proton_transfer`; the
metadynamics: :mod:`openmm_polarml.openmm.proton_transfer_md`. Barriers come from :func:`openmm_polarml.analysis.free_energy.profile_barrier`. Outputs in
``--out`` (default ``runs/studies/proton_transfer``): ``proton_transfer.json`` and
``proton_transfer.png``; ``--publish DIR`` copies both.

Run: ``python examples/study_proton_transfer.py [--ps 20] [--oo 2.6]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def gfn2_scan(oo: float, out: Path) -> list[float]:
    """GFN2-xTB's relaxed scan, from this script in the label interpreter."""
    from openmm_polarml.data.teachers import label_python

    target = out / "gfn2_scan.json"
    if not target.exists():
        cmd = [str(label_python()), __file__, "--worker", str(target), "--oo", str(oo)]
        subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), check=True)
    return json.loads(target.read_text())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--oo", type=float, default=2.6, help="O–O distance (Å)")
    p.add_argument("--ps", type=float, default=20.0, help="metadynamics length (ps); 0 skips it")
    p.add_argument("--model", default="foundation")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "runs/studies/proton_transfer"))
    p.add_argument("--publish", default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:  # label interpreter (numpy, ase, tblite): GFN2-xTB
        from tblite.ase import TBLite

        from openmm_polarml.standalone import bare_subpackage

        bare_subpackage("analysis")
        from openmm_polarml.analysis.proton_transfer import relaxed_scan

        calc = TBLite(method="GFN2-xTB", charge=1.0, verbosity=0)
        Path(args.worker).write_text(json.dumps(relaxed_scan(calc, args.oo)))
        return 0
    import torch

    from openmm_polarml.analysis.free_energy import profile_barrier
    from openmm_polarml.analysis.proton_transfer import DELTAS_A, plot, relaxed_scan
    from openmm_polarml.calculators import PolarMLCalculator
    from openmm_polarml.openmm.proton_transfer_md import metadynamics
    from openmm_polarml.units import EV_TO_KJ_PER_MOL

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gfn2 = gfn2_scan(args.oo, out)
    structures: list = []
    calc = PolarMLCalculator(args.model, head="gfn2", dtype="float64")
    model = relaxed_scan(calc, args.oo, structures)
    summary = {"oo_A": args.oo, "delta_A": DELTAS_A.tolist(), "gfn2_scan_eV": gfn2,
               "model_scan_eV": model, "model": args.model, "head": "gfn2"}  # fmt: skip
    for key in ("gfn2_scan_eV", "model_scan_eV"):
        e = np.array(summary[key]) * EV_TO_KJ_PER_MOL
        summary[key.replace("_eV", "_barrier_kj_mol")] = profile_barrier(DELTAS_A, e - e.min())
    if args.ps > 0:
        start = structures[int(np.argmin(np.abs(DELTAS_A + 0.4)))]
        start.set_constraint()
        summary["metadynamics"] = md = metadynamics(args, out, start)
    if args.ps > 0 and "failure" in md:
        print(f"[proton transfer] metadynamics failed: {md['failure']}")
    elif args.ps > 0:
        window = np.abs(np.array(md["delta_A"])) <= 0.8
        summary["metadynamics_barrier_kj_mol"] = profile_barrier(
            np.array(md["delta_A"])[window], np.array(md["free_energy_kj_mol"])[window]
        )
    for key in (
        "gfn2_scan_barrier_kj_mol",
        "model_scan_barrier_kj_mol",
        "metadynamics_barrier_kj_mol",
    ):
        if key in summary:
            b = summary[key]
            print(f"{key:30s} forward {b['forward']:6.2f}  reverse {b['reverse']:6.2f} kJ/mol  "
                  f"minima at {b['left_min']:+.2f} / {b['right_min']:+.2f} Å")  # fmt: skip
    (out / "proton_transfer.json").write_text(json.dumps(summary, indent=1))
    plot(summary, out / "proton_transfer.png")
    if args.publish:
        Path(args.publish).mkdir(parents=True, exist_ok=True)
        for name in ("proton_transfer.json", "proton_transfer.png"):
            shutil.copyfile(out / name, Path(args.publish) / name)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
