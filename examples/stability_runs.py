"""Resumable NVT stability runs of the shipped model, with RDF first peaks against references.

Systems: ``water64`` (64 waters, 1.0 g/cm³), ``nacl_aq`` (1 M NaCl(aq), 1.6 nm box), ``kcl_aq`` (2 M KCl(aq), 1.6 nm box),
``alanine_dipeptide_aq`` (ACE-ALA-NME in a 1.6 nm water box), ``nacl_crystal`` (rocksalt 2x2x2,
a = 5.64 Å) and ``baTiO3`` (cubic perovskite 3x3x3, a = 4.00 Å). Liquid boxes come from
``openmm.app.Modeller``, relaxed with AMBER14/TIP3P (Modeller leaves ~1.3 Å O–H contacts at the
periodic seams). ``PolarMLPotential(model, head).createSystem(topology)``, a short minimisation,
then Langevin NVT at 300 K (1/ps) up to ``--ps``: 1 fs with hydrogens at 2 amu (mass repartitioned from
the bonded heavy atom; 0.5 fs with ``--hydrogen-mass 0``), 2 fs without H; the network in float32
(``--dtype``); PQEq's lattice sum by smooth PME (``--pqeq-method``; runs recorded without the
setting used explicit-k Ewald, the same sum to the same error tolerance). Every report
writes ``trajectory.dcd`` and ``state.csv``, checks the structure and saves ``checkpoint.chk``
atomically; re-running the same command continues from the checkpoint.

Integrity checks (:mod:`openmm_polarml.analysis.integrity`; a system stops at the first
failure; its step and reason are recorded):

- no bond broken: every Topology bond shorter than 1.3x its initial length (water O–H: 0.13 nm);
- no atoms fused: every pair that is not 1-2 or 1-3 bonded farther apart (minimum image) than
  0.6x the sum of the covalent radii (``ase.data.covalent_radii``);
- no H···H contact: hydrogens that are not 1-2 or 1-3 bonded at least 1.3 Å apart;
- temperature below 1000 K and a finite potential energy.

``--analyse-only --recheck`` replays a stored trajectory through these checks and records the
first failing frame (for runs made before a criterion existed).

At the end, RDF first peaks (first 20 % of the frames dropped) are compared with
:data:`~openmm_polarml.analysis.stability.REFERENCE_PEAKS`. These are EXPERIMENTAL / STRUCTURAL references (X-ray and neutron
scattering of the liquids, experimental lattice constants of the crystals), NOT RDFs from GFN2
or PBE molecular dynamics. In the fixed NVT cells the crystal peaks mostly check that the lattice
neither melts nor reconstructs.

Outputs: ``<out>/<system>/`` (``topology.pdb``, ``initial.npy``, ``trajectory.dcd``,
``state.csv``, ``checkpoint.chk``, ``progress.json``, ``rdf.npz``, ``failure.pdb`` on failure),
``<out>/summary.json`` and ``<out>/rdfs.png``.

The runs: :mod:`openmm_polarml.openmm.stability`; the systems:
:mod:`openmm_polarml.openmm.standard_systems`; RDFs, references and the summary:
:mod:`openmm_polarml.analysis.stability`.

Run: ``python examples/stability_runs.py [--systems water64,nacl_crystal] [--ps 20]
[--model foundation] [--threads 1] [--out runs/stability] [--summary-to PATH] [--fresh]``.
"""

from __future__ import annotations

import argparse

import torch

from openmm_polarml.analysis.stability import format_stability_table
from openmm_polarml.openmm.stability import SYSTEMS, StabilitySettings, run_stability


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated system names")
    p.add_argument("--ps", type=float, default=20.0, help="target simulated time (ps)")
    p.add_argument("--model", default="foundation", help="shipped model name or model file")
    p.add_argument("--head", default=None, help="head (default: gfn2 liquids, pbe crystals)")
    p.add_argument("--backend", default="python", choices=("python", "torch"))
    p.add_argument(
        "--dt-fs", type=float, default=None,
        help="time step (fs); default 1 with H (0.5 with --hydrogen-mass 0), 2 without",
    )  # fmt: skip
    p.add_argument(
        "--hydrogen-mass", type=float, default=2.0,
        help="hydrogen mass (amu) by repartitioning from the bonded heavy atom; 0 keeps 1.008",
    )  # fmt: skip
    p.add_argument(
        "--dtype", default="float32", choices=("float32", "float64"),
        help="network precision in MD (PQEq and D3 are always double)",
    )  # fmt: skip
    p.add_argument(
        "--pqeq-method", default="pme", choices=("pme", "ewald"),
        help="PQEq lattice sum of periodic systems: smooth PME (default; 3x faster than explicit "
        "k-vectors at 379 atoms) or Ewald; both to the same error tolerance",
    )  # fmt: skip
    p.add_argument("--report-fs", type=float, default=25.0, help="report/check interval (fs)")
    p.add_argument("--report-every", type=int, default=None, help="report interval (steps)")
    p.add_argument("--min-iterations", type=int, default=50, help="minimiser iterations")
    p.add_argument("--threads", type=int, default=1, help="OpenMM CPU and torch threads")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="runs/stability")
    p.add_argument("--fresh", action="store_true", help="discard earlier runs of these systems")
    p.add_argument(
        "--analyse-only", action="store_true",
        help="no new steps: analyse what is on disk (RDFs of a stopped run) and summarise",
    )  # fmt: skip
    p.add_argument(
        "--recheck", action="store_true",
        help="replay each stored trajectory through the integrity checks first (a criterion "
        "added after the run); the first failing frame is recorded",
    )  # fmt: skip
    p.add_argument("--summary-to", default=None, help="also copy summary.json here")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    """Run (or continue) the systems of ``argv``; returns the summary (also ``summary.json``)."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    names = tuple(n.strip() for n in args.systems.split(",") if n.strip())
    settings = StabilitySettings(**{**vars(args), "systems": names})
    summary = run_stability(settings)
    print(format_stability_table(summary))
    return summary


if __name__ == "__main__":
    main()
