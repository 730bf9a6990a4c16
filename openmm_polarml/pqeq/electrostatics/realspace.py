"""Real-space pair sums over Gaussian sites (direct, published taper, Ewald short range)."""

from __future__ import annotations

import torch

from . import kernels


class SitePairs:
    """Site pairs (a, b) with periodic shifts, built once per geometry from atom pairs.

    Parameters
    ----------
    atom_i, atom_j : torch.Tensor
        ``[P]`` atom indices of a half list (pair counted once).
    shifts : torch.Tensor
        ``[P, 3]`` integer cell shifts of j relative to i.
    n_atoms : int
        Number of atoms N; site a < N is a core, site N + i the shell of atom i.
    has_shell : torch.Tensor
        ``[N]`` bool, atoms that carry a shell.
    """

    def __init__(self, atom_i, atom_j, shifts, n_atoms: int, has_shell: torch.Tensor):
        self.atom_i, self.atom_j, self.atom_shifts = atom_i, atom_j, shifts
        si, sj = atom_i + n_atoms, atom_j + n_atoms
        a = torch.cat([atom_i, atom_i, si, si])  # [4P]
        b = torch.cat([atom_j, sj, atom_j, sj])  # [4P]
        shift = torch.cat([shifts] * 4)  # [4P, 3]
        site_has_charge = torch.cat([torch.ones_like(has_shell), has_shell])  # [2N]
        keep = site_has_charge[a] & site_has_charge[b]
        self.a, self.b, self.shifts = a[keep], b[keep], shift[keep]

    def distances(self, sites: torch.Tensor, cell: torch.Tensor | None) -> torch.Tensor:
        """``[P']`` pair distances (Å) for site positions ``[2N, 3]``."""
        vec = sites[self.b] - sites[self.a]  # [P', 3]
        if cell is not None and self.shifts.numel():
            vec = vec + self.shifts @ cell
        return torch.linalg.norm(vec, dim=-1)


def pair_kernel(
    kind: str, r: torch.Tensor, alpha_ab: torch.Tensor, beta: float, taper_cutoff: float
) -> torch.Tensor:
    """Kernel values ``[P]`` (Å⁻¹, no Coulomb constant) for one of ``direct``/``taper``/``ewald``."""
    if kind == "direct":
        return kernels.gaussian_coulomb(r, alpha_ab)
    if kind == "taper":
        return kernels.gaussian_coulomb(r, alpha_ab) * kernels.published_taper(r, taper_cutoff)
    if kind == "ewald":
        return kernels.ewald_real_space(r, alpha_ab, beta)
    raise ValueError(f"unknown real-space kernel {kind!r}")


def real_space_potential(
    pairs: SitePairs, kernel: torch.Tensor, charges: torch.Tensor
) -> torch.Tensor:
    """Potential at every site from the pair list, linear in ``charges`` ``[M]`` or ``[M, B]``."""
    k = kernel if charges.dim() == 1 else kernel[:, None]
    potential = torch.zeros_like(charges)
    potential = potential.index_add(0, pairs.a, k * charges[pairs.b])
    return potential.index_add(0, pairs.b, k * charges[pairs.a])
