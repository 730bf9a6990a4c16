"""Analytic site potential and shell gradient at fixed cores: the inner loop of the charge/shell solve.

During a solve the cores do not move, so everything that depends only on core positions is built
once (core–core real-space kernel values, core B-spline stencils, influence functions, Ewald core
structure factors). Each evaluation then needs only the pairs and stencils that involve shells, and
returns ∂(½QᵀAQ)/∂d analytically (no autograd graph). It computes exactly the same Coulomb energy as
:meth:`SiteCoulomb.potential` (same pair list, kernels and reciprocal treatment); the tests check the
two against each other to rounding.
"""

from __future__ import annotations

import math

import torch

from ... import units
from . import kernels, native
from .coulomb import SiteCoulomb
from .ewald import half_space_kvectors
from .pme import FrozenCorePME

#: Ewald real-space kernels are tabulated (native path) up to the cutoff plus this reach (Å): shell
#: pairs of cores closer than the cutoff; pairs beyond (shells displaced that far) are exact.
TABLE_SHELL_REACH = 0.5


def kernel_and_derivative(kind: str, r, alpha, beta: float, taper_cutoff: float):
    """Pair kernel K(r) and dK/dr (Å⁻¹, Å⁻²) for ``direct``/``taper``/``ewald`` (no Coulomb constant)."""
    gauss = kernels.TWO_OVER_SQRT_PI * alpha * torch.exp(-((alpha * r) ** 2))  # d erf(αr)/dr
    if kind == "ewald":
        value = kernels.ewald_real_space(r, alpha, beta)
        screen = kernels.TWO_OVER_SQRT_PI * beta * torch.exp(-((beta * r) ** 2))
        return value, (gauss - screen - value) / r
    value = kernels.gaussian_coulomb(r, alpha)
    slope = (gauss - value) / r
    if kind == "direct":
        return value, slope
    x = (r / taper_cutoff).clamp(max=1.0)
    taper = kernels.published_taper(r, taper_cutoff)
    dtaper = 140.0 * x**3 * (-1.0 + x * (3.0 - x * (3.0 - x))) / taper_cutoff  # dT/dr
    return value * taper, slope * taper + value * dtaper


def erf_over_norm_and_gradient(d: torch.Tensor, a: torch.Tensor):
    """f = erf(a|d|)/|d| ``[N]`` and ∇_d f ``[N, 3]`` for displacements ``d`` ``[N, 3]`` (Å), smooth at 0."""
    r2 = (d * d).sum(-1)
    x2 = a * a * r2
    small = x2 < 1e-4
    lead = kernels.TWO_OVER_SQRT_PI * a
    value = kernels.erf_over_norm(d, a)  # the same f as SiteCoulomb's exclusion term
    exact_df_dr2 = (lead * torch.exp(-x2) - value) / (2.0 * r2.clamp_min(1e-300))
    series_df_dr2 = lead * a * a * (-1.0 / 3.0 + x2 / 5.0 - x2 * x2 / 14.0)
    df_dr2 = torch.where(small, series_df_dr2, exact_df_dr2)
    return value, 2.0 * df_dr2[:, None] * d


class FrozenCoreCoulomb:
    """Site potential V = A(x) Q (V) and ∂(½QᵀAQ)/∂d (eV/Å) for moving shells and fixed cores.

    Parameters
    ----------
    coulomb : SiteCoulomb
        The operator whose energy this reproduces (pair list, widths, Ewald settings).
    cores : torch.Tensor
        ``[N, 3]`` core positions (Å), fixed for the lifetime of this object.
    cell : torch.Tensor or None
        ``[3, 3]`` lattice vectors (Å).
    """

    def __init__(self, coulomb: SiteCoulomb, cores: torch.Tensor, cell: torch.Tensor | None):
        with torch.no_grad():
            self._setup(coulomb, cores.detach(), None if cell is None else cell.detach())

    def _setup(self, coulomb, cores, cell):
        self.coulomb, self.cell, self.cores, self.n = coulomb, cell, cores, cores.shape[0]
        self.kind = "ewald" if coulomb.settings is not None else coulomb.method
        pairs = coulomb.pairs
        has_shell = coulomb.has_shell
        alpha = coulomb.atom_pair_alpha.detach()  # [P]
        vec = cores[pairs.atom_j] - cores[pairs.atom_i]  # [P, 3]
        if cell is not None and pairs.atom_shifts.numel():
            vec = vec + pairs.atom_shifts @ cell
        keep = (
            alpha > coulomb.beta
            if self.kind == "ewald"
            else torch.ones_like(alpha, dtype=torch.bool)
        )
        self.i, self.j, self.vec, self.alpha = (
            pairs.atom_i[keep],
            pairs.atom_j[keep],
            vec[keep],
            alpha[keep],
        )
        self.k_cc, _ = self._kernel(torch.linalg.norm(self.vec, dim=-1), self.alpha)
        cs, sc = has_shell[self.j], has_shell[self.i]  # (core i, shell j), (shell i, core j)
        # every core–shell pair as (core a, shell b, x_b − x_a at d = 0, α)
        self.cs_core = torch.cat([self.i[cs], self.j[sc]])
        self.cs_shell = torch.cat([self.j[cs], self.i[sc]])
        self.cs_vec = torch.cat([self.vec[cs], -self.vec[sc]])
        self.cs_alpha = torch.cat([self.alpha[cs], self.alpha[sc]])
        ss = cs & sc
        self.ss_i, self.ss_j = self.i[ss], self.j[ss]
        self.ss_vec, self.ss_alpha = self.vec[ss], self.alpha[ss]
        self.shell_atoms = torch.nonzero(has_shell).flatten()
        self.native = native.usable(cores)  # C kernels for float64 CPU tensors (native.py)
        self.tables = self.cs_table = self.ss_table = None
        if self.native:
            size = native.real_space_workspace(self.cs_alpha.numel(), self.ss_alpha.numel())
            self._work = torch.empty(size, dtype=torch.float64)
        if self.native and self.kind == "ewald" and self.cs_alpha.numel() + self.ss_alpha.numel():
            reach = coulomb.settings.cutoff + TABLE_SHELL_REACH
            self.tables = native.KernelTables(
                torch.cat([self.cs_alpha, self.ss_alpha]), coulomb.beta, reach * reach
            )
            n_cs = self.cs_alpha.numel()
            self.cs_table = self.tables.pair_table[:n_cs]
            self.ss_table = self.tables.pair_table[n_cs:]
        self.pme = self.ewald = None
        if coulomb.settings is None:
            return
        self.self_gamma = coulomb.self_gamma.detach()
        group, group_gamma = _mesh_groups(coulomb.site_class, coulomb.gamma.detach())
        if coulomb.method == "pme":
            s = coulomb.settings
            self.pme = FrozenCorePME(cores, cell, group, group_gamma, s.mesh, s.order)
        else:
            self.ewald = _FrozenCoreEwald(cores, cell, group, group_gamma, coulomb.settings.k_max)

    def _kernel(self, r, alpha):
        c = self.coulomb
        return kernel_and_derivative(self.kind, r, alpha, c.beta, c.taper_cutoff)

    def __call__(self, charges: torch.Tensor, d: torch.Tensor):
        """Potential ``[2N]`` (V) at every site and ∂E_C/∂d ``[N, 3]`` (eV/Å).

        Parameters
        ----------
        charges : torch.Tensor
            ``[2N]`` site charges (e): cores, then shells.
        d : torch.Tensor
            ``[N, 3]`` shell displacements (Å).
        """
        with torch.no_grad():
            potential, grad = self._real_space(charges, d)
            if self.coulomb.settings is not None:
                rec, rec_grad = self._reciprocal(charges, d)
                potential = potential + rec
                grad = grad + rec_grad
            scale = units.COULOMB_EV_ANGSTROM
            return scale * potential, scale * grad

    def with_atom_gradient(self, charges: torch.Tensor, d: torch.Tensor):
        """Potential ``[2N]`` (V) and ∂E_C/∂r ``[N, 3]`` (eV/Å), every shell carried by its atom
        (r → r + δ moves core and shell): at the solution these are the Hellmann–Feynman forces."""
        with torch.no_grad():
            core_grad = self._core_core_gradient(charges)
            potential, shell_grad = self._real_space(charges, d, core_grad)
            if self.coulomb.settings is not None:
                rec, rec_grad = self._reciprocal(charges, d, core_grad)
                potential = potential + rec
                shell_grad = shell_grad + rec_grad
            scale = units.COULOMB_EV_ANGSTROM
            return scale * potential, scale * (shell_grad + core_grad)

    def _core_core_gradient(self, charges):
        """∂/∂r of the cached core–core real-space pairs ``[N, 3]`` (no Coulomb constant)."""
        qc = charges[: self.n]
        r = torch.linalg.norm(self.vec, dim=-1)
        _, dk = self._kernel(r, self.alpha)
        g = (dk * qc[self.i] * qc[self.j] / r)[:, None] * self.vec  # ∂/∂r_j; −g for r_i
        grad = torch.zeros(self.n, 3, dtype=charges.dtype, device=charges.device)
        return grad.index_add_(0, self.j, g).index_add_(0, self.i, -g)

    def _real_space(self, charges, d, core_grad=None):
        """Site potentials and ∂E/∂d; adds the core side of core–shell pairs to ``core_grad``."""
        if self.native:
            return self._real_space_native(charges, d, core_grad)
        n, i, j = self.n, self.i, self.j
        qc, qs = charges[:n], charges[n:]
        phi_c = (
            torch.zeros_like(qc)
            .index_add_(0, i, self.k_cc * qc[j])
            .index_add_(0, j, self.k_cc * qc[i])
        )
        phi_s = torch.zeros_like(qs)
        grad = torch.zeros_like(d)
        a_idx, b_idx = self.cs_core, self.cs_shell
        v = self.cs_vec + d[b_idx]  # [Pcs, 3]
        r = torch.linalg.norm(v, dim=-1)
        k, dk = self._kernel(r, self.cs_alpha)
        qa, qb = qc[a_idx], qs[b_idx]
        phi_c.index_add_(0, a_idx, k * qb)
        phi_s.index_add_(0, b_idx, k * qa)
        g = (dk * qa * qb / r)[:, None] * v  # ∂/∂x_shell of each pair; −g on its core
        grad.index_add_(0, b_idx, g)
        if core_grad is not None:
            core_grad.index_add_(0, a_idx, -g)
        si, sj = self.ss_i, self.ss_j
        v = self.ss_vec + d[sj] - d[si]
        r = torch.linalg.norm(v, dim=-1)
        k, dk = self._kernel(r, self.ss_alpha)
        phi_s.index_add_(0, si, k * qs[sj]).index_add_(0, sj, k * qs[si])
        g = (dk * qs[si] * qs[sj] / r)[:, None] * v  # ∂/∂d_j, and −g for d_i
        grad.index_add_(0, sj, g).index_add_(0, si, -g)
        return torch.cat([phi_c, phi_s]), grad

    def _real_space_native(self, charges, d, core_grad=None):
        """The same sums as :meth:`_real_space`, by the C kernels."""
        qc, qs = charges[: self.n].contiguous(), charges[self.n :].contiguous()
        phi_c, phi_s, grad = torch.zeros_like(qc), torch.zeros_like(qs), torch.zeros_like(d)
        native.core_core_potential(self.i, self.j, self.k_cc, qc, phi_c)
        c = self.coulomb
        native.real_space_shells(
            self.kind,
            c.beta,
            c.taper_cutoff,
            (self.cs_core, self.cs_shell, self.cs_vec, self.cs_alpha, self.cs_table),
            (self.ss_i, self.ss_j, self.ss_vec, self.ss_alpha, self.ss_table),
            qc,
            qs,
            d,
            phi_c,
            phi_s,
            grad,
            self.tables,
            self._work,
            core_grad,
        )
        return torch.cat([phi_c, phi_s]), grad

    def _reciprocal(self, charges, d, core_grad=None):
        n, shell_atoms = self.n, self.shell_atoms
        shells = self.cores[shell_atoms] + d[shell_atoms]  # [S, 3]
        engine = self.pme if self.pme is not None else self.ewald
        with_cores = core_grad is not None
        potential, shell_field, core_field = engine(charges, shells, shell_atoms, with_cores)
        if with_cores:
            core_grad.add_(charges[:n, None] * core_field)
        grad = torch.zeros_like(d)
        grad[shell_atoms] = charges[n + shell_atoms, None] * shell_field
        potential = potential - kernels.TWO_OVER_SQRT_PI * self.self_gamma * charges
        # own core–shell pair removed from the reciprocal sum
        f, df = erf_over_norm_and_gradient(d, self.self_gamma[:n])
        mask = self.coulomb.has_shell.to(d.dtype)
        f, df = f * mask, df * mask[:, None]
        potential = potential - torch.cat([f * charges[n:], f * charges[:n]])
        grad = grad - (charges[:n] * charges[n:])[:, None] * df
        if with_cores:  # the exclusion depends on d = x_shell − x_core only
            core_grad.add_((charges[:n] * charges[n:])[:, None] * df)
        return potential + self.coulomb._k_zero(charges, self.cell), grad


def _mesh_groups(site_class: torch.Tensor, gamma: torch.Tensor):
    """Merge width classes with identical screening rows: ``[2N]`` group per site, ``[G, G]`` γ."""
    rows = [tuple(row.tolist()) for row in gamma]
    unique: dict[tuple, int] = {}
    class_group = [unique.setdefault(row, len(unique)) for row in rows]
    first = [class_group.index(g) for g in range(len(unique))]
    group_of_class = torch.tensor(class_group, device=site_class.device)
    return group_of_class[site_class], gamma[first][:, first]


class _FrozenCoreEwald:
    """Explicit reciprocal Ewald sum with cached core structure factors (same contract as PME)."""

    def __init__(self, cores, cell, site_group, group_gamma, k_max):
        self.n = cores.shape[0]
        self.k = half_space_kvectors(cell, k_max)  # [K, 3]
        k2 = (self.k * self.k).sum(-1)
        volume = torch.abs(torch.linalg.det(cell))
        self.weight = (
            torch.exp(-k2 / (4.0 * group_gamma[:, :, None] ** 2)) / k2 * (8.0 * math.pi / volume)
        )  # [G, G, K]
        phase = cores @ self.k.T  # [N, K]
        self.cos_c, self.sin_c = torch.cos(phase), torch.sin(phase)
        self.group = site_group
        self.n_groups = group_gamma.shape[0]

    def __call__(self, charges, shells, shell_atoms, core_gradient: bool = False):
        n = self.n
        phase = shells @ self.k.T  # [S, K]
        cos_s, sin_s = torch.cos(phase), torch.sin(phase)
        cos = torch.cat([self.cos_c, cos_s])  # [N + S, K]
        sin = torch.cat([self.sin_c, sin_s])
        sites = torch.cat([torch.arange(n, device=charges.device), n + shell_atoms])
        q, group = charges[sites], self.group[sites]
        c_g = torch.zeros(
            self.n_groups, self.k.shape[0], dtype=q.dtype, device=q.device
        ).index_add_(0, group, cos * q[:, None])
        s_g = torch.zeros_like(c_g).index_add_(0, group, sin * q[:, None])
        c_field = torch.einsum("ghk,gk->hk", self.weight, c_g)  # [G, K]
        s_field = torch.einsum("ghk,gk->hk", self.weight, s_g)
        phi = (cos * c_field[group]).sum(1) + (sin * s_field[group]).sum(1)
        potential = torch.zeros_like(charges)
        potential[sites] = phi
        tail = slice(n, None)
        dphi = (
            -sin[tail] * c_field[group[tail]] + cos[tail] * s_field[group[tail]]
        ) @ self.k  # [S, 3]
        core_dphi = None
        if core_gradient:
            head = slice(0, n)
            core_dphi = (
                -sin[head] * c_field[group[head]] + cos[head] * s_field[group[head]]
            ) @ self.k  # [N, 3]
        return potential, dphi, core_dphi
