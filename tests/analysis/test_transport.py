"""Transport and dielectric analyses on synthetic data whose answer is known analytically:
free dipoles (Debye), uncorrelated Brownian ions (Nernst–Einstein), AR(1) series (block
errors), exact Arrhenius data, and the Yeh–Hummer formula with independent SI constants."""

import numpy as np
import pytest
from scipy import constants as sc

from openmm_polarml.analysis.statistics import arrhenius_fit, block_average, block_estimates
from openmm_polarml.analysis.transport import (
    einstein_helfand_conductivity,
    nernst_einstein_conductivity,
    static_dielectric_constant,
    translational_dipole,
    yeh_hummer_correction,
)


def random_unit_vectors(rng, shape):
    v = rng.normal(size=shape + (3,))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_free_dipoles_follow_the_debye_formula():
    rng = np.random.default_rng(0)
    n, mu, volume, temperature, frames = 50, 0.05, 30.0, 300.0, 20000  # e nm, nm³, K
    m = mu * random_unit_vectors(rng, (frames, n)).sum(axis=1)  # [frames, 3]
    eps = static_dielectric_constant(m, volume, temperature)
    mu_si = mu * sc.e * 1e-9
    expected = 1 + n * mu_si**2 / (3 * volume * 1e-27 * sc.epsilon_0 * sc.k * temperature)
    # relative standard error of <M²> for a 3-d Gaussian M: sqrt(2/3/frames) = 0.6 %
    assert eps - 1 == pytest.approx(expected - 1, rel=0.03)


def test_translational_dipole_of_fixed_charges_is_the_charge_weighted_displacement():
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(7, 5, 3)).cumsum(axis=0)
    q = rng.normal(size=5)
    mj = translational_dipole(xyz, q)
    np.testing.assert_allclose(mj, np.einsum("a,fai->fi", q, xyz - xyz[0]), atol=1e-12)
    np.testing.assert_allclose(translational_dipole(xyz, np.tile(q, (7, 1))), mj, atol=1e-12)
    with pytest.raises(ValueError, match="do not match"):
        translational_dipole(xyz, np.ones((6, 5)))


def test_einstein_helfand_equals_nernst_einstein_for_uncorrelated_ions():
    rng = np.random.default_rng(2)
    d_plus, d_minus, dt, frames, n_each = 0.002, 0.004, 0.1, 1000, 10  # nm²/ps, ps
    volume, temperature = 8.0, 300.0
    q = np.r_[np.ones(n_each), -np.ones(n_each)]
    d = np.r_[np.full(n_each, d_plus), np.full(n_each, d_minus)]
    times = dt * np.arange(frames)
    values = []
    for _ in range(200):  # independent runs: the estimator's mean and its standard error
        steps = rng.normal(size=(frames - 1, 2 * n_each, 3)) * np.sqrt(2 * d * dt)[None, :, None]
        xyz = np.concatenate([np.zeros((1, 2 * n_each, 3)), steps.cumsum(axis=0)])
        mj = translational_dipole(xyz, q)
        values.append(einstein_helfand_conductivity(times, mj, volume, temperature, (0.0, 0.2)))
    mean, sem = np.mean(values), np.std(values, ddof=1) / np.sqrt(len(values))
    expected = nernst_einstein_conductivity(
        {"Na": d_plus, "Cl": d_minus}, {"Na": n_each, "Cl": n_each},
        {"Na": 1.0, "Cl": -1.0}, volume, temperature,
    )  # fmt: skip
    by_hand = sc.e**2 * n_each * (d_plus + d_minus) * 1e-6 / (volume * 1e-27 * sc.k * temperature)
    assert expected == pytest.approx(by_hand, rel=1e-12)
    assert sem < 0.05 * expected
    assert abs(mean - expected) < 4 * sem


def test_yeh_hummer_with_independent_constants():
    delta = yeh_hummer_correction(3.0, 298.0, 0.89)  # nm²/ps
    by_hand = 2.837297 * sc.k * 298.0 / (6 * np.pi * 0.89e-3 * 3e-9) / 1e-6
    assert delta == pytest.approx(by_hand, rel=1e-12)
    assert 0.0002 < delta < 0.0003  # 0.23e-9 m²/s for water in a 3 nm box
    assert yeh_hummer_correction(6.0, 298.0, 0.89) == pytest.approx(delta / 2)
    with pytest.raises(ValueError, match="positive"):
        yeh_hummer_correction(3.0, 298.0, 0.0)


def ar1(rng, n, phi):
    x = np.empty(n)
    x[0] = rng.normal()
    noise = rng.normal(size=n) * np.sqrt(1 - phi**2)  # unit stationary variance
    for k in range(1, n):
        x[k] = phi * x[k - 1] + noise[k]
    return x


def test_block_errors_of_a_correlated_series_match_the_statistical_inefficiency():
    rng = np.random.default_rng(3)
    phi, n = 0.9, 20000
    true_sem = np.sqrt((1 + phi) / (1 - phi) / n)  # g = (1+φ)/(1-φ) for AR(1)
    sems = [block_average(ar1(rng, n, phi), n_blocks=10).sem for _ in range(100)]
    assert np.mean(sems) == pytest.approx(true_sem, rel=0.12)
    naive = 1 / np.sqrt(n)
    assert np.mean(sems) > 3 * naive  # what an error bar without blocks would miss
    with pytest.raises(ValueError, match="n_blocks"):
        block_average(np.ones(10), n_blocks=1)


def test_block_estimates_apply_an_estimator_per_block():
    series = np.repeat([1.0, 2.0, 3.0, 4.0], 5)
    est = block_estimates(lambda a, b: float(series[a:b].mean()), series.size, n_blocks=4)
    np.testing.assert_allclose(est.block_means, [1, 2, 3, 4])
    assert est.mean == pytest.approx(2.5)
    assert est.sem == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)


def test_arrhenius_fit_recovers_the_activation_energy():
    kb = sc.k / sc.e
    t = np.array([800.0, 1000.0, 1200.0, 1500.0])
    d = 1e-3 * np.exp(-0.35 / (kb * t))
    exact = arrhenius_fit(t, d)
    assert exact["Ea_eV"] == pytest.approx(0.35, rel=1e-9)
    assert exact["prefactor"] == pytest.approx(1e-3, rel=1e-6)
    noisy = arrhenius_fit(t, d * np.array([1.05, 0.95, 1.03, 0.98]), rate_errors=0.05 * d)
    assert noisy["Ea_err_eV"] > 0
    assert abs(noisy["Ea_eV"] - 0.35) < 3 * noisy["Ea_err_eV"]
    with pytest.raises(ValueError, match="positive"):
        arrhenius_fit(t, -d)
