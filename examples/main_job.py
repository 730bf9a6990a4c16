"""The project's main job (README command 1): MD on the shipped default model.

1. The PQEq demo table (water cluster and NaCl crystal in and out of a field, ``pqeq_demo.py``).
2. MD of a periodic NaF crystal (rocksalt 2x2x2, 64 atoms) with the shipped model
   ``openmm_polarml/models/small_demo`` in OpenMM: the exported network + D3 as a ``TorchForce``
   and the native ``PQEqForce`` with the model's element parameters. Minimise, equilibrate with a
   ``LangevinMiddleIntegrator`` (NVT), then run NVE production with a ``VerletIntegrator`` (both
   in one ``CompoundIntegrator``, so the model is loaded once), writing a DCD trajectory, a PDB
   topology, ``StateDataReporter`` CSVs and the PQEq charges along the run.
3. Analysis with ``openmm_polarml.analysis`` (mdtraj): temperature, total-energy drift, RDF first
   peaks, MSD, charges; a summary table, ``summary.json`` and ``md_analysis.png``.

Why NaF: the demo model (400 small DFT crystals, 79 elements) is far from transferable. A water
box dissociates during minimisation and heats to thousands of K within 0.2 ps; LiF (its energy
minimum at a = 4.10 Å is close to experiment) fuses Li and F within 0.3 ps at 300 K; NaCl keeps
expanding beyond a = 6.2 Å (experiment 5.64 Å), and at 5.64 Å its lattice collapses into Cl-Cl
contacts of 2.8 Å. NaF at the model's own lattice constant (4.45 Å; experiment 4.63 Å) stays
rocksalt at 300 K with a 1 fs step and conserves energy in NVE.

The MD protocol: :mod:`openmm_polarml.openmm.exported_md`; the crystal:
:func:`openmm_polarml.openmm.standard_systems.rocksalt_crystal`.

Run: ``python examples/main_job.py [--out runs/main_job] [--steps 1000] [--skip-demo]``
(about 3 minutes on one CPU core; ``--threads`` sets the CPU platform's and torch's threads).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/main_job", help="output folder (created)")
    p.add_argument("--salt", default="NaF", help="rocksalt crystal (NaF; others need --lattice)")
    p.add_argument("--lattice", type=float, default=None, help="lattice constant (Å)")
    p.add_argument("--repeat", type=int, default=2, help="supercell repetitions (2: 64 atoms)")
    p.add_argument("--steps", type=int, default=1000, help="NVE production steps")
    p.add_argument("--equilibration-steps", type=int, default=500)
    p.add_argument("--min-iterations", type=int, default=200)
    p.add_argument("--dt-fs", type=float, default=1.0, help="time step (fs)")
    p.add_argument("--temperature", type=float, default=300.0, help="K")
    p.add_argument("--friction", type=float, default=10.0, help="Langevin friction (1/ps)")
    p.add_argument("--report-every", type=int, default=10, help="CSV/DCD/charges interval (steps)")
    p.add_argument("--print-every", type=int, default=100, help="stdout interval (steps)")
    p.add_argument("--platform", default="CPU")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-demo", action="store_true", help="skip the PQEq demo table")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    if not args.skip_demo:
        from pqeq_demo import main as pqeq_demo

        pqeq_demo(["--out", str(out / "pqeq_demo")])

    from openmm_polarml.analysis import analyse_md, format_summary
    from openmm_polarml.openmm.exported_md import build_system, export_artifact, run_md
    from openmm_polarml.openmm.standard_systems import rocksalt_crystal

    atoms = rocksalt_crystal(args.salt, args.repeat, args.lattice)
    artifact = out / f"model_{args.salt}.pt"
    t0 = time.perf_counter()
    meta = export_artifact(atoms, artifact)
    r = args.repeat
    print(
        f"\nMD on the shipped model (small_demo): {args.salt} rocksalt {r}x{r}x{r}, "
        f"{len(atoms)} atoms, box {atoms.cell.lengths()[0]:.2f} Å"
    )
    print(
        f"exported {artifact} in {time.perf_counter() - t0:.1f} s, TorchScript ≡ eager: "
        f"|ΔE| {meta['parity']['energy_kj_per_mol']:.1e} kJ/mol"
    )
    system, pqeq = build_system(atoms, artifact)
    md = run_md(atoms, system, pqeq, out, args)

    summary = analyse_md(
        md["dcd"],
        md["pdb"],
        md["csv"],
        charges=md["charges"],
        figure=out / "md_analysis.png",
        equilibration_csv=md["equilibration_csv"],
        frame_interval_ps=args.report_every * args.dt_fs * 1e-3,
    )
    print()
    print(format_summary(summary))
    md["times"]["total_s"] = time.perf_counter() - t_start
    record = {k: v for k, v in summary.items() if k != "curves"}
    record.update(md=md, settings=vars(args))
    (out / "summary.json").write_text(json.dumps(record, indent=2))
    print(
        f"\nwrote {out}/: topology.pdb trajectory.dcd production.csv equilibration.csv "
        f"charges.npz md_analysis.png summary.json"
    )
    print("wall time: " + ", ".join(f"{k} {v:.1f} s" for k, v in md["times"].items()))
    return record


if __name__ == "__main__":
    main(sys.argv[1:])
