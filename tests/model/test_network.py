"""Symmetry, smoothness, batching and scripting tests of the short-range network (+ D3)."""

import numpy as np
import pytest
import torch

from openmm_polarml.data_io import keys as K
from openmm_polarml.export.torchforce import fresh_copy, script_module
from tests.model.helpers import D3, batch_of, crystal, molecule, tiny_model

TOL = {"float64": (1e-8, 1e-8), "float32": (1e-4, 1e-3)}  # (energy rel., forces abs. eV/Å)


def _predict(model, atoms, dtype):
    data = batch_of(atoms, dtype=torch.float64 if dtype == "float64" else torch.float32)
    out = model(data, compute_forces=True)
    return out["energy"].detach().double(), out["forces"].detach().double()


def _random_rotation(seed, reflect=False):
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return -q if reflect else q


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["rotation", "reflection", "translation", "permutation"])
@pytest.mark.parametrize("periodic", [False, True])
def test_e3_invariance(dtype, kind, periodic):
    model = tiny_model(dtype)
    atoms = crystal(1) if periodic else molecule(1)
    e0, f0 = _predict(model, atoms, dtype)
    moved = atoms.copy()
    expected_f = f0.numpy()
    if kind in ("rotation", "reflection"):
        rot = _random_rotation(3, reflect=kind == "reflection")
        moved.positions = atoms.positions @ rot.T
        if periodic:
            moved.cell = atoms.cell.array @ rot.T
        expected_f = f0.numpy() @ rot.T
    elif kind == "translation":
        moved.positions = atoms.positions + np.array([0.7, -1.3, 2.1])
    else:
        perm = np.random.default_rng(5).permutation(len(atoms))
        moved = atoms[perm]
        expected_f = f0.numpy()[perm]
    e1, f1 = _predict(model, moved, dtype)
    tol_e, tol_f = TOL[dtype]
    assert abs(float(e1 - e0)) <= tol_e * max(1.0, abs(float(e0)))
    assert np.abs(f1.numpy() - expected_f).max() <= tol_f
    assert float(f0.abs().max()) > 1e-3  # forces are not trivially zero


def test_supercell_energy_is_extensive():
    model = tiny_model("float64", d3=D3)
    atoms = crystal(2)
    e1, _ = _predict(model, atoms, "float64")
    e8, _ = _predict(model, atoms.repeat((2, 2, 2)), "float64")
    assert abs(float(e8 - 8 * e1)) < 1e-8 * abs(float(e8))


def test_forces_vanish_smoothly_at_cutoff():
    """A dimer: energy, force and force slope go to zero as r -> r_max (network alone)."""
    from ase import Atoms

    model = tiny_model("float64")
    r_max = model.r_max
    e_far = _predict(model, Atoms("CO", positions=[[0, 0, 0], [0, 0, 50.0]]), "float64")[0]
    forces = []
    for d in (1e-2, 1e-3):
        atoms = Atoms("CO", positions=[[0, 0, 0], [0, 0, r_max - d]])
        e, f = _predict(model, atoms, "float64")
        forces.append(float(f[1, 2]))
        assert abs(float(e - e_far)) < 50 * d**3
    assert abs(forces[1]) < 1e-4
    assert abs(forces[1]) < abs(forces[0]) / 10  # vanishes faster than linearly
    atoms = Atoms("CO", positions=[[0, 0, 0], [0, 0, r_max + 1e-6]])
    e, f = _predict(model, atoms, "float64")
    assert abs(float(e - e_far)) < 1e-12 and float(f.abs().max()) == 0.0


def test_batch_equals_per_frame_and_no_gradient_leak():
    model = tiny_model("float64", d3=D3)
    frames = [molecule(3, n=4), crystal(4), molecule(5, n=6)]
    data = batch_of(*frames)
    out = model(data, compute_forces=True, compute_stress=True)
    ptr = data[K.PTR].tolist()
    for b, atoms in enumerate(frames):
        single = model(batch_of(atoms), compute_forces=True, compute_stress=True)
        assert torch.allclose(out["energy"][b], single["energy"][0], rtol=1e-12, atol=1e-12)
        assert torch.allclose(out["forces"][ptr[b] : ptr[b + 1]], single["forces"], atol=1e-12)
        assert torch.allclose(out["stress"][b], single["stress"][0], atol=1e-12)
    # the energy of frame 0 has zero gradient w.r.t. the atoms of the other frames
    pos = data[K.POSITIONS].clone().requires_grad_(True)
    e = model({**data, K.POSITIONS: pos}, compute_forces=False)["energy"]
    (g,) = torch.autograd.grad(e[0], pos)
    assert float(g[ptr[1] :].abs().max()) == 0.0
    assert float(g[: ptr[1]].abs().max()) > 0.0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_eager_equals_torchscript(dtype):
    model = tiny_model(dtype, d3=D3)
    scripted = script_module(fresh_copy(model).shortrange)
    assert isinstance(scripted, torch.jit.ScriptModule)
    tdt = torch.float64 if dtype == "float64" else torch.float32
    data = batch_of(crystal(6), molecule(7), dtype=tdt)
    args = [data[k] for k in (K.POSITIONS, K.NUMBERS, K.CELL, K.PBC, K.BATCH, K.PTR)]
    ref = model.shortrange(*args)
    got = scripted(*args)
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert torch.allclose(ref, got, atol=tol, rtol=tol)
