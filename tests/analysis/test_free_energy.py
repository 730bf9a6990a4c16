"""Barrier analysis on analytic profiles: symmetric and tilted double wells, a single well."""

import numpy as np
import pytest

from openmm_polarml.analysis.free_energy import profile_barrier


def test_symmetric_double_well():
    s = np.linspace(-2, 2, 4001)
    r = profile_barrier(s, 3.0 * (s**2 - 1) ** 2)
    assert r["forward"] == pytest.approx(3.0, abs=1e-9)
    assert r["reverse"] == pytest.approx(3.0, abs=1e-9)
    assert (r["left_min"], r["top"], r["right_min"]) == pytest.approx((-1, 0, 1), abs=1e-3)


def test_tilted_double_well_against_analytic_stationary_points():
    s = np.linspace(-2, 2, 40001)
    f = (s**2 - 1) ** 2 + 0.3 * s
    roots = np.sort(np.roots([4, 0, -4, 0.3]).real)  # f'(s) = 4s³ - 4s + 0.3
    g = lambda x: (x**2 - 1) ** 2 + 0.3 * x  # noqa: E731
    r = profile_barrier(s, f)
    assert r["forward"] == pytest.approx(g(roots[1]) - g(roots[0]), abs=1e-6)
    assert r["reverse"] == pytest.approx(g(roots[1]) - g(roots[2]), abs=1e-6)
    assert r["asymmetry"] == pytest.approx(g(roots[2]) - g(roots[0]), abs=1e-6)


def test_single_well_has_no_barrier_and_bad_input_is_refused():
    s = np.linspace(-1, 1, 101)
    assert profile_barrier(s, s**2)["forward"] == 0.0
    with pytest.raises(ValueError, match="increase"):
        profile_barrier(s[::-1], s**2)
    with pytest.raises(ValueError, match="non-finite"):
        profile_barrier(s, np.where(s > 0.5, np.nan, s**2))
