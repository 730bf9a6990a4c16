"""``polarml data build``: the reference data set, subset by subset, in resumable shards.

Subsets
-------
dft
    The real PBE labels of :mod:`openmm_polarml.data.sources` (mattersim benchmarks, mlearn,
    demo.traj), exact duplicates removed, split into contiguous shards.
sevenn
    SevenNet-0 labels (head ``pbe``) of perturbed crystals (:mod:`~openmm_polarml.data.structures`):
    seeds are the ``dft`` subset's structures of at most 48 atoms near equilibrium (MPtrj,
    Alexandria, mlearn; not MatterSim's high-T/P set) and textbook prototypes.
xtb
    GFN2-xTB labels (head ``gfn2``) of molecules, clusters, ions, electrolytes, a peptide,
    reactive and finite-field configurations (:mod:`~openmm_polarml.data.molecules`).
xtb_solvated
    GFN2-xTB labels (head ``gfn2``) of alanine dipeptide with its first water shells, cut from
    an MD run of the stage-3 model that broke an amide N–H bond, with stretched N–H / O–H and
    bent N–H (:mod:`~openmm_polarml.data.solvated`); 4 shards at most.
xtb_contacts
    Second active-learning round, the same way: clusters cut from the stage-4 model's run,
    with one water moved rigidly into an H···H or C–H···O contact it was wrong about.
xtb_dimer_contacts
    GFN2-xTB labels (head ``gfn2``) of small-molecule pairs (one often water) with one short
    H···H, H···X or X···X contact (:mod:`~openmm_polarml.data.contacts`); 4 shards at most.
xtb_ion_water
    GFN2-xTB labels (head ``gfn2``) of an ion with one or two waters along their dissociation
    curves, and bare ions (:mod:`~openmm_polarml.data.ion_water`); 4 shards at most.

The teacher subsets run their teacher in the separate label environment
(:mod:`~openmm_polarml.data.teachers`), one subprocess per shard.
"""

from __future__ import annotations

import os
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


SEVENN_PER_SHARD = 700
L3I5_PER_SHARD = 500  # about 7 minutes of SevenNet-l3i5 at one thread
LLZO_PER_SHARD = 40  # 192-atom cells, about 15 s each at one thread
XTB_PER_SHARD = 640
SOLVATED_PER_SHARD = 400
DIMER_CONTACTS_PER_SHARD = 600
ION_WATER_PER_SHARD = 300
#: threads of one label worker (GFN2 of ~100-atom clusters)
LABEL_THREADS = int(os.environ.get("POLARML_LABEL_THREADS", "2"))
PROTOTYPE_FRACTION = 0.2
#: ``source_origin`` values whose structures never seed teacher labels: SevenNet-0 is 0.56 eV/atom
#: and 4.0 eV/Å off real PBE on MatterSim's high-temperature/pressure "Internal" structures
#: (``data/reference/sevenn/teacher_vs_dft.json``), so their perturbations get no teacher label.
TEACHER_EXCLUDED_ORIGINS = frozenset({"Internal"})


def crystal_seeds(out: str | Path, sdist_dir, frames: list | None = None) -> tuple[list, list]:
    """(real structures of the built ``dft`` subset, prototypes), both periodic, ≤ 48 atoms.

    Real structures whose ``source_origin`` is in :data:`TEACHER_EXCLUDED_ORIGINS` are left out
    (the teacher is unreliable there)."""
    from openmm_polarml.data import structures

    folder = Path(out) / "dft"
    markers = sorted(folder.glob("shard_*.done")) if folder.exists() else []
    if frames is not None:
        real = frames
    elif markers:
        real = [a for m in markers for a in _shards.read_frames(m.with_suffix(".extxyz.gz"))]
    else:
        real = dft_frames(sdist_dir)
    real = [
        a
        for a in real
        if len(a) <= structures.MAX_ATOMS
        and a.info.get("source_origin") not in TEACHER_EXCLUDED_ORIGINS
    ]
    return real, structures.prototype_crystals()


def build_sevenn(out, n_shards, sdist_dir, resume=True, progress=True, per_shard=None) -> dict:
    """Write the ``sevenn`` subset (SevenNet-0 labels of perturbed crystals)."""
    from openmm_polarml.data import structures, teachers

    real, prototypes = crystal_seeds(out, sdist_dir)
    per_shard = per_shard or SEVENN_PER_SHARD
    records = {}

    def shard_fn(rng, index):
        n_proto = int(round(PROTOTYPE_FRACTION * per_shard))
        candidates = structures.crystal_candidates(prototypes, n_proto, rng)
        candidates += structures.crystal_candidates(real, per_shard - n_proto, rng)
        frames, records[index] = teachers.label("sevenn", candidates)
        return frames

    meta = {"levels": ["pbe"], "teacher": "sevenn", "per_shard": per_shard}
    manifest = _shards.run_shards(
        out, "sevenn", n_shards, shard_fn, 0, resume, progress, meta, records
    )
    return _record_runs(out, "sevenn", manifest, records)


def build_sevenn_l3i5(out, n_shards, sdist_dir, resume=True, progress=True, per_shard=None):
    """Write the ``sevenn_l3i5`` subset: SevenNet-l3i5 labels of crystals by family and
    chemistry (:mod:`openmm_polarml.data.crystal_families`), the teacher set v2 of the pbe head."""
    from openmm_polarml.data import crystal_families

    real, prototypes = crystal_seeds(out, sdist_dir)

    def candidates(n, rng):
        return crystal_families.family_candidates(real + prototypes, n, rng)

    return _build_teacher_subset(
        out, "sevenn_l3i5", "sevenn-l3i5", n_shards, candidates, per_shard or L3I5_PER_SHARD,
        resume, progress,
    )  # fmt: skip


def build_sevenn_l3i5_llzo(out, n_shards, resume=True, progress=True, per_shard=None) -> dict:
    """Write the ``sevenn_l3i5_llzo`` subset: SevenNet-l3i5 labels of hot, compressed and
    Li-contact LLZO cells (:mod:`openmm_polarml.data.llzo`; active learning for the LLZO study)."""
    from openmm_polarml.data import llzo

    return _build_teacher_subset(
        out, "sevenn_l3i5_llzo", "sevenn-l3i5", n_shards, llzo.llzo_candidates,
        per_shard or LLZO_PER_SHARD, resume, progress,
    )  # fmt: skip


def build_xtb(out, n_shards, resume=True, progress=True, per_shard=None) -> dict:
    """Write the ``xtb`` subset (GFN2-xTB labels of molecules, clusters and boxes)."""
    from openmm_polarml.data import molecules, teachers

    per_shard = per_shard or XTB_PER_SHARD
    records = {}

    def shard_fn(rng, index):
        candidates = molecules.molecule_candidates(per_shard, rng)
        frames, records[index] = teachers.label("gfn2", candidates)
        return frames

    meta = {"levels": ["gfn2"], "teacher": "gfn2", "per_shard": per_shard}
    manifest = _shards.run_shards(
        out, "xtb", n_shards, shard_fn, 0, resume, progress, meta, records
    )
    return _record_runs(out, "xtb", manifest, records)


def build_xtb_solvated(
    out, n_shards, resume=True, progress=True, per_shard=None, subset="xtb_solvated"
) -> dict:
    """Write an active-learning subset of GFN2-xTB labelled solvated alanine-dipeptide clusters
    (:mod:`openmm_polarml.data.solvated`, seeds committed in ``data/sources``): ``xtb_solvated``
    (first round) or ``xtb_contacts`` (second round)."""
    from openmm_polarml.data import solvated, teachers

    seed_file, kinds = {
        "xtb_solvated": (solvated.SEEDS, solvated.KINDS),
        "xtb_contacts": (solvated.CONTACT_SEEDS, solvated.CONTACT_KINDS),
    }[subset]
    seeds = _shards.read_frames(seed_file)
    per_shard = per_shard or SOLVATED_PER_SHARD
    records = {}

    def shard_fn(rng, index):
        candidates = solvated.solvated_candidates(per_shard, rng, seeds, kinds)
        frames, records[index] = teachers.label("gfn2", candidates, threads=LABEL_THREADS)
        return frames

    meta = {"levels": ["gfn2"], "teacher": "gfn2", "per_shard": per_shard, "seeds": len(seeds)}
    manifest = _shards.run_shards(
        out, subset, n_shards, shard_fn, 0, resume, progress, meta, records
    )
    return _record_runs(out, subset, manifest, records)


def _build_teacher_subset(
    out, subset, teacher, n_shards, make_candidates, per_shard, resume, progress
) -> dict:
    """Write a teacher subset whose shard ``k`` labels ``make_candidates(per_shard, rng_k)``
    with ``teacher`` (:data:`~openmm_polarml.data.teachers.TEACHERS`). GFN2-xTB runs on
    :data:`LABEL_THREADS` threads; SevenNet on one (its float32 sums depend on the thread
    count, and one thread keeps a rebuild bit for bit)."""
    from openmm_polarml.data import teachers

    records = {}
    threads = LABEL_THREADS if teacher == "gfn2" else 1

    def shard_fn(rng, index):
        candidates = make_candidates(per_shard, rng)
        frames, records[index] = teachers.label(teacher, candidates, threads=threads)
        return frames

    level = teachers.TEACHERS[teacher]["level"]
    meta = {"levels": [level], "teacher": teacher, "per_shard": per_shard}
    manifest = _shards.run_shards(
        out, subset, n_shards, shard_fn, 0, resume, progress, meta, records
    )
    return _record_runs(out, subset, manifest, records)


def build_xtb_dimer_contacts(out, n_shards, resume=True, progress=True, per_shard=None) -> dict:
    """Write the ``xtb_dimer_contacts`` subset: GFN2-xTB labels of small-molecule pairs with one
    short intermolecular contact (:mod:`openmm_polarml.data.contacts`)."""
    from openmm_polarml.data import contacts

    per_shard = per_shard or DIMER_CONTACTS_PER_SHARD
    return _build_teacher_subset(
        out, "xtb_dimer_contacts", "gfn2", n_shards, contacts.contact_candidates, per_shard,
        resume, progress,
    )  # fmt: skip


def build_xtb_ion_water(out, n_shards, resume=True, progress=True, per_shard=None) -> dict:
    """Write the ``xtb_ion_water`` subset: GFN2-xTB labels of ion–water dissociation curves and
    bare ions (:mod:`openmm_polarml.data.ion_water`)."""
    from openmm_polarml.data import ion_water

    per_shard = per_shard or ION_WATER_PER_SHARD
    return _build_teacher_subset(
        out, "xtb_ion_water", "gfn2", n_shards, ion_water.ion_water_candidates, per_shard,
        resume, progress,
    )  # fmt: skip


def _record_runs(out, subset: str, manifest: dict, records: dict) -> dict:
    """Add the teacher run records (settings, versions, dropped frames, seconds) to the manifest."""
    for index, record in records.items():
        manifest["shards"][f"shard_{index:04d}"]["labels"] = record
    _shards._write_json(Path(out) / subset / "manifest.json", manifest)
    return manifest


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
        elif subset == "sevenn":
            build_sevenn(out, n_shards, sdist_dir, resume, progress)
        elif subset == "sevenn_l3i5":
            build_sevenn_l3i5(out, n_shards, sdist_dir, resume, progress)
        elif subset == "sevenn_l3i5_llzo":
            build_sevenn_l3i5_llzo(out, min(n_shards, 4), resume, progress)
        elif subset == "xtb":
            build_xtb(out, n_shards, resume, progress)
        elif subset in ("xtb_solvated", "xtb_contacts"):
            build_xtb_solvated(out, min(n_shards, 4), resume, progress, subset=subset)
        elif subset == "xtb_dimer_contacts":
            build_xtb_dimer_contacts(out, min(n_shards, 4), resume, progress)
        elif subset == "xtb_ion_water":
            build_xtb_ion_water(out, min(n_shards, 4), resume, progress)
        else:
            raise ValueError(
                f"unknown subset {subset!r} "
                "(dft, sevenn, sevenn_l3i5, sevenn_l3i5_llzo, xtb, xtb_solvated, xtb_contacts, xtb_dimer_contacts, xtb_ion_water)"
            )
    print(format_summary(summarize(out)))
    return 0
