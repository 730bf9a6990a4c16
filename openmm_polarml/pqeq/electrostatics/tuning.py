"""Accuracy policy: Ewald splitting parameter, k-space cutoff and PME mesh for a target error."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import CellTooSmallError
from .pme import smooth_mesh_size

DEFAULT_CUTOFF = (
    6.0  # Å (with the calibrated PME mesh, the fastest choice from 600 to 10,000 atoms)
)
DEFAULT_ACCURACY = 1e-6
DEFAULT_PME_ORDER = 6
#: Calibrated PME interpolation error c_p (βh)^p (RMS site-potential error relative to the RMS
#: reciprocal potential, smooth PME with modulus correction vs the converged Ewald sum; h = mesh
#: spacing along a lattice vector). Measured on a random-charge water box for β = 0.35–0.7 Å⁻¹.
PME_ERROR_COEFFICIENT = {4: 1.7e-2, 5: 4.5e-3, 6: 4.0e-3, 7: 4.0e-3, 8: 4.0e-3}


def perpendicular_widths(cell: torch.Tensor) -> torch.Tensor:
    """Distances between opposite faces of the cell, ``[3]`` (Å)."""
    cell = cell.detach()
    volume = torch.abs(torch.linalg.det(cell))
    a, b, c = cell
    areas = torch.stack(
        [
            torch.linalg.norm(torch.linalg.cross(b, c)),
            torch.linalg.norm(torch.linalg.cross(c, a)),
            torch.linalg.norm(torch.linalg.cross(a, b)),
        ]
    )
    return volume / areas


@dataclass(frozen=True)
class EwaldSettings:
    """Resolved parameters of one Ewald/PME evaluation.

    Attributes
    ----------
    cutoff : float
        Real-space cutoff (Å).
    beta : float
        Splitting parameter (Å⁻¹).
    k_max : float
        Reciprocal cutoff of the explicit Ewald sum (Å⁻¹).
    mesh : tuple of int
        PME mesh points per lattice vector.
    order : int
        B-spline order of PME.
    """

    cutoff: float
    beta: float
    k_max: float
    mesh: tuple[int, int, int]
    order: int


def resolve_ewald(
    cell: torch.Tensor,
    accuracy: float = DEFAULT_ACCURACY,
    cutoff: float | None = None,
    order: int = DEFAULT_PME_ORDER,
    screening: float | None = None,
) -> EwaldSettings:
    """Choose β, k_max and the PME mesh for relative accuracy ``accuracy`` (docs/conventions.md).

    ``screening`` (Å⁻¹) is the largest class-pair exponent γ_st = min(α_st, β) the reciprocal sum
    carries (default β). Every reciprocal kernel decays as exp(−k²/4γ_st²), so k_max and the mesh
    spacing follow the largest γ: when all pairs are broader than the split (NaCl, BaTiO3: γ_max ≈
    0.34 Å⁻¹ against β ≈ 0.6 Å⁻¹) the mesh is correspondingly coarser at the same accuracy.

    Raises
    ------
    CellTooSmallError
        If ``cutoff`` exceeds half the smallest perpendicular cell width.
    """
    half_width = 0.5 * float(perpendicular_widths(cell).min())
    if cutoff is None:
        cutoff = min(DEFAULT_CUTOFF, half_width)
    elif cutoff > half_width * (1.0 + 1e-12):
        raise CellTooSmallError(
            f"real-space cutoff {cutoff:.3f} Å exceeds half the smallest cell width "
            f"({half_width:.3f} Å): use cutoff <= {half_width:.3f} Å or a larger supercell"
        )
    if not 0.0 < accuracy < 0.5:
        raise ValueError(f"accuracy must be in (0, 0.5), got {accuracy}")
    beta = math.sqrt(-math.log(2.0 * accuracy)) / cutoff
    gamma_max = beta if screening is None else min(float(screening), beta)
    k_max = 2.0 * gamma_max * math.sqrt(-math.log(accuracy))
    lengths = torch.linalg.norm(cell.detach(), dim=1).tolist()
    spacing = pme_mesh_spacing(gamma_max, accuracy, order)
    mesh = tuple(
        smooth_mesh_size(max(math.ceil(length / spacing), 2 * order)) for length in lengths
    )
    return EwaldSettings(cutoff=cutoff, beta=beta, k_max=k_max, mesh=mesh, order=order)


def pme_mesh_spacing(beta: float, accuracy: float, order: int) -> float:
    """Largest PME mesh spacing h (Å) whose interpolation error c_p (βh)^p stays below ``accuracy``.

    Parameters
    ----------
    beta : float
        Largest screening exponent of the reciprocal sum (Å⁻¹): the Ewald splitting parameter, or
        the largest class-pair γ when that is smaller.
    accuracy : float
        Target relative error δ.
    order : int
        B-spline order p (4–8).
    """
    if order not in PME_ERROR_COEFFICIENT:
        raise ValueError(f"PME order must be one of {sorted(PME_ERROR_COEFFICIENT)}, got {order}")
    return (accuracy / PME_ERROR_COEFFICIENT[order]) ** (1.0 / order) / beta
