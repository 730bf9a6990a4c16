"""Coulomb interaction of Gaussian core and shell sites under one long-range treatment.

:class:`SiteCoulomb` is built once per atomic geometry (neighbour list, classes, Ewald settings) and
then evaluates the site potential V = A(x) Q — linear in the site charges — for any shell
positions, which is all the charge/shell solver and the energy need (E_coul = ½ Qᵀ V).
"""

from __future__ import annotations

import math

import torch

from ... import units
from ...neighbors import neighbor_pairs
from . import kernels
from .ewald import class_screening_table, ewald_reciprocal_potential
from .pme import pme_reciprocal_potential
from .realspace import SitePairs, pair_kernel, real_space_potential
from .tuning import EwaldSettings, resolve_ewald

LONG_RANGE_METHODS = ("direct", "ewald", "pme", "taper")
#: Margin added to the neighbour-list cutoff so shells may move without rebuilding it (Å).
SHELL_SKIN = 1.0


class SiteCoulomb:
    """Site-site Coulomb operator for N atoms (2N sites: cores, then shells).

    Parameters
    ----------
    method : str
        ``direct`` (finite systems, all pairs), ``ewald``, ``pme`` (periodic) or ``taper``.
    positions : torch.Tensor
        ``[N, 3]`` atom positions (Å) used to build the neighbour list (not differentiated).
    alpha : torch.Tensor
        ``[N]`` Gaussian exponents (Å⁻²).
    has_shell : torch.Tensor
        ``[N]`` bool.
    cell : torch.Tensor or None
        ``[3, 3]`` lattice vectors (Å) for periodic systems.
    accuracy, cutoff, pme_order :
        Ewald/PME accuracy policy (see :func:`~.tuning.resolve_ewald`); ``cutoff`` in Å.
    taper_cutoff : float
        Cutoff of the published taper kernel (Å).
    """

    def __init__(
        self,
        method: str,
        positions: torch.Tensor,
        alpha: torch.Tensor,
        has_shell: torch.Tensor,
        cell: torch.Tensor | None = None,
        accuracy: float = 1e-6,
        cutoff: float | None = None,
        pme_order: int = 6,
        taper_cutoff: float = kernels.PUBLISHED_TAPER_CUTOFF,
    ):
        if method not in LONG_RANGE_METHODS:
            raise ValueError(f"long_range must be one of {LONG_RANGE_METHODS}, got {method!r}")
        periodic = cell is not None
        if method in ("ewald", "pme") and not periodic:
            raise ValueError(
                f"long_range={method!r} needs a periodic cell; use 'direct' for clusters"
            )
        if method == "direct" and periodic:
            raise ValueError("long_range='direct' is for finite systems; use 'ewald' or 'pme'")
        self.method = method
        self.n_atoms = positions.shape[0]
        self.has_shell = has_shell
        self.taper_cutoff = taper_cutoff
        self.settings: EwaldSettings | None = None
        self.beta = math.inf
        if method in ("ewald", "pme"):
            self.settings = resolve_ewald(cell, accuracy, cutoff, pme_order)
            self.beta = self.settings.beta
            self._cell_for_mesh, self._accuracy = cell.detach(), accuracy
        self.pairs = self._build_pairs(positions, cell)
        self.set_widths(alpha)

    def _build_pairs(self, positions: torch.Tensor, cell: torch.Tensor | None) -> SitePairs:
        n = self.n_atoms
        self.pair_reach = math.inf  # every atom pair within this distance (Å) is in the list
        if self.method == "direct":
            i, j = torch.triu_indices(n, n, offset=1, device=positions.device)
            shifts = torch.zeros(i.shape[0], 3, dtype=positions.dtype, device=positions.device)
        else:
            # taper: sites move with the shells inside a smooth kernel, so the list carries a skin;
            # Ewald/PME: pairs are defined by core distance < r_c (the kernel is ~δ there)
            reach = (
                self.taper_cutoff + SHELL_SKIN if self.method == "taper" else self.settings.cutoff
            )
            i, j, shifts = neighbor_pairs(positions, cell, cell is not None, reach)
            self.pair_reach = reach
        return SitePairs(i, j, shifts, n, self.has_shell)

    def set_widths(self, alpha: torch.Tensor) -> None:
        """(Re)assign Gaussian exponents ``[N]`` (Å⁻²); differentiable when they are parameters."""
        site_alpha = torch.cat([alpha, alpha])  # [2N]
        self.pair_alpha = kernels.pair_exponent(site_alpha[self.pairs.a], site_alpha[self.pairs.b])
        self.atom_pair_alpha = kernels.pair_exponent(
            alpha[self.pairs.atom_i], alpha[self.pairs.atom_j]
        )
        # width classes: one per distinct exponent
        values, atom_class = torch.unique(alpha.detach(), return_inverse=True)
        self.site_class = torch.cat([atom_class, atom_class])
        first = torch.zeros(values.shape[0], dtype=torch.long, device=alpha.device)
        first = first.scatter(0, atom_class, torch.arange(self.n_atoms, device=alpha.device))
        class_alpha = alpha[first]  # [C], keeps the graph to the parameters
        self.class_pair_alpha = kernels.pair_exponent(class_alpha[:, None], class_alpha[None, :])
        if self.settings is not None:
            self.gamma = class_screening_table(self.class_pair_alpha, self.beta)  # [C, C]
            s = self.settings  # k_max and mesh follow the largest γ (docs/conventions.md)
            self.settings = resolve_ewald(
                self._cell_for_mesh,
                self._accuracy,
                s.cutoff,
                s.order,
                float(self.gamma.detach().max()),
            )
            self.self_gamma = torch.clamp(torch.sqrt(site_alpha / 2.0), max=self.beta)  # [2N]

    def potential(
        self, sites: torch.Tensor, charges: torch.Tensor, cell: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Electrostatic potential (V = eV/e) at every site, linear in ``charges``.

        Parameters
        ----------
        sites : torch.Tensor
            ``[2N, 3]`` site positions (Å): cores then shells.
        charges : torch.Tensor
            ``[2N]`` or ``[2N, B]`` site charges (e).
        cell : torch.Tensor or None
            ``[3, 3]`` lattice vectors (Å), may carry a strain graph.
        """
        r = self.pairs.distances(sites, cell)
        kind = "ewald" if self.settings is not None else self.method
        kernel = pair_kernel(kind, r, self.pair_alpha, self.beta, self.taper_cutoff)
        potential = real_space_potential(self.pairs, kernel, charges)
        if self.settings is not None:
            potential = potential + self._reciprocal(sites, charges, cell)
        return units.COULOMB_EV_ANGSTROM * potential

    def _reciprocal(self, sites, charges, cell) -> torch.Tensor:
        s = self.settings
        if self.method == "ewald":
            rec = ewald_reciprocal_potential(
                sites, charges, self.site_class, self.gamma, cell, s.k_max
            )
        else:
            rec = pme_reciprocal_potential(
                sites, charges, self.site_class, self.gamma, cell, s.mesh, s.order
            )
        batched = charges.dim() == 2
        sg = self.self_gamma if not batched else self.self_gamma[:, None]
        rec = rec - kernels.TWO_OVER_SQRT_PI * sg * charges  # self interaction
        rec = rec + self._exclusion(sites, charges)
        return rec + self._k_zero(charges, cell)

    def _exclusion(self, sites: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
        """Remove the reciprocal-space core–shell interaction of each atom with its own shell."""
        n = self.n_atoms
        d = sites[n:] - sites[:n]  # [N, 3]
        f = kernels.erf_over_norm(d, self.self_gamma[:n]) * self.has_shell  # [N]
        if charges.dim() == 2:
            f = f[:, None]
        return -torch.cat([f * charges[n:], f * charges[:n]])

    def _k_zero(self, charges: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """k = 0 limit of the class-screened sum (neutralising background for net charge)."""
        volume = torch.abs(torch.linalg.det(cell))
        n_cls = self.gamma.shape[0]
        q = charges if charges.dim() == 2 else charges[:, None]
        class_total = torch.zeros(n_cls, q.shape[1], dtype=q.dtype, device=q.device)
        class_total = class_total.index_add(0, self.site_class, q)  # [C, B]
        per_class = -(math.pi / volume) * (1.0 / self.gamma**2) @ class_total  # [C, B]
        out = per_class[self.site_class]
        return out if charges.dim() == 2 else out[:, 0]
