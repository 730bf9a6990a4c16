"""D3(BJ): agreement with tad-dftd3, periodic images, scripting, finite differences."""

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule

from openmm_polarml.data_io import keys as K
from openmm_polarml.model.d3 import D3BJ, load_d3_tables
from tests.model.helpers import batch_of, crystal

pytest.importorskip("tad_dftd3")


def _args(data):
    return [data[k] for k in (K.POSITIONS, K.NUMBERS, K.CELL, K.PBC, K.BATCH, K.PTR)]


def test_matches_tad_dftd3_for_a_molecule():
    import tad_dftd3
    from tad_mctc import units as au

    atoms = molecule("CH3CH2OH")
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=40.0, cn_cutoff=40.0, switch_width=0.5).double()
    ours = d3(*_args(batch_of(atoms))).sum()
    pos = torch.tensor(atoms.positions) * au.AA2AU
    par = {"s6": 1.0, "s8": 0.7875, "a1": 0.4289, "a2": 4.4407, "s9": 0.0}
    ref = (
        tad_dftd3.dftd3(
            torch.tensor(atoms.numbers), pos, {k: torch.tensor(v) for k, v in par.items()}
        ).sum()
        * au.AU2EV
    )
    assert abs(float(ours - ref)) < 1e-10 * abs(float(ref))


def test_periodic_supercell_and_script():
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=8.0, cn_cutoff=6.0).double()
    atoms = crystal(0)
    e1 = d3(*_args(batch_of(atoms))).sum()
    e27 = d3(*_args(batch_of(atoms.repeat(3)))).sum()
    assert float(e1) < 0
    assert abs(float(e27 - 27 * e1)) < 1e-10 * abs(float(e27))
    scripted = torch.jit.script(d3)
    assert torch.allclose(scripted(*_args(batch_of(atoms))).sum(), e1, rtol=1e-14)


def test_forces_by_finite_differences():
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=7.0, cn_cutoff=6.0).double()
    data = batch_of(crystal(3))
    pos = data[K.POSITIONS].clone().requires_grad_(True)
    args = _args(data)
    args[0] = pos
    (grad,) = torch.autograd.grad(d3(*args).sum(), pos)
    h = 1e-5
    for atom, comp in [(0, 0), (3, 2), (5, 1)]:
        vals = []
        for s in (h, -h):
            p = data[K.POSITIONS].clone()
            p[atom, comp] += s
            args[0] = p
            vals.append(float(d3(*args).sum()))
        fd = (vals[0] - vals[1]) / (2 * h)
        assert abs(fd - float(grad[atom, comp])) < 1e-8


# --- native kernel (openmm_polarml.model.d3_native) against the torch module ---


def _native_or_skip():
    from openmm_polarml.model.d3 import native_available

    if not native_available():
        pytest.skip("native D3 kernel not built or disabled")


def _energy_and_grads(fn, data, weights=None, dtype=torch.float64):
    args = _args(data)
    pos = args[0].to(dtype).clone().requires_grad_(True)
    cell = args[2].to(dtype).clone().requires_grad_(True)
    args[0], args[2] = pos, cell
    e = fn(*args)
    loss = e.sum() if weights is None else (e * weights.to(dtype)).sum()
    g_pos, g_cell = torch.autograd.grad(loss, [pos, cell])
    return e.detach(), g_pos, g_cell


def _assert_native_matches(d3, data, weights=None, dtype=torch.float64, rtol=1e-12):
    ref = _energy_and_grads(d3, data, weights, dtype)
    nat = _energy_and_grads(d3.native_energies, data, weights, dtype)
    for name, a, b in zip(("energies", "forces", "cell gradient"), nat, ref, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        scale = float(b.abs().max())
        # forces of a rattled crystal are small sums of large pair terms: tolerance on their scale
        tol = rtol * (scale if name != "forces" else 10 * scale) + 1e-300
        assert float((a - b).abs().max()) <= tol, (name, float((a - b).abs().max()), scale)


def _skewed_small_cell():
    """Two-atom triclinic cell with heights ~2.5 Å, far below the cutoff (many images)."""
    a = crystal(5)
    small = _recelled(a[[0, 1]], a.cell.array * 0.5)
    m = np.array([[1.0, 0.35, 0.1], [0.0, 1.0, 0.4], [0.2, 0.0, 1.0]])
    small.set_cell(small.cell.array @ m, scale_atoms=True)
    return small


def _recelled(atoms, cell):
    out = atoms.copy()
    out.set_cell(cell, scale_atoms=False)
    out.wrap()
    return out


def test_native_matches_torch_periodic_crystal():
    _native_or_skip()
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=9.0, cn_cutoff=7.0).double()
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    _assert_native_matches(d3, batch_of(atoms))
    _assert_native_matches(d3, batch_of(_perovskite()))


def _perovskite():
    from ase import Atoms

    a = 4.0
    atoms = Atoms(
        "BaTiO3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=[a, a, a],
        pbc=True,
    ).repeat(2)
    atoms.rattle(0.05, seed=2)
    # shift some atoms out of the cell: the native search wraps them itself
    atoms.positions[:3] += atoms.cell.array[0] * 1.0 - atoms.cell.array[2] * 2.0
    return atoms


def test_native_matches_torch_small_skewed_cell():
    _native_or_skip()
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=8.0, cn_cutoff=6.0).double()
    _assert_native_matches(d3, batch_of(_skewed_small_cell()))


def test_native_matches_torch_molecule():
    _native_or_skip()
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=12.0, cn_cutoff=10.0).double()
    _assert_native_matches(d3, batch_of(molecule("CH3CH2OH")))
    # a cluster spanning several bounding-box bins
    cluster = molecule("CH3CH2OH")
    for k in range(1, 5):
        part = molecule("H2O")
        part.translate([7.0 * k, 1.5 * k, -2.0 * k])
        cluster += part
    _assert_native_matches(d3, batch_of(cluster))


def test_native_batch_with_weighted_upstream_gradient():
    _native_or_skip()
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=8.0, cn_cutoff=6.0).double()
    data = batch_of(crystal(1), molecule("CH3CH2OH"), _skewed_small_cell())
    n = data[K.POSITIONS].shape[0]
    weights = torch.rand(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    _assert_native_matches(d3, data, weights)


def test_native_float32_and_fallbacks():
    _native_or_skip()
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=8.0, cn_cutoff=6.0).float()
    data = batch_of(crystal(4), dtype=torch.float32)
    _assert_native_matches(d3, data, dtype=torch.float32, rtol=1e-5)
    # no gradient needed: plain evaluation
    with torch.no_grad():
        e = d3.native_energies(*_args(data))
    assert e.dtype == torch.float32 and torch.allclose(e, d3(*_args(data)), rtol=1e-5)
    # mixed periodicity: falls back to the torch forward
    mixed = batch_of(crystal(4), dtype=torch.float32)
    mixed[K.PBC][:, 2] = False
    assert torch.equal(d3.native_energies(*_args(mixed)), d3(*_args(mixed)))
    # the method is skipped by TorchScript
    torch.jit.script(d3)


def test_native_forces_by_finite_differences():
    _native_or_skip()
    d3 = D3BJ(load_d3_tables("pbe"), cutoff=7.0, cn_cutoff=6.0).double()
    data = batch_of(crystal(3))
    _, grad, _ = _energy_and_grads(d3.native_energies, data)
    args = _args(data)
    h = 1e-5
    for atom, comp in [(0, 0), (3, 2), (5, 1)]:
        vals = []
        for s in (h, -h):
            p = data[K.POSITIONS].clone()
            p[atom, comp] += s
            args[0] = p
            vals.append(float(d3.native_energies(*args).sum()))
        fd = (vals[0] - vals[1]) / (2 * h)
        assert abs(fd - float(grad[atom, comp])) < 1e-8


def test_kept_pair_list_equals_a_fresh_list_along_a_trajectory():
    """The Verlet-skin pair list is reused while atoms move less than skin/2, rebuilt beyond that
    and whenever the cell or the frames change; energies and forces equal those of a fresh list."""
    tables = load_d3_tables("pbe")
    kept = torch.jit.script(D3BJ(tables, cutoff=8.0, cn_cutoff=6.0, pair_skin=0.5).double())
    fresh = D3BJ(tables, cutoff=8.0, cn_cutoff=6.0, pair_skin=0.0).double()
    base = crystal(1).repeat(2)
    rng = np.random.default_rng(0)
    step = rng.normal(scale=1.0, size=(len(base), 3))
    step *= 0.06 / np.linalg.norm(step, axis=1).max()  # the fastest atom moves 0.06 Å per frame
    built = []
    for k in range(8):
        atoms = base.copy()
        atoms.positions += k * step
        if k == 6:  # a strained cell: the list must be rebuilt
            atoms.set_cell(atoms.cell.array * 1.01, scale_atoms=True)
        data = batch_of(atoms)
        grads = []
        for module in (kept, fresh):
            pos = data[K.POSITIONS].clone().requires_grad_(True)
            args = _args(data)
            args[0] = pos
            e = module(*args).sum()
            grads.append((float(e), torch.autograd.grad(e, pos)[0]))
        assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-13)
        scale = float(grads[1][1].abs().max())  # pairs summed in another order: float64 rounding
        assert float((grads[0][1] - grads[1][1]).abs().max()) < 1e-12 * scale
        built.append(kept.pairs.built_positions.clone())
    rebuilt = [k for k in range(1, 8) if not torch.equal(built[k], built[k - 1])]
    # 5 × 0.06 Å > skin/2 = 0.25 Å; frame 6 has a strained cell and frame 7 the original one again
    assert rebuilt == [5, 6, 7], rebuilt


@pytest.mark.parametrize("element", [17, 19, 55, 56])
def test_reference_weights_sum_to_one_far_from_every_reference(element):
    # dense ionic crystals reach CN ~13-15 above the largest reference CN of Cl, K, Cs, Ba at
    # the 10 A CN cutoff; the plain ratio of Gaussians underflows there (weights summed to 1e-3)
    d3 = D3BJ(load_d3_tables("pbe")).double()
    top = float(d3.ref_cn[element].max())
    cn = top + torch.linspace(0.0, 20.0, 161, dtype=torch.float64)  # [161]
    gw = d3._weights(cn, torch.full((161,), element))  # [161, 7]
    torch.testing.assert_close(gw.sum(-1), torch.ones(161, dtype=torch.float64), rtol=0, atol=1e-12)
    nearest = int(torch.argmax(d3.ref_cn[element]))
    assert torch.all(gw[40:, nearest] > 1.0 - 1e-12)  # 5 CN units above: the nearest reference


def test_energy_is_smooth_through_dense_ionic_crystal_cells():
    # KCl at the default 12 / 10 A cutoffs: K and Cl CNs cross the range where the plain weight
    # ratio underflowed, and E(a) jumped by 1.3 eV between a = 6.310 and 6.3125 A
    d3 = D3BJ(load_d3_tables("pbe")).double()
    base = bulk("KCl", "rocksalt", a=6.3, cubic=True)
    lattice = np.arange(6.20, 6.45, 0.01)  # A
    energies = []
    for a in lattice:
        atoms = base.copy()
        atoms.set_cell(np.eye(3) * a, scale_atoms=True)
        energies.append(float(d3(*_args(batch_of(atoms))).sum()))
    second = np.abs(np.diff(energies, 2))  # eV, ~ E''(a) (0.01 A)^2 for a smooth E(a)
    assert second.max() < 2e-3, second.max()
    assert np.all(np.diff(energies) > 0)  # dispersion weakens as the cell grows


@pytest.mark.parametrize("kernel", ["torch", "native"])
def test_forces_by_finite_differences_far_above_every_reference(kernel):
    # KCl at a = 6.31 A: K and Cl CNs lie ~13 above their references (the softmax regime)
    from tests.physics_checks import TOLERANCE, assert_close, central_difference_forces

    d3 = D3BJ(load_d3_tables("pbe")).double()
    if kernel == "native":
        _native_or_skip()
    energies = d3 if kernel == "torch" else d3.native_energies
    atoms = bulk("KCl", "rocksalt", a=6.31, cubic=True)
    atoms.rattle(0.02, seed=4)
    data = batch_of(atoms)
    args = _args(data)
    _, grad, _ = _energy_and_grads(energies, data)

    def energy(p):
        return float(energies(p, *args[1:]).sum())

    picked = [0, 3, 6]
    fd = central_difference_forces(energy, data[K.POSITIONS], picked)
    scale = float(grad.abs().max())
    assert_close(-grad[picked], fd, rtol=0.0, atol=TOLERANCE[torch.float64] * max(scale, 1.0))


def test_native_matches_torch_in_a_dense_ionic_crystal():
    _native_or_skip()
    d3 = D3BJ(load_d3_tables("pbe")).double()
    atoms = bulk("KCl", "rocksalt", a=6.31, cubic=True)
    atoms.rattle(0.02, seed=3)
    _assert_native_matches(d3, batch_of(atoms))
