"""The short-range energy (network E0 + D3): the part that is exported to TorchScript."""

from __future__ import annotations

import torch

from openmm_polarml.model.network import EquivariantNetwork


class NoDispersion(torch.nn.Module):
    """Stand-in for :class:`~openmm_polarml.model.d3.D3BJ` when dispersion is off (zero energy)."""

    def forward(
        self,
        positions: torch.Tensor,
        numbers: torch.Tensor,
        cell: torch.Tensor,
        pbc: torch.Tensor,
        batch: torch.Tensor,
        ptr: torch.Tensor,
    ) -> torch.Tensor:
        return torch.zeros_like(positions[:, 0])  # [N]


class ShortRange(torch.nn.Module):
    """Per-atom short-range energy ``E0_i + E_D3,i`` (eV).

    Parameters
    ----------
    network : EquivariantNetwork
        The equivariant network.
    d3 : torch.nn.Module or None
        A :class:`~openmm_polarml.model.d3.D3BJ` module, or None for no dispersion.
    """

    def __init__(self, network: EquivariantNetwork, d3: torch.nn.Module | None = None):
        super().__init__()
        self.network = network
        self.has_d3 = d3 is not None
        self.d3 = d3 if d3 is not None else NoDispersion()

    def forward(
        self,
        positions: torch.Tensor,
        numbers: torch.Tensor,
        cell: torch.Tensor,
        pbc: torch.Tensor,
        batch: torch.Tensor,
        ptr: torch.Tensor,
        charge_state: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``[N]`` per-atom energies (eV); see :meth:`EquivariantNetwork.forward` (``charge_state``
        ``[N]``, e: the reference charges, for a network with ``charge_input``)."""
        e = self.network(positions, numbers, cell, pbc, batch, ptr, None, charge_state)  # [N]
        if self.has_d3:
            e = e + self.d3(positions, numbers, cell, pbc, batch, ptr)  # [N]
        return e
