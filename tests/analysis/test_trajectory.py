"""RDF peaks, unwrapping and MSD on synthetic trajectories with analytic answers."""

import mdtraj
import numpy as np
import pytest
from ase.build import bulk

from openmm_polarml.analysis import (
    compute_rdfs,
    diffusion_coefficient,
    element_pairs,
    first_peak,
    mean_square_displacement,
    unwrap_positions,
)

A_NM = 0.564  # rocksalt NaCl lattice constant (nm)


def _trajectory(symbols, xyz_nm, box_nm):
    """mdtraj trajectory with one residue per atom; ``xyz_nm [F, N, 3]``, ``box_nm [3, 3]``."""
    top = mdtraj.Topology()
    chain = top.add_chain()
    for s in symbols:
        res = top.add_residue(s.upper(), chain)
        top.add_atom(s.upper(), mdtraj.element.get_by_symbol(s), res)
    n_frames = xyz_nm.shape[0]
    traj = mdtraj.Trajectory(xyz_nm, top)
    traj.unitcell_vectors = np.repeat(np.asarray(box_nm)[None], n_frames, axis=0)
    return traj


def _rocksalt(repeat=3, noise=0.0, frames=1, seed=0):
    atoms = bulk("NaCl", "rocksalt", a=A_NM * 10, cubic=True).repeat(repeat)
    rng = np.random.default_rng(seed)
    xyz = atoms.positions / 10 + noise * rng.normal(size=(frames, len(atoms), 3))
    return _trajectory(atoms.get_chemical_symbols(), xyz.astype(np.float32), atoms.cell.array / 10)


def test_element_pairs_counts():
    traj = _rocksalt(repeat=1)  # 4 Na, 4 Cl
    assert element_pairs(traj.topology, "Na", "Cl").shape == (16, 2)
    same = element_pairs(traj.topology, "Na", "Na")
    assert same.shape == (6, 2) and (same[:, 0] < same[:, 1]).all()
    assert element_pairs(traj.topology, "Na", "K").shape == (0, 2)


def test_rdf_first_peaks_of_a_rocksalt_lattice():
    """Na–Cl at a/2, Na–Na and Cl–Cl at a/√2 (within one bin)."""
    traj = _rocksalt(repeat=3, noise=0.002, frames=3)
    bin_width = 0.002
    rdfs = compute_rdfs(traj, bin_width=bin_width)
    assert set(rdfs) == {"Cl-Cl", "Cl-Na", "Na-Na"}
    r, g = rdfs["Cl-Na"]
    assert r[-1] <= 0.5 * 3 * A_NM + 1e-6  # default range: half the box
    expected = {"Cl-Na": A_NM / 2, "Na-Na": A_NM / np.sqrt(2), "Cl-Cl": A_NM / np.sqrt(2)}
    for pair, r0 in expected.items():
        r_peak, g_peak = first_peak(*rdfs[pair])
        assert abs(r_peak - r0) <= bin_width, pair
        assert g_peak > 5.0
    assert np.all(g[r < 0.2] == 0.0)  # nothing closer than the nearest neighbour


def test_first_peak_takes_the_first_region_above_threshold():
    r = np.linspace(0.0, 1.0, 101)
    g = 1.0 + 2.0 * np.exp(-(((r - 0.3) / 0.03) ** 2)) + 5.0 * np.exp(-(((r - 0.7) / 0.03) ** 2))
    g[r < 0.2] = 0.0
    g[(r > 0.45) & (r < 0.55)] = 0.5  # a minimum below 1 separates the two peaks
    assert first_peak(r, g) == pytest.approx((0.3, 3.0))
    assert np.isnan(first_peak(r, np.zeros_like(r))[0])


def test_unwrap_recovers_a_random_walk_in_a_triclinic_box():
    rng = np.random.default_rng(1)
    box = np.array([[2.0, 0.0, 0.0], [0.6, 1.8, 0.0], [-0.4, 0.3, 1.5]])  # rows, nm
    steps = 0.1 * rng.normal(size=(40, 5, 3))  # small compared with the box
    true = np.cumsum(steps, axis=0) + 0.5
    frac = true @ np.linalg.inv(box)
    wrapped = (frac - np.floor(frac)) @ box
    assert np.abs(wrapped - true).max() > 0.5  # the walk did cross the boundaries
    boxes = np.repeat(box[None], len(true), axis=0)
    unwrapped = unwrap_positions(wrapped, boxes)
    assert np.allclose(unwrapped - unwrapped[0], true - true[0], atol=1e-12)


def test_msd_of_constant_drift_is_quadratic():
    """x(t) = x0 + v t  ->  MSD(τ) = |v|² τ² for every lag; zero after removing the COM."""
    rng = np.random.default_rng(2)
    box = np.eye(3) * 1.5
    v = np.array([0.07, -0.05, 0.03])  # nm per frame
    x0 = rng.uniform(0.0, 1.5, size=(6, 3))
    true = x0[None] + np.arange(50)[:, None, None] * v  # [50, 6, 3]
    wrapped = np.mod(true, 1.5)
    xyz = unwrap_positions(wrapped, np.repeat(box[None], 50, axis=0))
    msd = mean_square_displacement(xyz, max_lag=30)
    lags = np.arange(31)
    assert np.allclose(msd, (v @ v) * lags**2, rtol=1e-10, atol=1e-12)
    assert np.allclose(mean_square_displacement(xyz, atoms=[0, 3], remove_com=True), 0.0)


def test_diffusion_coefficient_from_a_linear_msd():
    t = np.linspace(0.0, 10.0, 51)  # ps
    d = 2.3e-3  # nm²/ps
    assert diffusion_coefficient(t, 6 * d * t + 0.01) == pytest.approx(d, rel=1e-10)
