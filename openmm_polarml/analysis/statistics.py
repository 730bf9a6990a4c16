"""Error bars for MD observables: block averages and a bootstrapped Arrhenius fit.

Block averaging (Flyvbjerg & Petersen 1989) splits a correlated series into contiguous blocks;
once the blocks are longer than the correlation time their means are independent and the
standard error of the mean is their spread / sqrt(n_blocks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..units import BOLTZMANN_EV_PER_K

__all__ = ["BlockEstimate", "block_average", "block_estimates", "arrhenius_fit"]


@dataclass
class BlockEstimate:
    """Mean of a series with the standard error from ``n_blocks`` block means."""

    mean: float
    sem: float
    n_blocks: int
    block_means: np.ndarray  # [n_blocks]


def block_average(series: np.ndarray, n_blocks: int = 5) -> BlockEstimate:
    """Mean and standard error of a time series from ``n_blocks`` contiguous blocks.

    Parameters
    ----------
    series : numpy.ndarray
        ``[n_frames]`` samples at equal time spacing (any unit); the tail that does not fill a
        whole block is dropped.
    n_blocks : int
        Number of blocks (>= 2); each block must outlast the correlation time.
    """
    series = np.asarray(series, dtype=np.float64).ravel()
    if n_blocks < 2:
        raise ValueError("block_average needs n_blocks >= 2 for an error bar")
    size = series.size // n_blocks
    if size < 1:
        raise ValueError(f"{series.size} samples cannot fill {n_blocks} blocks")
    means = series[: size * n_blocks].reshape(n_blocks, size).mean(axis=1)
    sem = float(means.std(ddof=1) / np.sqrt(n_blocks))
    return BlockEstimate(float(means.mean()), sem, n_blocks, means)


def block_estimates(estimator, n_frames: int, n_blocks: int = 5) -> BlockEstimate:
    """Apply ``estimator(start, stop)`` (a function of a frame range returning a float, e.g. a
    diffusion coefficient from that stretch of trajectory) to ``n_blocks`` contiguous blocks;
    the mean and standard error of the block values."""
    if n_blocks < 2:
        raise ValueError("block_estimates needs n_blocks >= 2 for an error bar")
    size = n_frames // n_blocks
    values = np.array([estimator(k * size, (k + 1) * size) for k in range(n_blocks)])
    sem = float(values.std(ddof=1) / np.sqrt(n_blocks))
    return BlockEstimate(float(values.mean()), sem, n_blocks, values)


def arrhenius_fit(
    temperatures_k: np.ndarray,
    rates: np.ndarray,
    rate_errors: np.ndarray | None = None,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """Activation energy from ``rate = A exp(-Ea / kB T)``, with a bootstrap error bar.

    Parameters
    ----------
    temperatures_k : numpy.ndarray
        ``[n]`` temperatures (K), n >= 2.
    rates : numpy.ndarray
        ``[n]`` positive rates or diffusion coefficients (any unit; A carries it).
    rate_errors : numpy.ndarray, optional
        ``[n]`` standard errors of ``rates``: the bootstrap resamples each rate from a normal
        distribution of that width (parametric); without them it resamples the points
        (needs n >= 3).
    n_bootstrap : int
        Bootstrap samples.

    Returns
    -------
    dict
        ``Ea_eV``, ``Ea_err_eV`` (bootstrap standard deviation), ``prefactor`` (rate unit).
    """
    t = np.asarray(temperatures_k, dtype=np.float64)
    r = np.asarray(rates, dtype=np.float64)
    if t.size < 2 or t.size != r.size:
        raise ValueError("arrhenius_fit needs matching temperatures and rates, at least two")
    if np.any(r <= 0) or np.any(t <= 0):
        raise ValueError("arrhenius_fit needs positive temperatures and rates")
    x = 1.0 / (BOLTZMANN_EV_PER_K * t)  # 1/eV
    slope, intercept = np.polyfit(x, np.log(r), 1)
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n_bootstrap):
        if rate_errors is not None:
            rs = r + rng.normal(size=r.size) * np.asarray(rate_errors, dtype=np.float64)
            if np.any(rs <= 0):
                continue
            samples.append(-np.polyfit(x, np.log(rs), 1)[0])
        else:
            pick = rng.integers(0, t.size, t.size)
            if np.unique(x[pick]).size >= 2:
                samples.append(-np.polyfit(x[pick], np.log(r[pick]), 1)[0])
    return {
        "Ea_eV": float(-slope),
        "Ea_err_eV": float(np.std(samples, ddof=1)) if len(samples) > 1 else float("nan"),
        "prefactor": float(np.exp(intercept)),
    }
