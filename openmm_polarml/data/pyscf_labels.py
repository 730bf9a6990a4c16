"""A small PySCF PBE data set of water and water/ion clusters for the fine-tuning demo.

Seeded geometries ((H2O)2–(H2O)5; Na⁺, Li⁺, K⁺, Cl⁻, F⁻ with 2–4 waters) are packed with
:func:`openmm_polarml.data.molecules.pack`, rattled, and labelled by :mod:`pyscf_worker` in the
label interpreter (``.venv-labels``, with pyscf installed by ``bash tools/label_env.sh``).

    .venv/bin/python -m openmm_polarml.data.pyscf_labels \
        --out data/finetune/pyscf_water_ions.extxyz.gz

Every frame carries ``level='pbe'`` (it routes to the model's PBE head), ``label_method``,
``label_code`` (package versions), ``label_kind='dft'``, ``license``, ``generator`` and
``charge`` (e); energy in eV, forces in eV/Å, dipole (e·Å, neutral frames only).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms

from openmm_polarml.data.molecules import WATER, pack
from openmm_polarml.data.shards import write_frames
from openmm_polarml.data.teachers import run_label_script

WORKER = Path(__file__).with_name("pyscf_worker.py")
IONS = {"Na": 1, "Li": 1, "K": 1, "Cl": -1, "F": -1}
LICENSE = "CC-BY-4.0"


def cluster_specs(n_water_clusters: int = 20, ion_waters: tuple = (2, 3, 4, 3)) -> list:
    """``(ion or None, charge, number of waters)`` of every cluster, in order.

    ``n_water_clusters`` neutral clusters cycle through 2–5 waters; every ion of :data:`IONS`
    gets one cluster per entry of ``ion_waters``.
    """
    specs = [(None, 0, 2 + k % 4) for k in range(n_water_clusters)]
    specs += [(ion, charge, n) for ion, charge in IONS.items() for n in ion_waters]
    return specs


def make_clusters(specs: list, seed: int = 2024, rattle: float = 0.05) -> list[Atoms]:
    """Packed, rattled clusters (Å, centred on the origin) for ``specs`` (see
    :func:`cluster_specs`), reproducible from ``seed``.

    Waters are placed in a sphere of about 30 Å³ per molecule (radius at least 2.6 Å), the ion
    (if any) at its centre; every atom is then displaced by a Gaussian of ``rattle`` Å.
    """
    rng = np.random.default_rng(seed)
    out = []
    for ion, charge, n in specs:
        molecules = ([Atoms(ion)] if ion else []) + [WATER] * n
        radius = max(2.6, (3 * 30.0 * n / (4 * np.pi)) ** (1 / 3))
        atoms = None
        while atoms is None:
            atoms = pack(molecules, rng, radius=radius)
        atoms.positions += rng.normal(0.0, rattle, size=atoms.positions.shape)
        atoms.positions -= atoms.positions.mean(axis=0)
        atoms.positions = np.round(atoms.positions, 8)
        name = f"{ion}+{n}H2O" if ion else f"(H2O){n}"
        atoms.info = {"charge": int(charge), "generator": f"pack({name},seed={seed})"}
        out.append(atoms)
    return out


def run_pyscf(candidates: list[Atoms], xc: str, basis: str, threads: int = 1) -> dict:
    """Raw worker output (``results``, ``settings``, ``versions``, ``seconds``)."""
    args = ("{in}", "{out}", "--xc", xc, "--basis", basis)
    return run_label_script(WORKER, candidates, args, threads)


def labelled(candidates: list[Atoms], output: dict) -> list[Atoms]:
    """Candidates with the worker's labels and provenance; failed frames are left out."""
    s = output["settings"]
    method = f"{s['xc']}/{s['basis']} (PySCF {output['versions']['pyscf']}, density fitting)"
    code = " ".join(f"{k}={v}" for k, v in sorted(output["versions"].items()))
    frames = []
    for result in output["results"]:
        if not result["ok"]:
            print(f"[pyscf] frame {result['input']} dropped: {result['error']}", file=sys.stderr)
            continue
        seed = candidates[result["input"]]
        atoms = Atoms(seed.numbers, positions=seed.positions)
        atoms.arrays["forces"] = np.asarray(result["forces"], dtype=np.float64)
        atoms.info = dict(seed.info)
        atoms.info.update(
            energy=float(result["energy"]),
            level="pbe",
            label_method=method,
            label_code=code,
            label_kind="dft",
            license=LICENSE,
        )
        if int(seed.info["charge"]) == 0:
            atoms.info["dipole"] = np.asarray(result["dipole"], dtype=np.float64)
        frames.append(atoms)
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PySCF PBE water/ion cluster set")
    parser.add_argument("--out", default="data/finetune/pyscf_water_ions.extxyz.gz")
    parser.add_argument("--xc", default="PBE")
    parser.add_argument("--basis", default="def2-SVP")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--n-water", type=int, default=20, help="neutral (H2O)n clusters")
    parser.add_argument("--limit", type=int, default=None, help="label only the first N")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    candidates = make_clusters(cluster_specs(args.n_water), args.seed)[: args.limit]
    start = time.perf_counter()
    output = run_pyscf(candidates, args.xc, args.basis, args.threads)
    wall = time.perf_counter() - start
    frames = labelled(candidates, output)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    digest = write_frames(args.out, frames)
    per = [r["seconds"] for r in output["results"] if r["ok"]]
    print(
        f"[pyscf] {len(frames)}/{len(candidates)} frames -> {args.out} (sha256 {digest[:12]}); "
        f"wall {wall:.1f} s, worker {output['seconds']:.1f} s, "
        f"{np.mean(per):.1f} s per structure (min {min(per):.1f}, max {max(per):.1f}); "
        f"versions {output['versions']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
