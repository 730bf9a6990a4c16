"""Smooth particle-mesh Ewald (Essmann et al. 1995) for Gaussian sites in width classes.

Each class is spread on its own mesh with cardinal B-splines; in Fourier space class t receives
Σ_s G_st(k) ρ_s(k) with G_st = (4π/V) exp(−k²/4γ_st²)/k² · B(k) (B: Euler exponential-spline
modulus correction), then the potential is interpolated back with the same B-splines.
"""

from __future__ import annotations

import math

import torch

from . import native
from .ewald import reciprocal_basis

_SMOOTH_PRIMES = (2, 3, 5)


def smooth_mesh_size(n: int) -> int:
    """Smallest integer ≥ n whose prime factors are 2, 3 and 5 (fast FFT sizes)."""
    while True:
        m = n
        for p in _SMOOTH_PRIMES:
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def inverse_real_fft(
    spectrum: torch.Tensor, mesh: tuple[int, int, int], out: torch.Tensor | None = None
) -> torch.Tensor:
    """irfftn over the last three axes of ``spectrum`` ``[B, nx, ny, nz//2+1]`` → ``[B, *mesh]``.

    One 3-D transform per batch entry: on CPU (MKL) that is 2–3× faster than one batched
    ``irfftn``, which torch splits into strided complex passes. ``out`` (no autograd) receives the
    result in place.
    """
    if out is None:
        return torch.stack([torch.fft.irfftn(s, s=mesh) for s in spectrum.unbind(0)])
    for s, target in zip(spectrum.unbind(0), out.unbind(0), strict=True):
        torch.fft.irfftn(s, s=mesh, out=target)
    return out


def bspline_weights(w: torch.Tensor, order: int) -> torch.Tensor:
    """Cardinal B-spline values M_p(w + j), j = 0..p−1, for fractional offsets w ``[...]`` in [0, 1).

    Returns ``[..., p]``; differentiable in ``w``.
    """
    vals = [w, 1.0 - w]  # order 2: M2(w), M2(w+1)
    for n in range(3, order + 1):
        new = []
        for j in range(n):
            x = w + j
            left = vals[j] if j < n - 1 else torch.zeros_like(w)
            right = vals[j - 1] if j >= 1 else torch.zeros_like(w)
            new.append((x * left + (n - x) * right) / (n - 1))
        vals = new
    return torch.stack(vals, dim=-1)


def bspline_moduli(n_mesh: int, order: int, dtype, device) -> torch.Tensor:
    """|b(m)|² of Essmann et al. for one axis, ``[n_mesh]``."""
    knots = bspline_weights(torch.zeros((), dtype=torch.float64), order)  # M_p(j), j=0..p-1
    m = torch.arange(n_mesh, dtype=torch.float64)
    k = torch.arange(order - 1, dtype=torch.float64)
    arg = 2.0 * math.pi * m[:, None] * k[None, :] / n_mesh
    mp = knots[1:order]  # M_p(k+1), k = 0..p-2
    re = (mp * torch.cos(arg)).sum(-1)
    im = (mp * torch.sin(arg)).sum(-1)
    denom = re**2 + im**2
    # interpolate isolated zeros (odd orders at the Nyquist frequency) from neighbours
    for i in torch.nonzero(denom < 1e-10).flatten().tolist():
        denom[i] = 0.5 * (denom[(i - 1) % n_mesh] + denom[(i + 1) % n_mesh])
    return (1.0 / denom).to(dtype=dtype, device=device)


class MeshSpreader:
    """B-spline stencil of a set of sites on a mesh: spreading (sites → mesh) and gathering."""

    def __init__(
        self, sites: torch.Tensor, cell: torch.Tensor, mesh: tuple[int, int, int], order: int
    ):
        frac = sites @ torch.linalg.inv(cell)  # [M, 3] fractional coordinates
        n = torch.tensor(mesh, dtype=sites.dtype, device=sites.device)
        u = frac * n  # [M, 3] scaled coordinates
        base = torch.floor(u.detach())
        w = u - base  # [M, 3] in [0, 1)
        weights = bspline_weights(w, order)  # [M, 3, p]
        j = torch.arange(order, device=sites.device)
        idx = (base.long()[:, :, None] - j) % torch.tensor(mesh, device=sites.device)[None, :, None]
        # 3-D stencil: flat index and weight products, [M, p³]
        nx, ny, nz = mesh
        flat = (idx[:, 0, :, None, None] * ny + idx[:, 1, None, :, None]) * nz + idx[
            :, 2, None, None, :
        ]
        wt = (
            weights[:, 0, :, None, None]
            * weights[:, 1, None, :, None]
            * weights[:, 2, None, None, :]
        )
        self.flat = flat.reshape(sites.shape[0], -1)
        self.weight = wt.reshape(sites.shape[0], -1)
        self.mesh = mesh

    def spread(self, charges: torch.Tensor, select: torch.Tensor) -> torch.Tensor:
        """Mesh ``[B, nx, ny, nz]`` of the charges ``[M, B]`` of the sites in ``select``."""
        n_points = self.mesh[0] * self.mesh[1] * self.mesh[2]
        contrib = self.weight[select, :, None] * charges[select, None, :]  # [M_s, p³, B]
        mesh = torch.zeros(n_points, charges.shape[1], dtype=charges.dtype, device=charges.device)
        mesh = mesh.index_add(
            0, self.flat[select].reshape(-1), contrib.reshape(-1, charges.shape[1])
        )
        return mesh.T.reshape(charges.shape[1], *self.mesh)

    def gather(self, mesh: torch.Tensor, select: torch.Tensor) -> torch.Tensor:
        """Interpolated values ``[M_s, B]`` of a mesh ``[B, nx, ny, nz]`` at the sites in ``select``."""
        flat_mesh = mesh.reshape(mesh.shape[0], -1).T  # [n_points, B]
        values = flat_mesh[self.flat[select]]  # [M_s, p³, B]
        return (self.weight[select, :, None] * values).sum(1)


def pme_reciprocal_potential(
    sites: torch.Tensor,
    charges: torch.Tensor,
    site_class: torch.Tensor,
    gamma: torch.Tensor,
    cell: torch.Tensor,
    mesh: tuple[int, int, int],
    order: int,
) -> torch.Tensor:
    """Reciprocal-space potential (e/Å, no Coulomb constant) at every site, by smooth PME.

    Same contract as :func:`~.ewald.ewald_reciprocal_potential`; ``mesh`` is the grid size per axis
    and ``order`` the B-spline order.
    """
    batched = charges.dim() == 2
    q = charges if batched else charges[:, None]  # [M, B]
    spreader = MeshSpreader(sites, cell, mesh, order)
    nx, ny, nz = mesh
    # integer frequencies of the rfft layout and the k-vectors
    fx = torch.fft.fftfreq(nx, d=1.0 / nx, dtype=sites.dtype, device=sites.device)
    fy = torch.fft.fftfreq(ny, d=1.0 / ny, dtype=sites.dtype, device=sites.device)
    fz = torch.fft.rfftfreq(nz, d=1.0 / nz, dtype=sites.dtype, device=sites.device)
    m = torch.stack(torch.meshgrid(fx, fy, fz, indexing="ij"), dim=-1)  # [nx, ny, nz//2+1, 3]
    k = m @ reciprocal_basis(cell)  # [nx, ny, nzr, 3]
    k2 = (k * k).sum(-1)
    k2_safe = torch.where(k2 > 0, k2, torch.ones_like(k2))
    moduli = (
        bspline_moduli(nx, order, sites.dtype, sites.device)[:, None, None]
        * bspline_moduli(ny, order, sites.dtype, sites.device)[None, :, None]
        * bspline_moduli(nz, order, sites.dtype, sites.device)[None, None, : nz // 2 + 1]
    )
    volume = torch.abs(torch.linalg.det(cell))
    n_points = nx * ny * nz
    prefactor = (4.0 * math.pi / volume) * moduli / k2_safe * (k2 > 0) * n_points
    n_cls = gamma.shape[0]
    members = [torch.nonzero(site_class == s).flatten() for s in range(n_cls)]
    rho_hat = [torch.fft.rfftn(spreader.spread(q, sel), dim=(1, 2, 3)) for sel in members]
    potential = torch.zeros_like(q)
    for t in range(n_cls):
        if members[t].numel() == 0:
            continue
        field_hat = sum(
            rho_hat[s] * (prefactor * torch.exp(-k2 / (4.0 * gamma[s, t] ** 2)))
            for s in range(n_cls)
        )  # [B, nx, ny, nzr]
        phi = inverse_real_fft(field_hat, mesh)  # [B, nx, ny, nz]
        potential = potential.index_copy(0, members[t], spreader.gather(phi, members[t]))
    return potential if batched else potential[:, 0]


def bspline_weights_and_derivatives(
    w: torch.Tensor, order: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Values ``[..., p]`` and derivatives d/dw ``[..., p]`` of M_p(w + j), j = 0..p−1.

    Uses dM_p(x)/dx = M_{p−1}(x) − M_{p−1}(x − 1).
    """
    lower = bspline_weights(w, order - 1)  # [..., p-1]
    zero = torch.zeros_like(w)[..., None]
    derivative = torch.cat([lower, zero], -1) - torch.cat([zero, lower], -1)
    return bspline_weights(w, order), derivative


class Stencil:
    """B-spline stencil of M sites on a mesh (no autograd): flat mesh indices ``[M, p³]``, product
    weights ``[M, p³]``, and per-axis values/derivatives ``[M, 3, p]`` for separable gathering."""

    def __init__(self, sites, inv_cell, mesh, order: int):
        self.scale = torch.tensor(mesh, dtype=sites.dtype, device=sites.device)
        u = (sites @ inv_cell) * self.scale  # [M, 3] scaled fractional coordinates
        base = torch.floor(u)
        self.value, self.derivative = bspline_weights_and_derivatives(u - base, order)  # [M, 3, p]
        j = torch.arange(order, device=sites.device)
        idx = (base.long()[:, :, None] - j) % torch.tensor(mesh, device=sites.device)[None, :, None]
        nx, ny, nz = mesh
        flat = (idx[:, 0, :, None, None] * ny + idx[:, 1, None, :, None]) * nz + idx[
            :, 2, None, None, :
        ]
        v = self.value
        m, p = sites.shape[0], order
        self.flat = flat.reshape(m, -1)
        self.weight = (
            v[:, 0, :, None, None] * v[:, 1, None, :, None] * v[:, 2, None, None, :]
        ).reshape(m, -1)
        self.order, self.inv_cell = p, inv_cell

    def gather_with_gradient(self, values: torch.Tensor):
        """Interpolated value ``[M]`` and Cartesian gradient ``[M, 3]`` (per Å) of mesh ``values``
        ``[M, p³]`` already gathered at the stencil points (separable contraction)."""
        p = self.order
        v = values.reshape(-1, p, p, p)
        wx, wy, wz = self.value.unbind(1)  # [M, p] each
        dx, dy, dz = self.derivative.unbind(1)
        t_z = torch.einsum("mijk,mk->mij", v, wz)
        t_dz = torch.einsum("mijk,mk->mij", v, dz)
        t_yz = torch.einsum("mij,mj->mi", t_z, wy)
        t_dyz = torch.einsum("mij,mj->mi", t_z, dy)
        t_ydz = torch.einsum("mij,mj->mi", t_dz, wy)
        value = (t_yz * wx).sum(1)
        du = torch.stack([(t_yz * dx).sum(1), (t_dyz * wx).sum(1), (t_ydz * wx).sum(1)], dim=-1)
        return value, (du * self.scale) @ self.inv_cell.T  # chain rule u = r·inv(cell)·n


class FrozenCorePME:
    """Smooth PME of core and shell sites whose cores do not move (the charge/shell solve).

    Core stencils and the influence functions are built once; each call spreads the site charges
    ``[2N]`` (cores then shells) of the mesh groups, convolves, and returns the reciprocal potential
    at every site and its gradient at the shell sites (no Coulomb constant; Å⁻¹·e, Å⁻²·e).

    Parameters
    ----------
    cores : torch.Tensor
        ``[N, 3]`` core positions (Å).
    cell : torch.Tensor
        ``[3, 3]`` lattice vectors (Å).
    site_group : torch.Tensor
        ``[2N]`` mesh group of every site (groups share one screening row).
    group_gamma : torch.Tensor
        ``[G, G]`` screening exponents γ (Å⁻¹).
    mesh, order :
        Mesh points per axis and B-spline order.
    """

    def __init__(self, cores, cell, site_group, group_gamma, mesh, order):
        self.mesh, self.order, self.n_atoms = mesh, order, cores.shape[0]
        self.inv_cell = torch.linalg.inv(cell)
        self.n_points = mesh[0] * mesh[1] * mesh[2]
        self.site_offset = site_group * self.n_points  # [2N]
        self.n_groups = group_gamma.shape[0]
        nx, ny, nz = mesh
        dtype, device = cores.dtype, cores.device
        fx = torch.fft.fftfreq(nx, d=1.0 / nx, dtype=dtype, device=device)
        fy = torch.fft.fftfreq(ny, d=1.0 / ny, dtype=dtype, device=device)
        fz = torch.fft.rfftfreq(nz, d=1.0 / nz, dtype=dtype, device=device)
        m = torch.stack(torch.meshgrid(fx, fy, fz, indexing="ij"), dim=-1)
        k2 = ((m @ reciprocal_basis(cell)) ** 2).sum(-1)  # [nx, ny, nzr]
        k2_safe = torch.where(k2 > 0, k2, torch.ones_like(k2))
        moduli = (
            bspline_moduli(nx, order, dtype, device)[:, None, None]
            * bspline_moduli(ny, order, dtype, device)[None, :, None]
            * bspline_moduli(nz, order, dtype, device)[None, None, : nz // 2 + 1]
        )
        volume = torch.abs(torch.linalg.det(cell))
        base = (4.0 * math.pi / volume) * moduli / k2_safe * (k2 > 0) * self.n_points
        influence = base * torch.exp(-k2 / (4.0 * group_gamma[:, :, None, None, None] ** 2))
        self.native = native.usable(cores)
        if self.native:  # C spreading/convolution/gathering (native.py): real influence
            self.influence = influence.contiguous()  # [G, G, nx, ny, nzr]
            self.scale = torch.tensor(mesh, dtype=dtype, device=device)
            self.mesh_dims = native.mesh_array(mesh)
            self._mesh_buffer = self._spectrum_buffer = self._shell_order = None
            # sites visited in mesh order (group, then cell) so spreading/gathering stay in cache
            core_u = (cores @ self.inv_cell) * self.scale  # [N, 3]
            cell_index = torch.floor(core_u).long() % self.mesh_dims.to(device)  # [N, 3]
            self._cell_key = (cell_index[:, 0] * ny + cell_index[:, 1]) * nz + cell_index[:, 2]
            self.core_order = torch.argsort(self.site_offset[: self.n_atoms] + self._cell_key)
            self.core_u = core_u[self.core_order].contiguous()
            self.core_offset = self.site_offset[: self.n_atoms][self.core_order].contiguous()
            return
        self.influence = influence.to(
            torch.complex128 if dtype == torch.float64 else torch.complex64
        )
        self.core = Stencil(cores, self.inv_cell, mesh, order)
        self.core_index = self.core.flat + self.site_offset[: self.n_atoms, None]  # [N, p³]

    def __call__(
        self,
        charges: torch.Tensor,
        shells: torch.Tensor,
        shell_atoms: torch.Tensor,
        core_gradient: bool = False,
    ):
        """Potential ``[2N]``, shell gradient ``[S, 3]`` and (if asked, else None) core gradient
        ``[N, 3]`` for site charges ``[2N]`` and the positions ``[S, 3]`` of the shells of
        ``shell_atoms`` ``[S]``."""
        if self.native:
            return self._call_native(charges, shells, shell_atoms, core_gradient)
        n = self.n_atoms
        shell = Stencil(shells, self.inv_cell, self.mesh, self.order)
        shell_sites = shell_atoms + n
        total = self.n_groups * self.n_points
        rho = torch.zeros(total, dtype=charges.dtype, device=charges.device)
        core_idx = self.core_index
        shell_idx = shell.flat + self.site_offset[shell_sites, None]  # [S, p³]
        rho.index_add_(0, core_idx.reshape(-1), (self.core.weight * charges[:n, None]).reshape(-1))
        rho.index_add_(
            0, shell_idx.reshape(-1), (shell.weight * charges[shell_sites, None]).reshape(-1)
        )
        rho_hat = torch.fft.rfftn(rho.reshape(self.n_groups, *self.mesh), dim=(1, 2, 3))
        phi_hat = torch.einsum("ghxyz,gxyz->hxyz", self.influence, rho_hat)
        phi = inverse_real_fft(phi_hat, self.mesh).reshape(-1)  # [G·n_points]
        potential = torch.zeros_like(charges)
        core_grad = None
        if core_gradient:
            potential[:n], core_grad = self.core.gather_with_gradient(phi[core_idx])
        else:
            potential[:n] = (self.core.weight * phi[core_idx]).sum(1)
        potential[shell_sites], gradient = shell.gather_with_gradient(phi[shell_idx])  # [S], [S, 3]
        return potential, gradient, core_grad

    def _call_native(self, charges, shells, shell_atoms, core_gradient=False):
        """:meth:`__call__` by the C kernels (same stencils and sums)."""
        n, mesh, order, dims = self.n_atoms, self.mesh, self.order, self.mesh_dims
        if self._shell_order is None or self._shell_order[0] is not shell_atoms:
            key = self.site_offset[shell_atoms + n] + self._cell_key[shell_atoms]
            order_s = torch.argsort(key)  # [S], shells in mesh order
            self._shell_order = (shell_atoms, order_s, self.site_offset[shell_atoms + n][order_s])
        _, order_s, shell_offset = self._shell_order
        shell_sites = shell_atoms[order_s] + n
        shell_u = ((shells[order_s] @ self.inv_cell) * self.scale).contiguous()  # [S, 3]
        if self._mesh_buffer is None:  # reused: a fresh 10-100 MB mesh costs its page faults
            self._mesh_buffer = torch.zeros(self.n_groups * self.n_points, dtype=charges.dtype)
        rho = self._mesh_buffer.zero_()
        core_q = charges[:n][self.core_order]
        native.pme_spread(self.core_u, core_q, self.core_offset, dims, order, rho)
        native.pme_spread(shell_u, charges[shell_sites], shell_offset, dims, order, rho)
        if self._spectrum_buffer is None:
            self._spectrum_buffer = torch.empty(
                self.n_groups, mesh[0], mesh[1], mesh[2] // 2 + 1, dtype=torch.complex128
            )
        rho_hat = self._spectrum_buffer  # one 3-D transform per mesh, as inverse_real_fft
        meshes = rho.reshape(self.n_groups, *mesh)  # [G, nx, ny, nz]
        for source, target in zip(meshes.unbind(0), rho_hat.unbind(0), strict=True):
            torch.fft.rfftn(source, out=target)
        phi_hat = native.pme_convolve(self.influence, rho_hat)  # [G, nx, ny, nzr]
        phi = inverse_real_fft(phi_hat, mesh, out=meshes)  # reuses the charge meshes
        phi = phi.reshape(-1)  # [G·n_points]
        potential = torch.zeros_like(charges)
        core_value, core_du = native.pme_gather(
            self.core_u, self.core_offset, dims, order, phi, core_gradient
        )
        potential[self.core_order] = core_value
        core_grad = None
        if core_gradient:
            core_grad = torch.empty_like(core_du)
            core_grad[self.core_order] = (core_du * self.scale) @ self.inv_cell.T
        value, du = native.pme_gather(shell_u, shell_offset, dims, order, phi, True)
        potential[shell_sites] = value
        gradient = torch.empty_like(du)
        gradient[order_s] = (du * self.scale) @ self.inv_cell.T  # chain rule u = r·inv(cell)·n
        return potential, gradient, core_grad
