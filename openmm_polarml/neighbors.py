"""Neighbour lists (vesin-torch) with integer periodic shifts, shared by every model part."""

from __future__ import annotations

import torch


def neighbor_pairs(
    positions: torch.Tensor, cell: torch.Tensor | None, pbc: bool, cutoff: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Half neighbour list: every pair (i, j, S) with |r_j + S·cell − r_i| < cutoff counted once.

    Parameters
    ----------
    positions : torch.Tensor
        ``[N, 3]`` Cartesian positions (Å).
    cell : torch.Tensor or None
        ``[3, 3]`` lattice vectors as rows (Å); ignored when ``pbc`` is False.
    pbc : bool
        Periodic in all three directions.
    cutoff : float
        Pair cutoff (Å).

    Returns
    -------
    i, j : torch.Tensor
        ``[P]`` atom indices (long).
    shifts : torch.Tensor
        ``[P, 3]`` integer cell shifts, in ``positions.dtype``.
    """
    from vesin_torch import NeighborList

    pos = positions.detach()
    if pbc:
        box = cell.detach().to(pos.dtype)
    else:
        box = torch.zeros(3, 3, dtype=pos.dtype, device=pos.device)
    i, j, s = NeighborList(cutoff=float(cutoff), full_list=False).compute(
        pos, box, bool(pbc), quantities="ijS"
    )
    return i.long(), j.long(), s.to(pos.dtype)
