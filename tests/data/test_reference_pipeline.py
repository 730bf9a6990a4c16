"""Shard pipeline on a tiny seeded synthetic subset: resume, bit-for-bit reruns, manifest hashes."""

import json

import numpy as np
import pytest
from ase.build import bulk

from openmm_polarml.data import read_frames, run_shards, sha256_file
from openmm_polarml.data.sources import dedup


def _shard_fn(rng, index):
    frames = []
    for k in range(3):
        atoms = bulk("NaCl", "rocksalt", a=5.64)
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        atoms.arrays["forces"] = rng.normal(size=(len(atoms), 3))
        atoms.info.update(energy=float(rng.normal()), level="pbe", source_index=3 * index + k)
        frames.append(atoms)
    return frames


def test_resume_identical_and_hashes(tmp_path):
    calls = []

    def counted(rng, index):
        calls.append(index)
        return _shard_fn(rng, index)

    m1 = run_shards(tmp_path / "a", "toy", 3, counted, 7, progress=False)
    assert calls == [0, 1, 2]
    run_shards(tmp_path / "a", "toy", 3, counted, 7, resume=True, progress=False)
    assert calls == [0, 1, 2]  # done shards skipped
    m2 = run_shards(tmp_path / "b", "toy", 3, _shard_fn, 7, progress=False)
    assert m1["shards"] == m2["shards"]
    for name, rec in m1["shards"].items():
        a = tmp_path / "a" / "toy" / f"{name}.extxyz.gz"
        b = tmp_path / "b" / "toy" / f"{name}.extxyz.gz"
        assert a.read_bytes() == b.read_bytes()
        assert sha256_file(a) == rec["sha256"]
        done = json.loads((tmp_path / "a" / "toy" / f"{name}.done").read_text())
        assert done["sha256"] == rec["sha256"]
    frames = [
        f
        for i in range(3)
        for f in read_frames(tmp_path / "a" / "toy" / f"shard_{i:04d}.extxyz.gz")
    ]
    assert len(frames) == 9
    assert set(frames[0].get_chemical_symbols()) == {"Na", "Cl"}
    assert np.allclose(frames[0].arrays["forces"].shape, (2, 3))


def test_corrupt_shard_is_regenerated(tmp_path):
    run_shards(tmp_path, "toy", 2, _shard_fn, 0, progress=False)
    shard = tmp_path / "toy" / "shard_0001.extxyz.gz"
    good = shard.read_bytes()
    shard.write_bytes(b"junk")
    run_shards(tmp_path, "toy", 2, _shard_fn, 0, progress=False)
    assert shard.read_bytes() == good


def test_dedup_removes_exact_duplicates():
    frames = _shard_fn(np.random.default_rng(0), 0)
    assert len(dedup(frames + [frames[0].copy()])) == 3


def test_committed_dft_manifest_hashes():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "data" / "reference" / "dft"
    manifest = json.loads((folder / "manifest.json").read_text())
    total = 0
    for name, rec in manifest["shards"].items():
        assert sha256_file(folder / f"{name}.extxyz.gz") == rec["sha256"]
        total += rec["n_frames"]
    assert total == manifest["meta"]["n_frames_total"]


def test_committed_sevenn_subset_has_no_unreliable_teacher_seeds():
    """SevenNet-0 labels only perturbations of near-equilibrium seeds (see build.py)."""
    from pathlib import Path

    from openmm_polarml.data.build import TEACHER_EXCLUDED_ORIGINS
    from openmm_polarml.data.shards import read_frames

    folder = Path(__file__).resolve().parents[2] / "data" / "reference" / "sevenn"
    manifest = json.loads((folder / "manifest.json").read_text())
    origins = set()
    for name, rec in manifest["shards"].items():
        assert sha256_file(folder / f"{name}.extxyz.gz") == rec["sha256"]
        origins |= {a.info["seed_origin"] for a in read_frames(folder / f"{name}.extxyz.gz")}
    assert origins and not origins & TEACHER_EXCLUDED_ORIGINS


def test_label_worker_names_every_teacher_it_knows(tmp_path):
    from openmm_polarml.data import label_worker

    assert {"sevenn", "sevenn-l3i5", "sevenn-mf-0-pbe"} <= set(label_worker.SEVENN_CHECKPOINTS)
    source = tmp_path / "in.extxyz"
    source.write_text('1\nProperties=species:S:1:pos:R:3 pbc="F F F"\nH 0 0 0\n')
    with pytest.raises(SystemExit, match="sevenn-l3i5"):
        label_worker.main(["sevenn-typo", str(source), str(tmp_path / "out.json")])
    assert not (tmp_path / "out.json").exists()


def test_label_records_reach_the_manifest_shard_by_shard(tmp_path):
    records = {}

    def labelled(rng, index):
        records[index] = {"frames": 3, "seconds": 0.5 * index}
        if index == 1:
            raise KeyboardInterrupt  # a build killed while labelling shard 1
        return _shard_fn(rng, index)

    with pytest.raises(KeyboardInterrupt):
        run_shards(tmp_path, "toy", 3, labelled, 0, progress=False, records=records)
    manifest = json.loads((tmp_path / "toy" / "manifest.json").read_text())
    assert manifest["shards"]["shard_0000"]["labels"] == {"frames": 3, "seconds": 0.0}
    assert "shard_0001" not in manifest["shards"]
