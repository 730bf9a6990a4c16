"""Split-charge equilibration: charge moves along bonds, never between distant atoms.

Global charge equilibration lets charge flow between any two atoms of a fragment at no cost
beyond the Coulomb energy, so ion pairs do not dissociate into integer ions and the dipole of a
periodic cell depends on which image of each atom is taken. Split-charge equilibration (Nistor,
Gordon & Müser, Phys. Rev. B 74, 094104 (2006)) writes every charge as a reference charge plus
the charge carried across its bonds,

    q_i = q⁰_i + Σ_b B_ib p_b,     p_b = w(r_b) s_b,     E_ct = ½ Σ_b κ_b s_b²,

with B_ib = +1 if atom i is the first atom of bond b, −1 if it is the second. ``s_b`` are the
solver's variables; ``w`` is 1 for bonds up to :data:`SPLIT_TAPER_ONSET` and tapers smoothly to
zero at :data:`DEFAULT_SPLIT_CUTOFF` (the bond
hardness κ_b / w² diverges there, so atoms farther apart exchange no charge and separated
fragments keep their reference charges: integer ions). Each bond carries the dipole p_b R_b along
its own bond vector R_b, so the polarisation

    μ = Σ_i q⁰_i u_i + Σ_b p_b R_b − Σ_i Z_i d_i

does not depend on the image in which an atom is stored, and the acoustic sum rule holds.

The reference charges q⁰ are the fragment charges spread evenly over each fragment's atoms (the
charge model's molecules with formal charges, or one fragment with the total charge).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..neighbors import neighbor_pairs

#: Bonds longer than this carry no charge (Å).
DEFAULT_SPLIT_CUTOFF = 5.0
#: Bonds shorter than this carry charge at their full conductance (taper w = 1) (Å): first
#: neighbours in molecules, ion–water contacts and ionic crystals.
SPLIT_TAPER_ONSET = 2.5
#: Default bond hardness per element (eV/e²); a bond's hardness is κ_i + κ_j.
DEFAULT_BOND_HARDNESS = 1.0
#: Bond hardness never falls below this (eV/e²): keeps the bond Hessian positive definite.
MIN_BOND_HARDNESS = 0.05
#: Largest atomic number with a bond hardness entry.
MAX_ATOMIC_NUMBER = 103


def bond_taper(length: torch.Tensor, cutoff: float) -> torch.Tensor:
    """w = 1 − 10x³ + 15x⁴ − 6x⁵ with x = (r − r_on) / (r_c − r_on) clamped to [0, 1]
    (r_on = :data:`SPLIT_TAPER_ONSET`, or r_c / 2 for short cutoffs): 1 up to r_on, 0 from r_c on,
    with w' and w'' continuous at both ends (no force jump when a bond enters or leaves)."""
    onset = min(SPLIT_TAPER_ONSET, 0.5 * cutoff)
    x = ((length - onset) / (cutoff - onset)).clamp(0.0, 1.0)
    return 1.0 - x**3 * (10.0 - 15.0 * x + 6.0 * x * x)


class BondHardness(torch.nn.Module):
    """Per-element bond hardness κ_Z (eV/e²), optionally trainable (softplus above
    :data:`MIN_BOND_HARDNESS`); a bond between elements Z₁ and Z₂ has κ = κ_Z₁ + κ_Z₂."""

    def __init__(self, value: float = DEFAULT_BOND_HARDNESS, trainable: bool = False):
        super().__init__()
        if not value > MIN_BOND_HARDNESS:
            raise ValueError(f"bond hardness must exceed {MIN_BOND_HARDNESS} eV/e², got {value!r}")
        start = torch.full((MAX_ATOMIC_NUMBER + 1,), float(value) - MIN_BOND_HARDNESS)
        raw = start + torch.log(-torch.expm1(-start))  # inverse softplus
        if trainable:
            self.raw = torch.nn.Parameter(raw.to(torch.float64))
        else:
            self.register_buffer("raw", raw.to(torch.float64))

    def per_atom(self, numbers: torch.Tensor) -> torch.Tensor:
        """κ of each atom ``[N]`` (eV/e²)."""
        return torch.nn.functional.softplus(self.raw)[numbers] + MIN_BOND_HARDNESS


@dataclass(frozen=True)
class BondGraph:
    """The bonds that carry charge, with their hardness and the reference charges.

    Attributes
    ----------
    first, second : torch.Tensor
        ``[M]`` atom indices (long): bond b moves charge p_b from ``second`` to ``first``.
    shifts : torch.Tensor
        ``[M, 3]`` integer cell shifts: the second atom sits at r_j + shifts·cell.
    hardness : torch.Tensor
        ``[M]`` κ_b (eV/e²), with the graph to trainable parameters.
    reference : torch.Tensor
        ``[N]`` reference charges q⁰ (e).
    cutoff : float
        r_c of the taper (Å).
    """

    first: torch.Tensor
    second: torch.Tensor
    shifts: torch.Tensor
    hardness: torch.Tensor
    reference: torch.Tensor
    cutoff: float

    @property
    def count(self) -> int:
        return int(self.first.shape[0])

    def vectors(self, positions: torch.Tensor, cell: torch.Tensor | None) -> torch.Tensor:
        """Bond vectors R_b = r_i − (r_j + S·cell) ``[M, 3]`` (Å), differentiable."""
        vec = positions.index_select(0, self.first) - positions.index_select(0, self.second)
        if cell is not None:
            vec = vec - self.shifts.to(positions.dtype) @ cell
        return vec

    def weights(self, positions: torch.Tensor, cell: torch.Tensor | None) -> torch.Tensor:
        """Taper w(|R_b| / r_c) ``[M]``, differentiable."""
        length = torch.linalg.norm(self.vectors(positions, cell), dim=1)
        return bond_taper(length, self.cutoff)

    def charges(self, s: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Atomic charges q = q⁰ + B (w ∘ s) ``[N]`` (e) from bond variables ``s`` ``[M]``."""
        p = weights * s  # [M] e
        q = self.reference.to(s.dtype)
        return q.index_add(0, self.first, p).index_add(0, self.second, -p)

    def pull_back(self, grad_q: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """∂E/∂s ``[M]`` of an energy whose charge gradient is ``grad_q`` ``[N]`` (eV/e)."""
        return weights * (grad_q.index_select(0, self.first) - grad_q.index_select(0, self.second))

    def penalty(self, s: torch.Tensor) -> torch.Tensor:
        """Charge-transfer energy ½ Σ κ_b s_b² (eV)."""
        return 0.5 * torch.sum(self.hardness.to(s.dtype) * s * s)

    def transfer_dipole(
        self, s: torch.Tensor, weights: torch.Tensor, vectors: torch.Tensor, u: torch.Tensor
    ) -> torch.Tensor:
        """Σ q⁰_i u_i + Σ p_b R_b ``[3]`` (e·Å): the core-charge dipole, image-independent."""
        p = weights * s  # [M]
        return (self.reference.to(s.dtype)[:, None] * u).sum(0) + (p[:, None] * vectors).sum(0)

    def laplacian(self, weights: torch.Tensor, n: int) -> torch.Tensor:
        """Dense L = B W K⁻¹ W Bᵀ ``[N, N]`` (e²/eV): the charge response of the bonds alone."""
        g = weights * weights / self.hardness.to(weights.dtype)  # [M]
        lap = torch.zeros(n, n, dtype=weights.dtype, device=weights.device)
        i, j = self.first, self.second
        lap.index_put_((i, i), g, accumulate=True)
        lap.index_put_((j, j), g, accumulate=True)
        lap.index_put_((i, j), -g, accumulate=True)
        lap.index_put_((j, i), -g, accumulate=True)
        return lap

    def to(self, dtype: torch.dtype) -> BondGraph:
        """A detached copy with floating tensors in ``dtype``."""
        return BondGraph(
            self.first,
            self.second,
            self.shifts.to(dtype),
            self.hardness.detach().to(dtype),
            self.reference.detach().to(dtype),
            self.cutoff,
        )


def build_bond_graph(
    positions: torch.Tensor,
    cell: torch.Tensor | None,
    atom_hardness: torch.Tensor,
    reference: torch.Tensor,
    cutoff: float = DEFAULT_SPLIT_CUTOFF,
) -> BondGraph:
    """Every pair (with its periodic image) closer than ``cutoff`` (Å) as a bond.

    Parameters
    ----------
    positions : torch.Tensor
        ``[N, 3]`` (Å).
    cell : torch.Tensor or None
        ``[3, 3]`` lattice vectors as rows (Å) for periodic systems. Pairs of an atom with its own
        images count as bonds: they carry no net charge but the current that polarises a small
        cell exactly as the same bonds do in its supercell.
    atom_hardness : torch.Tensor
        ``[N]`` κ_Z of each atom (eV/e²).
    reference : torch.Tensor
        ``[N]`` reference charges q⁰ (e).
    cutoff : float
        Taper radius r_c (Å).
    """
    first, second, shifts = neighbor_pairs(positions, cell, cell is not None, cutoff)
    hardness = atom_hardness.index_select(0, first) + atom_hardness.index_select(0, second)
    return BondGraph(first, second, shifts, hardness, reference, float(cutoff))


def reference_charges(fragments) -> torch.Tensor:
    """q⁰ ``[N]`` (e): each fragment's total charge spread evenly over its atoms."""
    counts = fragments.sum(torch.ones_like(fragments.index, dtype=fragments.charges.dtype))
    return (fragments.charges / counts)[fragments.index]


class SplitChargePreconditioner:
    """Exact inverse of the bond-space Hessian Pᵀ H P + K (P = B W), applied through the
    Woodbury identity in charge space so that only ``[N, N]`` matrices are factorised:

        (Pᵀ H P + K)⁻¹ = K⁻¹ − K⁻¹ Pᵀ H (I + L H)⁻¹ P K⁻¹,   L = P K⁻¹ Pᵀ.

    With ``hessian`` None, H is replaced by its diagonal η (the matrix-free solver's choice)."""

    def __init__(self, graph: BondGraph, weights: torch.Tensor, eta: torch.Tensor, hessian=None):
        n = eta.shape[0]
        self.graph, self.weights = graph, weights.to(torch.float64)
        self.inv_hardness = 1.0 / graph.hardness.to(torch.float64)
        h = torch.diag(eta.to(torch.float64)) if hessian is None else hessian.to(torch.float64)
        lap = graph.laplacian(self.weights, n)
        eye = torch.eye(n, dtype=torch.float64, device=eta.device)
        self.hessian = h
        self.factor = torch.linalg.lu_factor(eye + lap @ h)

    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        dtype = g.dtype
        k_g = self.inv_hardness * g.to(torch.float64)  # [M]
        zeros = torch.zeros(self.hessian.shape[0], dtype=torch.float64, device=g.device)
        first, second, w = self.graph.first, self.graph.second, self.weights
        pk_g = zeros.index_add(0, first, w * k_g).index_add(0, second, -w * k_g)  # P K⁻¹ g [N]
        y = self.hessian @ torch.linalg.lu_solve(*self.factor, pk_g[:, None])[:, 0]  # [N]
        back = self.graph.pull_back(y, w)  # Pᵀ y  [M]
        return (k_g - self.inv_hardness * back).to(dtype)
