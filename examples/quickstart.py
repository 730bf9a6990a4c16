"""Quickstart (README command 1): NaCl(aq) in OpenMM with the shipped model, then a field on.

1. Builds a periodic box of 1 M NaCl in water with ``openmm.app.Modeller`` (≥ 600 atoms) and a
   System with ``PolarMLPotential().createSystem(topology)`` (network + D3 as PythonForce, PQEq
   charges/shells as the native ``PQEqForce``), minimises it and probes a short NVT run.
2. If the shipped model cannot hold water together (O–H bonds break or the run heats up), says
   so and runs the largest honest system it can instead: a periodic NaF crystal (rocksalt, the
   model's own lattice constant). As soon as the shipped model holds the electrolyte, the probe
   passes and the quickstart runs the electrolyte.
3. NVT (Langevin, 300 K, 1 fs; hydrogens at 2 amu by mass repartitioning, network in float32,
   PQEq by smooth PME) with a progress line and ns/day, writing ``trajectory.dcd``,
   ``topology.pdb`` and ``charges.nc`` (PQEq charges, shells, dipole, polarisation).
4. The same run again with a homogeneous field along z: prints the induced polarisation and
   the field-induced charge shift per element; saves ``rdf.png`` and ``charges.png``.

The systems: :mod:`openmm_polarml.openmm.standard_systems`; the runs:
:mod:`openmm_polarml.openmm.field_md`; the field response:
:mod:`openmm_polarml.analysis.field_response`.

Run: ``python examples/quickstart.py [--out runs/quickstart] [--steps 300] [--field 1.0]``
(a few minutes on a laptop CPU).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/quickstart")
    p.add_argument("--model", default="foundation", help="shipped model name or model file")
    p.add_argument("--head", default=None, help="readout head (default: the model's own)")
    p.add_argument("--box", type=float, default=1.9, help="water box edge (nm); 1.9 -> ~690 atoms")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--probe-steps", type=int, default=10)
    p.add_argument("--min-iterations", type=int, default=100)
    p.add_argument("--report-every", type=int, default=20)
    p.add_argument("--dt-fs", type=float, default=1.0)
    p.add_argument(
        "--hydrogen-mass",
        type=float,
        default=2.0,
        help="hydrogen mass (amu), repartitioned from the bonded heavy atom; 0 keeps 1.008",
    )
    p.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "float64"),
        help="network precision (PQEq and D3 are always double)",
    )
    p.add_argument("--temperature", type=float, default=300.0)
    p.add_argument("--friction", type=float, default=10.0)
    p.add_argument(
        "--field", type=float, default=1.0, help="field of the second run (V/nm, along z)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-electrolyte", action="store_true", help="go straight to the crystal")
    return p.parse_args(argv)


def main(argv=None) -> int:
    import torch

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from openmm_polarml.analysis.field_response import (
        field_response,
        format_field_response,
        plot_field_response,
    )
    from openmm_polarml.openmm import PolarMLPotential
    from openmm_polarml.openmm.field_md import probe_electrolyte, run_field_md
    from openmm_polarml.openmm.standard_systems import naf_crystal

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    potential = PolarMLPotential(args.model, head=args.head, dtype=args.dtype)
    system = None if args.skip_electrolyte else probe_electrolyte(potential, args)
    topology, positions = system if system is not None else naf_crystal()
    print(f"system: {topology.getNumAtoms()} atoms, {topology.getNumResidues()} residues")
    reports, speed = {}, {}
    reports["nofield"], speed["nofield"], end = run_field_md(
        potential, topology, positions, out, args, 0.0, "nofield"
    )
    reports["field"], speed["field"], _ = run_field_md(
        potential, topology, end, out, args, args.field, "field"
    )
    print(format_field_response(field_response(topology, reports), args.field))
    figure = plot_field_response(topology, out, reports, args.field)
    print(f"plots: {figure} (RDFs, charge distributions)")
    print(f"speed: {speed['nofield']:.3f} ns/day (CPU, {args.threads} threads); outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
