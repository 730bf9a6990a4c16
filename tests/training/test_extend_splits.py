"""data.extend: more frames without reshuffling the existing train/validation/test split."""

from __future__ import annotations

import pytest
import torch

from openmm_polarml.data_io import keys as K
from openmm_polarml.training.config import load_config
from openmm_polarml.training.data import drop_label_outliers, make_splits
from tests.training.helpers import emt_frames, write_frames


def _positions(frames):
    return [tuple(f[K.POSITIONS].flatten().tolist()[:3]) for f in frames]


def test_extension_keeps_the_split_and_repeats_only_its_training_frames(tmp_path):
    base, extra = tmp_path / "base.extxyz", tmp_path / "extra.extxyz"
    write_frames(base, emt_frames(20, seed=0))
    write_frames(extra, emt_frames(10, seed=1))
    data = {"train": str(base), "split": [0.8, 0.1, 0.1], "seed": 0}
    before = make_splits(data)
    extend = {"files": [str(extra)], "split": [0.6, 0.2, 0.2], "seed": 3, "repeat": 3}
    after = make_splits({**data, "extend": extend})
    for name in ("train", "validation", "test"):
        n = len(before[name])
        assert _positions(after[name][:n]) == _positions(before[name])  # old split untouched
    added = {name: after[name][len(before[name]) :] for name in after}
    assert [len(added[k]) for k in ("train", "validation", "test")] == [18, 2, 2]
    train_new = _positions(added["train"])
    assert len(set(train_new)) == 6 and all(train_new.count(p) == 3 for p in set(train_new))
    held = set(_positions(added["validation"])) | set(_positions(added["test"]))
    assert not held & set(train_new)  # no extension frame in two parts
    assert all(torch.is_tensor(f[K.ENERGY]) for f in added["test"])


def test_extension_settings_are_checked(tmp_path):
    extra = tmp_path / "extra.extxyz"
    write_frames(extra, emt_frames(4))
    data = {"train": str(extra), "split": [0.5, 0.25, 0.25], "seed": 0}
    with pytest.raises(ValueError, match="repeat must be at least 1"):
        make_splits({**data, "extend": {"files": str(extra), "repeat": 0}})
    config = tmp_path / "sub" / "config.yaml"
    config.parent.mkdir()
    (config.parent / "more.extxyz").write_text(extra.read_text())
    config.write_text(f"data:\n  train: {extra}\n  extend:\n    files: [more.extxyz]\n")
    cfg = load_config(config)  # extension files resolve next to the configuration
    assert cfg["data"]["extend"]["files"] == [str(config.parent / "more.extxyz")]


def test_a_second_extension_leaves_the_first_ones_split_as_it_was(tmp_path):
    base, first, second = (tmp_path / f"{n}.extxyz" for n in ("base", "first", "second"))
    write_frames(base, emt_frames(20, seed=0))
    write_frames(first, emt_frames(10, seed=1))
    write_frames(second, emt_frames(10, seed=2))
    data = {"train": str(base), "split": [0.8, 0.1, 0.1], "seed": 0}
    one = {"files": [str(first)], "split": [0.6, 0.2, 0.2], "seed": 3, "repeat": 2}
    two = {"files": [str(second)], "split": [0.8, 0.1, 0.1], "seed": 5, "repeat": 1}
    before = make_splits({**data, "extend": one})
    after = make_splits({**data, "extend": [one, two]})
    second_positions = set(
        _positions(make_splits({"train": str(second), "split": [1, 0, 0], "seed": 0})["train"])
    )
    for name in ("train", "validation", "test"):
        n = len(before[name])
        assert _positions(after[name][:n]) == _positions(before[name])
        assert set(_positions(after[name][n:])) <= second_positions
    assert [len(after[k]) - len(before[k]) for k in ("train", "validation", "test")] == [8, 1, 1]
    with pytest.raises(ValueError, match="needs a 'files' entry"):
        make_splits({**data, "extend": [one, {"split": [1, 0, 0]}]})


def test_label_force_cap_drops_outliers_after_the_split(tmp_path):
    import numpy as np

    base = tmp_path / "base.extxyz"
    atoms = emt_frames(20, seed=0)
    wild = {3, 11, 17}  # frames whose labels a teacher got wildly wrong
    for k in wild:
        atoms[k].calc.results["forces"][0, 0] = 1.0e4  # eV/Å
    write_frames(base, atoms)
    data = {"train": str(base), "split": [0.6, 0.2, 0.2], "seed": 0}
    plain = make_splits(data)
    capped = drop_label_outliers(make_splits(data), 100.0)
    cap = max(float(np.abs(a.get_forces()).max()) for k, a in enumerate(atoms) if k not in wild)
    assert cap < 100.0  # the cap removes exactly the planted frames
    for name in ("train", "validation", "test"):
        kept = [f for f in plain[name] if float(f[K.FORCES].abs().max()) <= 100.0]
        assert _positions(capped[name]) == _positions(kept)  # same split, outliers removed
    assert sum(len(v) for v in plain.values()) - sum(len(v) for v in capped.values()) == 3
    with pytest.raises(ValueError, match="max_label_force must be positive"):
        drop_label_outliers(plain, 0.0)


def test_label_force_cap_reads_ase_atoms_as_stored():
    import numpy as np

    from openmm_polarml.training.data import drop_label_outliers

    atoms = emt_frames(4, seed=2)  # forces held by the calculator, as read_frames returns them
    atoms[1].calc.results["forces"] = np.full((len(atoms[1]), 3), 500.0)
    kept = drop_label_outliers({"test": atoms}, 100.0, quiet=True)["test"]
    assert [a is b for a, b in zip(kept, [atoms[0], atoms[2], atoms[3]], strict=True)] == [True] * 3


def test_extension_can_leave_out_frames_with_given_elements_after_its_split(tmp_path):
    base, extra = tmp_path / "base.extxyz", tmp_path / "extra.extxyz"
    write_frames(base, emt_frames(10, seed=0))
    write_frames(extra, emt_frames(10, seed=1))  # Cu (even) and Al (odd) cells
    data = {"train": str(base), "split": [0.8, 0.1, 0.1], "seed": 0}
    extend = {"files": [str(extra)], "split": [0.6, 0.2, 0.2], "seed": 3}
    full = make_splits({**data, "extend": extend})
    no_al = make_splits({**data, "extend": {**extend, "exclude_elements": ["Al"]}})
    for name in ("train", "validation", "test"):
        n = len(make_splits(data)[name])
        cu = [f for f in full[name][n:] if 13 not in f[K.NUMBERS].tolist()]
        assert _positions(no_al[name][n:]) == _positions(cu)  # same split, Al frames gone
    assert sum(len(v) for v in no_al.values()) == sum(len(v) for v in full.values()) - 5
    with pytest.raises(ValueError, match="unknown element symbols"):
        make_splits({**data, "extend": {**extend, "exclude_elements": ["Xx"]}})


def test_evaluation_split_leaves_out_the_same_frames(tmp_path):
    from openmm_polarml.training.data import split_atoms_by_subset

    (tmp_path / "base").mkdir()
    (tmp_path / "extra").mkdir()
    base, extra = tmp_path / "base" / "a.extxyz", tmp_path / "extra" / "b.extxyz"
    write_frames(base, emt_frames(10, seed=0))
    write_frames(extra, emt_frames(10, seed=1))
    extend = {"files": [str(extra)], "split": [0.6, 0.2, 0.2], "seed": 3}
    data = {"train": [str(base)], "split": [0.8, 0.1, 0.1], "seed": 0}
    for part in ("train", "validation", "test"):
        full = split_atoms_by_subset({"data": {**data, "extend": extend}}, part).get("extra", [])
        cut = {**extend, "exclude_elements": ["Al"]}
        kept = split_atoms_by_subset({"data": {**data, "extend": cut}}, part).get("extra", [])
        assert [a.positions.tolist() for a in kept] == [
            a.positions.tolist() for a in full if "Al" not in a.get_chemical_symbols()
        ]
