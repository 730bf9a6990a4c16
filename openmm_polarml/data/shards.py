"""Resumable, seeded shard writer for labelled structures.

Work is split into shards; shard ``i`` of a subset is generated from the seed
``(base_seed, subset, i)`` alone, written to ``shard_XXXX.extxyz.gz`` through a temporary
file that is renamed into place, and finished by a ``shard_XXXX.done`` marker holding the
sha256 of the shard file. A rerun skips shards whose marker matches the file; a shard whose
tmp file was left behind (a killed job) is regenerated. ``manifest.json`` records every
shard's hash so a regeneration can be checked bit for bit.

Positions, forces and stress are stored in the extxyz text with a fixed number of digits
(see :func:`write_frames`), so the bytes depend only on the numbers, and gzip is written with
``mtime=0`` so the compressed file is reproducible too.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress

ShardFn = Callable[[np.random.Generator, int], list[Atoms]]


def shard_seed(base_seed: int, subset: str, index: int) -> np.random.SeedSequence:
    """Seed of one shard: independent of how many shards exist or which ran before.

    Parameters
    ----------
    base_seed : int
        Global seed of the build.
    subset : str
        Subset name (its crc32 enters the seed).
    index : int
        Shard index.
    """
    return np.random.SeedSequence([int(base_seed), zlib.crc32(subset.encode()), int(index)])


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fmt(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "T" if value else "F"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.10g}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return '"' + " ".join(_fmt(v) for v in np.asarray(value).ravel()) + '"'
    text = str(value).replace('"', "'")
    return f'"{text}"' if (" " in text or "=" in text or not text) else text


def _labels_outside_calculator(atoms: Atoms) -> Atoms:
    """``atoms`` with an attached calculator's energy, forces, stress and dipole moved into
    ``info``/``arrays`` (a copy; without a calculator ``atoms`` itself), so that writing keeps
    the labels of frames as ase reads them."""
    results = getattr(atoms.calc, "results", None)
    if not results:
        return atoms
    copy = atoms.copy()  # no calculator
    for key in ("energy", "stress", "dipole", "free_energy"):
        if key in results and key not in copy.info:
            copy.info[key] = results[key]
    if "forces" in results and "forces" not in copy.arrays:
        copy.arrays["forces"] = np.asarray(results["forces"], dtype=float)
    return copy


def frames_to_text(frames: Sequence[Atoms]) -> str:
    """Deterministic extended-XYZ text of frames (our own writer, fixed precision).

    Labels of an attached calculator (as ase reads extxyz) are written like labels in
    ``info``/``arrays``. Per-atom arrays: ``species``, ``pos`` (Å, 8 decimals), ``forces``
    (eV/Å, 6 decimals, from ``atoms.arrays['forces']``), and any other float ``(n,)``/``(n, 3)`` arrays
    (6 decimals). Scalars and short vectors in ``atoms.info`` go on the comment line;
    ``energy`` (eV) is written with 10 significant digits, ``stress`` (eV/Å³, ASE sign; a Voigt
    6-vector is written as the full 3×3 matrix that ASE's reader expects). Keys are sorted so the output does not depend on dict order.
    """
    out = io.StringIO()
    for atoms in frames:
        atoms = _labels_outside_calculator(atoms)
        n = len(atoms)
        cols: list[tuple[str, np.ndarray, str]] = [("pos", atoms.positions, "%.8f")]
        props = ["species:S:1", "pos:R:3"]
        extra = sorted(k for k in atoms.arrays if k not in ("numbers", "positions"))
        for key in extra:
            arr = np.asarray(atoms.arrays[key])
            if arr.dtype.kind != "f" or arr.shape[0] != n or arr.ndim > 2:
                continue
            arr = arr.reshape(n, -1)
            cols.append((key, arr, "%.6f"))
            props.append(f"{key}:R:{arr.shape[1]}")
        header = {"Properties": ":".join(props)}
        if atoms.cell.rank > 0 or atoms.pbc.any():
            header["Lattice"] = _fmt(np.asarray(atoms.cell).ravel())
        header["pbc"] = _fmt(atoms.pbc)
        for key in sorted(atoms.info):
            value = atoms.info[key]
            if key == "stress" and np.size(value) == 6:  # ASE reads stress back only as 3×3
                value = voigt_6_to_full_3x3_stress(np.asarray(value, dtype=float))
            header[key] = _fmt(value)
        out.write(f"{n}\n")
        out.write(" ".join(f"{k}={v}" for k, v in header.items()) + "\n")
        symbols = atoms.get_chemical_symbols()
        for i in range(n):
            parts = [symbols[i]]
            for _, arr, fmt in cols:
                parts.extend(fmt % float(v) for v in np.atleast_1d(arr[i]))
            out.write(" ".join(parts) + "\n")
    return out.getvalue()


def write_frames(path: str | os.PathLike, frames: Sequence[Atoms]) -> str:
    """Write frames as gzip'd extxyz atomically; returns the file's sha256.

    The bytes go to ``<path>.tmp``, are flushed and fsynced, and the tmp file is renamed
    onto ``path`` (atomic on POSIX), so a reader never sees a half-written shard.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    data = gzip.compress(frames_to_text(frames).encode(), compresslevel=9, mtime=0)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def read_frames(path: str | os.PathLike) -> list[Atoms]:
    """Read a shard (or any extxyz[.gz]) back as a list of Atoms with ``forces`` arrays."""
    from openmm_polarml.data_io.dataset import read_frames as read_any

    frames = read_any(str(path))  # gzip decompressed in memory (ase's seeks are quadratic)
    for atoms in frames:
        calc = atoms.calc
        if calc is not None:
            for key in ("energy", "stress", "free_energy", "dipole"):
                if key in calc.results:
                    atoms.info.setdefault(key, calc.results[key])
            if "forces" in calc.results:
                atoms.arrays["forces"] = calc.results["forces"]
            atoms.calc = None
    return frames


def shard_done(out: Path, name: str) -> bool:
    """True when ``name``'s done marker exists and matches the shard file's sha256."""
    marker = out / f"{name}.done"
    shard = out / f"{name}.extxyz.gz"
    if not (marker.exists() and shard.exists()):
        return False
    try:
        recorded = json.loads(marker.read_text())["sha256"]
    except (ValueError, KeyError):
        return False
    return recorded == sha256_file(shard)


def run_shards(
    out: str | os.PathLike,
    subset: str,
    n_shards: int,
    shard_fn: ShardFn,
    base_seed: int = 0,
    resume: bool = True,
    progress: bool = True,
    meta: dict | None = None,
    records: dict | None = None,
) -> dict:
    """Generate ``n_shards`` shards of one subset under ``out/subset``, skipping done ones.

    Parameters
    ----------
    out : path
        Root output folder; the subset's shards go to ``out/subset/``.
    subset : str
        Subset name (part of every shard's seed).
    n_shards : int
        Number of shards.
    shard_fn : callable
        ``shard_fn(rng, index) -> list[Atoms]``: labels one shard from its own generator.
    base_seed : int
        Global seed.
    resume : bool
        Skip shards whose done marker matches; False regenerates all.
    progress : bool
        Show a tqdm progress bar.
    meta : dict, optional
        Extra entries recorded in the manifest.
    records : dict, optional
        ``{shard index: label run record}`` that ``shard_fn`` fills; each shard's record is
        written to the manifest with the shard (``labels``), so a killed build keeps them.

    Returns
    -------
    dict
        The manifest (also written to ``out/subset/manifest.json``).
    """
    from tqdm import tqdm

    folder = Path(out) / subset
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest.update({"subset": subset, "base_seed": int(base_seed), "n_shards": int(n_shards)})
    manifest.setdefault("shards", {})
    if meta:
        manifest.setdefault("meta", {}).update(meta)
    bar = tqdm(range(n_shards), desc=subset, disable=not progress, unit="shard")
    for index in bar:
        name = f"shard_{index:04d}"
        if resume and shard_done(folder, name):
            continue
        (folder / f"{name}.done").unlink(missing_ok=True)
        rng = np.random.default_rng(shard_seed(base_seed, subset, index))
        frames = shard_fn(rng, index)
        digest = write_frames(folder / f"{name}.extxyz.gz", frames)
        record = {"sha256": digest, "n_frames": len(frames), "seed": [base_seed, subset, index]}
        (folder / f"{name}.done").write_text(json.dumps(record))
        manifest["shards"][name] = {"sha256": digest, "n_frames": len(frames)}
        if records is not None and index in records:
            manifest["shards"][name]["labels"] = records[index]
        _write_json(manifest_path, manifest)
    _write_json(manifest_path, manifest)
    return manifest


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)
