"""Radial basis functions and the smooth polynomial cutoff envelope (NequIP form)."""

from __future__ import annotations

import math

import torch


class BesselBasis(torch.nn.Module):
    """Bessel radial basis ``sqrt(2/r_max) sin(n π r / r_max) / r``, n = 1..num_basis.

    Parameters
    ----------
    r_max : float
        Cutoff radius (Å).
    num_basis : int
        Number of basis functions.
    trainable : bool
        Whether the frequencies ``n π`` are trainable.
    """

    def __init__(self, r_max: float, num_basis: int = 8, trainable: bool = True):
        super().__init__()
        self.r_max = float(r_max)
        self.prefactor = math.sqrt(2.0 / self.r_max)
        freqs = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) * math.pi
        if trainable:
            self.freqs = torch.nn.Parameter(freqs)
        else:
            self.register_buffer("freqs", freqs)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """``r`` [E] (Å) -> [E, num_basis] (1/Å)."""
        x = r.unsqueeze(-1) / self.r_max  # [E, 1]
        return self.prefactor * torch.sin(self.freqs * x) / r.unsqueeze(-1)  # [E, num_basis]


class PolynomialCutoff(torch.nn.Module):
    """Smooth envelope ``f(x) = 1 − (p+1)(p+2)/2 xᵖ + p(p+2) xᵖ⁺¹ − p(p+1)/2 xᵖ⁺²``, zero for x ≥ 1.

    ``f`` and its first two derivatives vanish at ``r = r_max``, so energies and forces go smoothly
    to zero at the cutoff.

    Parameters
    ----------
    r_max : float
        Cutoff radius (Å).
    p : int
        Polynomial order (6 in NequIP).
    """

    def __init__(self, r_max: float, p: int = 6):
        super().__init__()
        self.r_max = float(r_max)
        self.p = float(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """``r`` [E] (Å) -> envelope [E] (dimensionless)."""
        p = self.p
        x = r / self.r_max
        out = (
            1.0
            - 0.5 * (p + 1.0) * (p + 2.0) * torch.pow(x, p)
            + p * (p + 2.0) * torch.pow(x, p + 1.0)
            - 0.5 * p * (p + 1.0) * torch.pow(x, p + 2.0)
        )
        return out * (x < 1.0).to(out.dtype)
