"""Pair kernels between Gaussian charges (physics only, no summation scheme).

All kernels return the potential per unit charges *without* the Coulomb constant, in Å⁻¹.
"""

from __future__ import annotations

import math

import torch

TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
PUBLISHED_TAPER_CUTOFF = 12.5  # Å


def pair_exponent(alpha_a: torch.Tensor, alpha_b: torch.Tensor) -> torch.Tensor:
    """Combined exponent α_ab = sqrt(α_a α_b / (α_a + α_b)) (Å⁻¹) for Gaussian exponents in Å⁻²."""
    return torch.sqrt(alpha_a * alpha_b / (alpha_a + alpha_b))


def erf_over_r(r: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """erf(a r)/r, smooth at r = 0 (value 2a/√π), for r ≥ 0 (Å) and a > 0 (Å⁻¹)."""
    x2 = (a * r) ** 2
    small = x2 < 1e-4
    r_safe = torch.where(small, torch.ones_like(r), r)
    exact = torch.erf(a * r_safe) / r_safe
    # series erf(x)/x = 2/√π (1 − x²/3 + x⁴/10 − x⁶/42)
    series = TWO_OVER_SQRT_PI * a * (1.0 - x2 / 3.0 + x2 * x2 / 10.0 - x2 * x2 * x2 / 42.0)
    return torch.where(small, series, exact)


def erf_over_norm(d: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """erf(a|d|)/|d| for displacement vectors ``d`` ``[..., 3]`` (Å), smooth (and differentiable) at d = 0."""
    d2 = (d * d).sum(-1)
    small = d2 * a * a < 1e-4
    norm = torch.sqrt(torch.where(small, torch.ones_like(d2), d2))
    return torch.where(small, erf_over_r_series(d2, a), torch.erf(a * norm) / norm)


def erf_over_r_series(r2: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Series of erf(a r)/r in r² (valid for a²r² ≲ 1e-4)."""
    x2 = a * a * r2
    return TWO_OVER_SQRT_PI * a * (1.0 - x2 / 3.0 + x2 * x2 / 10.0 - x2 * x2 * x2 / 42.0)


def gaussian_coulomb(r: torch.Tensor, alpha_ab: torch.Tensor) -> torch.Tensor:
    """Full Gaussian–Gaussian kernel erf(α_ab r)/r (Å⁻¹)."""
    return torch.erf(alpha_ab * r) / r


def published_taper(r: torch.Tensor, cutoff: float = PUBLISHED_TAPER_CUTOFF) -> torch.Tensor:
    """7th-order taper T(x) = 1 − 35x⁴ + 84x⁵ − 70x⁶ + 20x⁷, x = r/cutoff, zero beyond the cutoff."""
    x = (r / cutoff).clamp(max=1.0)
    x4 = x**4
    return 1.0 + x4 * (-35.0 + x * (84.0 + x * (-70.0 + 20.0 * x)))


def ewald_real_space(r: torch.Tensor, alpha_ab: torch.Tensor, beta: float) -> torch.Tensor:
    """Short-range part [erfc(β r) − erfc(α_ab r)]/r for pairs with α_ab > β, else 0 (Å⁻¹)."""
    value = (torch.erfc(beta * r) - torch.erfc(alpha_ab * r)) / r
    return torch.where(alpha_ab > beta, value, torch.zeros_like(value))
