"""NequIP-style E(3)-equivariant network producing per-atom short-range energies E0_i."""

from __future__ import annotations

import torch
from e3nn import o3

from openmm_polarml.nn.interaction import InteractionLayer
from openmm_polarml.nn.neighbors import batched_neighbor_list, edge_vectors
from openmm_polarml.nn.radial import BesselBasis, PolynomialCutoff

MAX_Z = 94  # H .. Pu


class EquivariantNetwork(torch.nn.Module):
    """Message-passing network: element embedding -> interaction layers -> scalar readout.

    Per-atom energy ``E0_i = scale[Z_i] · y_i + shift[Z_i]`` (eV), with ``y_i`` the readout.

    Parameters
    ----------
    r_max : float
        Cutoff radius (Å).
    num_layers : int
        Number of interaction layers.
    hidden_irreps : str
        Irreps of the hidden node features, e.g. ``"32x0e+16x1o"``.
    l_max : int
        Highest degree of the edge spherical harmonics.
    num_basis : int
        Number of Bessel functions.
    radial_hidden : int
        Width of the radial MLPs.
    avg_num_neighbors : float
        Message normalisation.
    polynomial_p : int
        Order of the polynomial cutoff envelope.
    """

    def __init__(
        self,
        r_max: float = 5.0,
        num_layers: int = 3,
        hidden_irreps: str = "32x0e+16x1o",
        l_max: int = 1,
        num_basis: int = 8,
        radial_hidden: int = 64,
        avg_num_neighbors: float = 20.0,
        polynomial_p: int = 6,
    ):
        super().__init__()
        self.r_max = float(r_max)
        hidden = o3.Irreps(hidden_irreps)
        n_scalar = sum(m for m, ir in hidden if ir.l == 0 and ir.p == 1)
        self.irreps_sh = o3.Irreps.spherical_harmonics(l_max)
        self.sh = o3.SphericalHarmonics(self.irreps_sh, True, "component")
        self.basis = BesselBasis(r_max, num_basis)
        self.envelope = PolynomialCutoff(r_max, polynomial_p)
        self.embedding = torch.nn.Embedding(MAX_Z + 1, n_scalar)

        layers = []
        irreps = o3.Irreps(f"{n_scalar}x0e")
        for _ in range(num_layers):
            layer = InteractionLayer(
                irreps, hidden, self.irreps_sh, num_basis, radial_hidden, avg_num_neighbors
            )
            layers.append(layer)
            irreps = layer.irreps_out
        self.layers = torch.nn.ModuleList(layers)
        # readout: the "last two linear layers" that fine-tuning may keep trainable
        self.readout_1 = o3.Linear(irreps, o3.Irreps(f"{max(n_scalar // 2, 1)}x0e"))
        self.readout_2 = o3.Linear(self.readout_1.irreps_out, o3.Irreps("1x0e"))
        self.shift = torch.nn.Parameter(torch.zeros(MAX_Z + 1))  # [95] eV
        self.scale = torch.nn.Parameter(torch.ones(MAX_Z + 1))  # [95] eV

    def forward(
        self,
        positions: torch.Tensor,
        numbers: torch.Tensor,
        cell: torch.Tensor,
        pbc: torch.Tensor,
        batch: torch.Tensor,
        ptr: torch.Tensor,
    ) -> torch.Tensor:
        """Per-atom energies.

        Parameters
        ----------
        positions : torch.Tensor
            ``[N, 3]`` (Å), may require grad.
        numbers : torch.Tensor
            ``[N]`` atomic numbers (long, 1..94).
        cell : torch.Tensor
            ``[B, 3, 3]`` lattice vectors as rows (Å).
        pbc : torch.Tensor
            ``[B, 3]`` bool.
        batch : torch.Tensor
            ``[N]`` frame index of each atom.
        ptr : torch.Tensor
            ``[B + 1]`` frame offsets.

        Returns
        -------
        torch.Tensor
            ``[N]`` per-atom energies E0_i (eV).
        """
        nl: list[torch.Tensor] = batched_neighbor_list(positions, cell, pbc, ptr, self.r_max, True)
        center = nl[0]
        neighbor = nl[1]
        vec = edge_vectors(positions, cell, batch, center, neighbor, nl[2])  # [E, 3]
        r = torch.linalg.norm(vec, dim=-1)  # [E]
        edge_sh = self.sh(vec)  # [E, sh]
        edge_radial = self.basis(r) * self.envelope(r).unsqueeze(-1)  # [E, num_basis]
        h = self.embedding(numbers)  # [N, n_scalar]
        for layer in self.layers:
            h = layer(h, edge_sh, edge_radial, center, neighbor)  # [N, hidden]
        y = self.readout_2(self.readout_1(h)).squeeze(-1)  # [N]
        return self.scale[numbers] * y + self.shift[numbers]  # [N]
