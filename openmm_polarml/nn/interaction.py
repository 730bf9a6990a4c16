"""NequIP-style equivariant interaction layer (convolution + gate + residual)."""

from __future__ import annotations

import math

import torch
from e3nn import o3
from e3nn.nn import FullyConnectedNet, Gate


def _gate_irreps(target: o3.Irreps, reachable: o3.Irreps) -> tuple:
    """Split the target irreps (restricted to what is reachable) into scalars, gates, gated."""
    reach = {ir for _, ir in reachable}
    scalars = o3.Irreps([(m, ir) for m, ir in target if ir.l == 0 and ir in reach])
    gated = o3.Irreps([(m, ir) for m, ir in target if ir.l > 0 and ir in reach])
    gates = o3.Irreps([(m, (0, 1)) for m, _ in gated])
    return scalars, gates, gated


class InteractionLayer(torch.nn.Module):
    """One message-passing layer: ``h_i ← Gate(W₂ Σ_j TP(W₁ h_j, Y(r̂_ij); R(r_ij)) + W_s h_i)``.

    Parameters
    ----------
    irreps_in : o3.Irreps
        Irreps of the incoming node features.
    irreps_target : o3.Irreps
        Hidden irreps; the layer outputs the subset reachable from ``irreps_in ⊗ irreps_sh``.
    irreps_sh : o3.Irreps
        Irreps of the edge spherical harmonics.
    num_basis : int
        Size of the radial basis (input of the radial MLP).
    radial_hidden : int
        Width of the two hidden layers of the radial MLP.
    avg_num_neighbors : float
        Messages are divided by ``sqrt(avg_num_neighbors)``.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_target: o3.Irreps,
        irreps_sh: o3.Irreps,
        num_basis: int,
        radial_hidden: int = 64,
        avg_num_neighbors: float = 10.0,
    ):
        super().__init__()
        irreps_in = o3.Irreps(irreps_in)
        irreps_target = o3.Irreps(irreps_target)
        self.irreps_in = irreps_in
        self.norm = 1.0 / math.sqrt(avg_num_neighbors)

        # convolution: uvu tensor product, one path per (input, sh, output in target)
        mid, instructions = [], []
        target_irs = {ir for _, ir in irreps_target}
        for i, (mul, ir_in) in enumerate(irreps_in):
            for j, (_, ir_sh) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in target_irs:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        irreps_mid = o3.Irreps(mid)
        scalars, gates, gated = _gate_irreps(irreps_target, irreps_mid)
        self.gate = Gate(
            scalars,
            [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars],
            gates,
            [torch.sigmoid for _ in gates],
            gated,
        )
        irreps_gate_in = self.gate.irreps_in
        self.irreps_out = self.gate.irreps_out

        self.linear_1 = o3.Linear(irreps_in, irreps_in)
        self.tp = o3.TensorProduct(
            irreps_in,
            irreps_sh,
            irreps_mid,
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        self.radial = FullyConnectedNet(
            [num_basis, radial_hidden, radial_hidden, self.tp.weight_numel],
            torch.nn.functional.silu,
        )
        self.linear_2 = o3.Linear(irreps_mid, irreps_gate_in)
        self.self_connection = o3.Linear(irreps_in, irreps_gate_in)
        self.residual = bool(irreps_in == self.irreps_out)

    def forward(
        self,
        h: torch.Tensor,
        edge_sh: torch.Tensor,
        edge_radial: torch.Tensor,
        center: torch.Tensor,
        neighbor: torch.Tensor,
    ) -> torch.Tensor:
        """Update node features.

        Parameters
        ----------
        h : torch.Tensor
            ``[N, irreps_in.dim]`` node features.
        edge_sh : torch.Tensor
            ``[E, irreps_sh.dim]`` spherical harmonics of the edge directions.
        edge_radial : torch.Tensor
            ``[E, num_basis]`` radial basis times cutoff envelope.
        center, neighbor : torch.Tensor
            ``[E]`` receiving and sending atom of each edge (full list).

        Returns
        -------
        torch.Tensor
            ``[N, irreps_out.dim]``.
        """
        x = self.linear_1(h)  # [N, in]
        weights = self.radial(edge_radial)  # [E, weight_numel]
        msg = self.tp(x[neighbor], edge_sh, weights)  # [E, mid]
        agg = torch.zeros(h.shape[0], msg.shape[1], dtype=msg.dtype, device=msg.device)
        agg = agg.index_add(0, center, msg) * self.norm  # [N, mid]
        out = self.gate(self.linear_2(agg) + self.self_connection(h))  # [N, out]
        if self.residual:
            out = out + h
        return out
