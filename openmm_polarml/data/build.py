"""``polarml data build``: the reference data set, subset by subset, in resumable shards.

Subsets
-------
dft
    The real PBE labels of :mod:`openmm_polarml.data.sources` (mattersim benchmarks, mlearn,
    demo.traj), exact duplicates removed, split into contiguous shards.
sevenn, xtb
    Teacher labels (SevenNet-0; GFN2-xTB through tblite). Their generators need the separate
    label environment and are not implemented yet: they are reported as skipped.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from openmm_polarml.data import shards as _shards
from openmm_polarml.data import sources

SDISTS = {
    "mattersim": f"mattersim-{sources.MATTERSIM_VERSION}.tar.gz",
    "alignn": f"alignn-{sources.ALIGNN_VERSION}.tar.gz",
}
VERSIONS = {"mattersim": sources.MATTERSIM_VERSION, "alignn": sources.ALIGNN_VERSION}
DEMO_TRAJ = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "reaxnet" / "demo.traj"


def ensure_sdist(name: str, folder: str | Path) -> Path:
    """Path of the pinned sdist of ``name`` in ``folder``, downloaded with pip if missing."""
    folder = Path(folder)
    path = folder / SDISTS[name]
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        cmd += [f"{name}=={VERSIONS[name]}", "-d", str(folder)]
        subprocess.run(cmd, check=True)
    return path


def dft_frames(sdist_dir: str | Path, demo_traj: str | Path | None = DEMO_TRAJ) -> list:
    """All real DFT frames, mattersim then mlearn then demo.traj, duplicates removed."""
    frames = sources.read_mattersim(ensure_sdist("mattersim", sdist_dir))
    frames += sources.read_mlearn(ensure_sdist("alignn", sdist_dir))
    if demo_traj is not None and Path(demo_traj).exists():
        frames += sources.read_demo_traj(demo_traj)
    return sources.dedup(frames)


def build_dft(out, n_shards: int, sdist_dir, resume=True, progress=True, frames=None) -> dict:
    """Write the ``dft`` subset as ``n_shards`` contiguous shards; returns the manifest."""
    frames = dft_frames(sdist_dir) if frames is None else frames
    bounds = [round(i * len(frames) / n_shards) for i in range(n_shards + 1)]

    def shard_fn(rng, index):
        return frames[bounds[index] : bounds[index + 1]]

    meta = {"n_frames_total": len(frames), "levels": ["pbe"], "versions": VERSIONS}
    return _shards.run_shards(out, "dft", n_shards, shard_fn, 0, resume, progress, meta)


def summarize(out: str | Path) -> list[dict]:
    """Rows (subset, shards done, frames, atoms, elements) of what ``out`` holds."""
    rows = []
    for folder in sorted(p for p in Path(out).iterdir() if p.is_dir()):
        done = sorted(folder.glob("shard_*.done"))
        n_frames = n_atoms = 0
        elements: Counter = Counter()
        for marker in done:
            for atoms in _shards.read_frames(marker.with_suffix(".extxyz.gz")):
                n_frames += 1
                n_atoms += len(atoms)
                elements.update(set(atoms.get_chemical_symbols()))
        rows.append(
            {
                "subset": folder.name,
                "shards_done": len(done),
                "frames": n_frames,
                "atoms": n_atoms,
                "elements": len(elements),
            }
        )
    return rows


def format_summary(rows: list[dict]) -> str:
    """Plain-text table of :func:`summarize` rows."""
    head = f"{'subset':<10} {'shards':>7} {'frames':>8} {'atoms':>9} {'elements':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['subset']:<10} {r['shards_done']:>7} {r['frames']:>8} {r['atoms']:>9} "
            f"{r['elements']:>9}"
        )
    return "\n".join(lines)


def build(out, subsets, n_shards=8, resume=True, sdist_dir="runs/sdists", progress=True) -> int:
    """Build the requested subsets under ``out``; prints the summary table. Returns 0."""
    Path(out).mkdir(parents=True, exist_ok=True)
    for subset in subsets:
        if subset == "dft":
            build_dft(out, n_shards, sdist_dir, resume, progress)
        elif subset in ("sevenn", "xtb"):
            print(f"[data] subset {subset!r}: generator not implemented yet, skipped")
        else:
            raise ValueError(f"unknown subset {subset!r} (dft, sevenn, xtb)")
    print(format_summary(summarize(out)))
    return 0
