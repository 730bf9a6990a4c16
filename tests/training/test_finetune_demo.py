"""The fine-tuning demo (openmm_polarml.training.finetune_demo, run as examples/finetune_demo.py)
on a tiny subset, and the committed PySCF set."""

import json
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
PYSCF_SET = ROOT / "data" / "finetune" / "pyscf_water_ions.extxyz.gz"


def test_demo_runs_and_changes_only_the_readout(tmp_path):
    from openmm_polarml.model.serialization import pretrained_path
    from openmm_polarml.training.finetune import DEFAULT_TRAINABLE, load_checkpoint_state

    argv = ["--out", str(tmp_path), "--demos", "pyscf", "--max-frames", "16", "--epochs", "1"]
    command = [sys.executable, str(ROOT / "examples" / "finetune_demo.py"), *argv]
    assert subprocess.run([*command, "--no-progress"], cwd=ROOT).returncode == 0
    record = json.loads((tmp_path / "finetune_demo.json").read_text())["pyscf"]
    assert record["n_train"] + record["n_test"] == 16 and record["n_test"] >= 2
    assert set(record["energy_offsets_eV"]) >= {"H", "O"}
    for stage in ("before (raw)", "before (shifts)", "after"):
        for key in ("energy_mev_per_atom", "forces_mev_per_A"):
            assert np.isfinite(record["errors"][stage][key]["mae"]), (stage, key)
    # the shift refit changes energies only, not forces
    forces = [
        record["errors"][s]["forces_mev_per_A"]["mae"] for s in ("before (raw)", "before (shifts)")
    ]
    assert forces[0] == pytest.approx(forces[1], rel=1e-9)
    assert record["seconds"]["fine-tune"] > 0
    assert (tmp_path / "before_after.png").stat().st_size > 0

    # the saved fine-tuned weights (EMA) against the shipped ones: only readout and shifts moved
    _, before = load_checkpoint_state(pretrained_path("foundation"))
    _, after = load_checkpoint_state(tmp_path / "pyscf" / "last.pt")
    readout = [k for k in before if any(fnmatch(k, p) for p in DEFAULT_TRAINABLE)]
    assert readout
    assert any(not torch.equal(after[k].double(), before[k].double()) for k in readout)
    frozen = [
        k
        for k, v in before.items()
        if v.is_floating_point()
        and k not in readout
        and k not in ("shortrange.network.shift", "shortrange.network.charge_energy")
        and ".pairs." not in k  # D3 neighbour-list cache buffers
    ]
    assert len(frozen) > 20
    # trained in float32: a frozen float64 value may come back rounded to float32, not changed
    float32_eps = torch.finfo(torch.float32).eps
    moved = [
        k
        for k in frozen
        if not torch.allclose(after[k].double(), before[k].double(), rtol=float32_eps, atol=0.0)
    ]
    assert not moved, f"non-readout weights changed: {moved}"
    # shifts: the PBE head (row 0) refitted on H/O/ions, the GFN2 head (row 1) untouched
    shift_before, shift_after = (
        before["shortrange.network.shift"],
        after["shortrange.network.shift"],
    )
    assert torch.equal(shift_after[1].double(), shift_before[1].double())
    assert not torch.equal(shift_after[0, 8].double(), shift_before[0, 8].double())
    refit = {"shortrange.network.shift", "shortrange.network.charge_energy"}
    assert set(record["changed_parameters"]) <= set(readout) | refit
    # the refit fits the charge-energy table with the shifts; on Na⁺/Cl⁻ clusters alone (no
    # neutral Na or Cl) a trained table keeps its ion offsets and the new level's reference
    # energies go into the shifts (with the ridge on the shifts c₁(Na) moved by 22 eV/e)
    key = "shortrange.network.charge_energy"
    if key in before:
        assert torch.equal(after[key][1].double(), before[key][1].double())  # GFN2 head
        # corrections of an ion's offset between two DFT levels (tenths of eV/e), not an atomic
        # reference energy (tens of eV)
        charge_change = (after[key][0].double() - before[key][0].double()).abs()  # [95, 2] eV/e
        assert float(charge_change.max()) < 1.0


def test_committed_pyscf_set_has_provenance_and_finite_labels():
    from openmm_polarml.data.shards import read_frames

    frames = read_frames(PYSCF_SET)
    assert len(frames) >= 30
    for k, atoms in enumerate(frames):
        info = atoms.info
        assert info["level"] == "pbe", k
        assert "PySCF" in info["label_method"] and "PBE" in info["label_method"], k
        assert "pyscf=" in info["label_code"], k
        assert info["label_kind"] == "dft" and info["license"] == "CC-BY-4.0", k
        assert "charge" in info and int(info["charge"]) in (-1, 0, 1), k
        assert not atoms.pbc.any(), k
        assert np.isfinite(info["energy"]), k
        forces = atoms.arrays["forces"]
        assert forces.shape == (len(atoms), 3) and np.all(np.isfinite(forces)), k
        assert ("dipole" in info) == (int(info["charge"]) == 0), k
    assert {int(a.info["charge"]) for a in frames} == {-1, 0, 1}


def test_committed_pyscf_geometries_regenerate_from_the_seed():
    from openmm_polarml.data.pyscf_labels import cluster_specs, make_clusters
    from openmm_polarml.data.shards import read_frames

    frames = read_frames(PYSCF_SET)
    candidates = make_clusters(cluster_specs())
    assert len(frames) == len(candidates)  # no SCF failed
    for atoms, seed in zip(frames, candidates, strict=True):
        assert atoms.info["generator"] == seed.info["generator"]
        np.testing.assert_allclose(atoms.positions, seed.positions, atol=1e-7)
