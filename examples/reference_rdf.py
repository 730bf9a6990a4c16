"""First RDF peaks of the shipped model against its reference method, GFN2-xTB, by the same MD.

The 20 ps stability runs (``stability_runs.py``) compare first peaks with experiment, because
GFN2-xTB molecular dynamics of their periodic boxes is out of reach on a 2-core CPU (tblite:
16 s per force call for 64 waters). Here the model (``gfn2`` head) and GFN2-xTB itself (tblite, in
the label interpreter ``.venv-labels``) run the SAME protocol on the SAME gas-phase droplets:

- ``water24``: 24 waters; ``na_water24``: Na⁺ + 24 waters; ``cl_water24``: Cl⁻ + 24 waters,
  packed by :func:`openmm_polarml.data.molecules.pack` (seeded);
- Langevin NVT (ASE), 300 K, friction 0.01 fs⁻¹, 1 fs, H mass 2 amu, Maxwell–Boltzmann start
  (seeded); a frame every 5 fs; the first 0.5 ps is dropped.

First peaks are the maxima of the pair-distance histogram divided by r² (0.02 Å bins, Gaussian
smoothing σ = 0.04 Å), for O–O, Na–O and Cl–O; the spread is the half-difference between the
two halves of the production frames. Both engines resume from their trajectory files.

Outputs: ``<out>/<system>/{initial.extxyz, model.traj, gfn2.traj}``, ``<out>/reference_rdf.json``,
``<out>/reference_rdf.png``.

The MD: :mod:`openmm_polarml.analysis.droplet_md`; the peaks:
:mod:`openmm_polarml.analysis.droplet_rdf`.

Run: ``python examples/reference_rdf.py [--ps 2.5] [--systems water24,na_water24,cl_water24]
[--out runs/reference_rdf] [--summary-to PATH]``. About 10 min per system on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--systems", default=None, help="default: every droplet")
    p.add_argument("--ps", type=float, default=2.5, help="ps of MD per engine and system")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="one goes to the GFN2-xTB worker")
    p.add_argument("--out", default=str(ROOT / "runs/reference_rdf"))
    p.add_argument("--summary-to", default=None, help="also write the JSON summary here")
    p.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:  # label interpreter (numpy, ase, tblite): GFN2-xTB MD of one droplet
        from ase.io import read

        from openmm_polarml.standalone import bare_subpackage

        bare_subpackage("analysis")
        from openmm_polarml.analysis.droplet_md import gfn2_calculator, run_md

        folder = Path(args.worker)
        charge = int(read(str(folder / "initial.extxyz")).info.get("charge", 0))
        run_md(folder / "initial.extxyz", gfn2_calculator(charge), folder / "gfn2.traj",
               args.steps, args.seed)  # fmt: skip
        return 0
    from openmm_polarml.analysis.droplet_md import SYSTEMS, TIMESTEP_FS, model_record, run_system
    from openmm_polarml.analysis.droplet_rdf import format_peak_table, plot, protocol

    out, steps = Path(args.out), int(round(args.ps * 1000 / TIMESTEP_FS))
    systems = (args.systems or ",".join(SYSTEMS)).split(",")
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        p.error(f"unknown systems {sorted(unknown)}; choose from {sorted(SYSTEMS)}")
    results = {s: run_system(s, out, steps, args.seed, args.threads, __file__) for s in systems}
    print(format_peak_table(results))
    summary = {
        "protocol": protocol(args.ps),
        **model_record(),
        "results": results,
    }
    (out / "reference_rdf.json").write_text(json.dumps(summary, indent=1))
    if args.summary_to:
        Path(args.summary_to).write_text(json.dumps(summary, indent=1))
    plot(results, out / "reference_rdf.png")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
