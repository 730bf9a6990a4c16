"""Reciprocal-space Ewald sum for Gaussian sites grouped into width classes.

Class pair (s, t) uses the screening γ_st = min(α_st, β) (see docs/conventions.md), so sites broader
than the Ewald Gaussian are summed entirely in reciprocal space.
"""

from __future__ import annotations

import math

import torch


def reciprocal_basis(cell: torch.Tensor) -> torch.Tensor:
    """Rows b_i with a_i·b_j = 2π δ_ij (Å⁻¹), ``[3, 3]``."""
    return 2.0 * math.pi * torch.linalg.inv(cell).transpose(0, 1)


def half_space_kvectors(cell: torch.Tensor, k_max: float) -> torch.Tensor:
    """``[K, 3]`` k-vectors with 0 < |k| ≤ k_max, one of each ±k pair (Å⁻¹)."""
    lengths = torch.linalg.norm(cell.detach(), dim=1)
    n_max = [int(math.floor(k_max * float(length) / (2.0 * math.pi))) for length in lengths]
    ranges = [torch.arange(-n, n + 1, device=cell.device) for n in n_max]
    n = torch.cartesian_prod(*ranges).to(cell.dtype)  # [K0, 3]
    positive = (n[:, 0] > 0) | ((n[:, 0] == 0) & ((n[:, 1] > 0) | ((n[:, 1] == 0) & (n[:, 2] > 0))))
    n = n[positive]
    k = n @ reciprocal_basis(cell)  # [K, 3]
    keep = (k.detach() ** 2).sum(-1) <= k_max**2
    return k[keep]


def class_screening_table(pair_alpha: torch.Tensor, beta: float) -> torch.Tensor:
    """γ_st = min(α_st, β) ``[C, C]`` (Å⁻¹) from the class pair exponents ``[C, C]``."""
    return torch.clamp(pair_alpha, max=beta)


def ewald_reciprocal_potential(
    sites: torch.Tensor,
    charges: torch.Tensor,
    site_class: torch.Tensor,
    gamma: torch.Tensor,
    cell: torch.Tensor,
    k_max: float,
) -> torch.Tensor:
    """Reciprocal-space potential (Å⁻¹ · e, no Coulomb constant) at every site.

    Parameters
    ----------
    sites : torch.Tensor
        ``[M, 3]`` site positions (Å).
    charges : torch.Tensor
        ``[M]`` or ``[M, B]`` site charges (e); linear in them.
    site_class : torch.Tensor
        ``[M]`` class index of each site.
    gamma : torch.Tensor
        ``[C, C]`` class-pair screening exponents (Å⁻¹).
    cell : torch.Tensor
        ``[3, 3]`` lattice vectors (Å).
    k_max : float
        Reciprocal cutoff (Å⁻¹).
    """
    batched = charges.dim() == 2
    q = charges if batched else charges[:, None]  # [M, B]
    k = half_space_kvectors(cell, k_max)  # [K, 3]
    k2 = (k * k).sum(-1)  # [K]
    volume = torch.abs(torch.linalg.det(cell))
    phase = sites @ k.T  # [M, K]
    cos, sin = torch.cos(phase), torch.sin(phase)
    n_cls = gamma.shape[0]
    # class structure factors: [C, K, B]
    c_cls = torch.zeros(n_cls, k.shape[0], q.shape[1], dtype=q.dtype, device=q.device)
    s_cls = torch.zeros_like(c_cls)
    c_cls = c_cls.index_add(0, site_class, cos[:, :, None] * q[:, None, :])
    s_cls = s_cls.index_add(0, site_class, sin[:, :, None] * q[:, None, :])
    # filter w_st(k) = 8π/V exp(-k²/4γ_st²)/k² (factor 2 for the ±k half space) [C, C, K]
    weight = torch.exp(-k2 / (4.0 * gamma[:, :, None] ** 2)) / k2 * (8.0 * math.pi / volume)
    # per target class t: sum_s w_st C_s -> [C, K, B]
    c_field = torch.einsum("stk,skb->tkb", weight, c_cls)
    s_field = torch.einsum("stk,skb->tkb", weight, s_cls)
    potential = torch.zeros_like(q)  # [M, B]
    for t in range(n_cls):
        idx = torch.nonzero(site_class == t).flatten()
        v_t = cos[idx] @ c_field[t] + sin[idx] @ s_field[t]  # [M_t, B]
        potential = potential.index_copy(0, idx, v_t)
    return potential if batched else potential[:, 0]
