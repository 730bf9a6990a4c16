"""Charge-block preconditioner with the long-wavelength Coulomb modes of periodic cells.

The charge Hessian is H = diag(η) + J. For a charge-density wave of wave vector k the Coulomb part
grows like 4π k_e ρ / k², so in a box of edge L the longest waves are (L/a)² times stiffer than
diag(η) says: with a diagonal preconditioner the iteration count grows like N^{1/3}. Here
H ≈ D + U Uᵀ with U_{i,k} = sqrt(w_k) (cos k·r_i, sin k·r_i) for the reciprocal vectors below a
small cutoff (w_k = (8π k_e / V) exp(−k²/4β²)/k², the Ewald weights), inverted exactly by the
Woodbury identity: M⁻¹ = D⁻¹ − D⁻¹U (I + UᵀD⁻¹U)⁻¹ UᵀD⁻¹. M is symmetric positive definite for any
positions, so it is always a valid preconditioner; the cutoff only trades its cost for its quality.
"""

from __future__ import annotations

import math

import torch

from .. import units
from .electrostatics.ewald import half_space_kvectors
from .solver import ConstrainedInverse, Fragments

#: At most this many half-space k-vectors in U (cost: N × 2K per application).
MAX_WAVES = 400
#: Waves shorter than this many Å are left to the diagonal (their Coulomb stiffness ~ η).
SHORTEST_WAVELENGTH = 6.0
#: Up to this many fragments the constraints are applied exactly in the preconditioner metric.
MAX_SCHUR_FRAGMENTS = 64
#: A cached charge preconditioner is rebuilt once an atom has moved this far (Å) from where it was
#: built (the long-wavelength one's waves are ≥ 6 Å long; the dense Hessian changes by ~1 %).
PRECONDITIONER_REUSE_DISTANCE = 0.3


class LongWaveChargePreconditioner:
    """z ≈ H⁻¹ g on the fragment-constraint subspace (periodic cells).

    Parameters
    ----------
    positions : torch.Tensor
        ``[N, 3]`` core positions (Å).
    cell : torch.Tensor
        ``[3, 3]`` lattice vectors (Å).
    eta : torch.Tensor
        ``[N]`` hardness (eV/e²).
    fragments : Fragments
        Charge constraints.
    beta : float
        Gaussian damping of the waves (Å⁻¹), e.g. the Ewald splitting parameter.
    """

    def __init__(self, positions, cell, eta, fragments: Fragments, beta: float):
        with torch.no_grad():
            self.inv_d = 1.0 / eta.detach()
            self.basis = self._waves(positions.detach(), cell.detach(), beta)  # [N, 2K]
            du = self.inv_d[:, None] * self.basis
            inner = torch.eye(self.basis.shape[1], dtype=eta.dtype, device=eta.device)
            inner = inner + self.basis.T @ du  # [2K, 2K], SPD
            self.factor = torch.linalg.cholesky(inner)
            self.fragments = fragments
            self.exact = None
            if fragments.count <= MAX_SCHUR_FRAGMENTS:
                self.exact = ConstrainedInverse(
                    self._apply, fragments, eta.shape[0], eta.dtype, eta.device
                )

    @staticmethod
    def _waves(positions, cell, beta):
        volume = float(torch.abs(torch.linalg.det(cell)))
        k_cut = min(
            2.0 * math.pi / SHORTEST_WAVELENGTH, (12.0 * math.pi**2 * MAX_WAVES / volume) ** (1 / 3)
        )
        k = half_space_kvectors(cell, k_cut)  # [K, 3]
        k2 = (k * k).sum(-1)
        weight = (
            (8.0 * math.pi * units.COULOMB_EV_ANGSTROM / volume)
            * torch.exp(-k2 / (4.0 * beta**2))
            / k2
        )
        phase = positions @ k.T  # [N, K]
        root = torch.sqrt(weight)
        return torch.cat([torch.cos(phase) * root, torch.sin(phase) * root], dim=1)  # [N, 2K]

    def _apply(self, g: torch.Tensor) -> torch.Tensor:
        """M⁻¹ g by the Woodbury identity, for ``g`` ``[N]`` or ``[N, B]``."""
        inv_d = self.inv_d if g.dim() == 1 else self.inv_d[:, None]
        dg = inv_d * g
        if self.basis.shape[1] == 0:
            return dg
        rhs = self.basis.T @ dg  # [2K] or [2K, B]
        coef = torch.cholesky_solve(rhs.reshape(rhs.shape[0], -1), self.factor).reshape(rhs.shape)
        return dg - inv_d * (self.basis @ coef)

    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        if self.exact is not None:
            return self.exact(g)
        f = self.fragments
        z = self._apply(g - f.mean(g)[f.index])
        return z - f.mean(z)[f.index]


def cached_preconditioner(kind: str, build, positions, key: tuple, cache: dict | None):
    """``build()``, or the preconditioner of this ``kind`` kept in ``cache`` when it was built
    for the same ``key`` (tensors, then the Ewald split) at positions within
    :data:`PRECONDITIONER_REUSE_DISTANCE` (Å) of these. Any stored one stays symmetric positive
    definite, hence a valid preconditioner; only the iteration count depends on the choice."""
    key = (*(t.detach().clone() for t in key[:-1]), key[-1])
    stored = None if cache is None else cache.get(kind)
    if stored is not None and _same_key(stored[0], key):
        moved = float((positions - stored[1]).norm(dim=1).max())
        if moved < PRECONDITIONER_REUSE_DISTANCE:
            return stored[2]
    pre = build()
    if cache is not None:
        cache[kind] = (key, positions.clone(), pre)
    return pre


def _same_key(a: tuple, b: tuple) -> bool:
    if len(a) != len(b) or a[-1] != b[-1]:
        return False
    pairs = zip(a[:-1], b[:-1], strict=True)
    return all(x.shape == y.shape and torch.equal(x, y) for x, y in pairs)
