"""Batched neighbour lists from vesin-torch, usable inside TorchScript."""

from __future__ import annotations

import torch
from vesin_torch import NeighborList


def batched_neighbor_list(
    positions: torch.Tensor,
    cell: torch.Tensor,
    pbc: torch.Tensor,
    ptr: torch.Tensor,
    cutoff: float,
    full_list: bool,
) -> list[torch.Tensor]:
    """Neighbour pairs of every frame in a batch, with global atom indices.

    Parameters
    ----------
    positions : torch.Tensor
        ``[N, 3]`` positions of all frames (Å); detached internally.
    cell : torch.Tensor
        ``[B, 3, 3]`` lattice vectors as rows (Å); ignored for non-periodic frames.
    pbc : torch.Tensor
        ``[B, 3]`` bool periodic flags per frame and direction.
    ptr : torch.Tensor
        ``[B + 1]`` long, frame ``b`` holds atoms ``ptr[b]:ptr[b+1]``.
    cutoff : float
        Pair cutoff (Å).
    full_list : bool
        Both (i, j) and (j, i) if True, each pair once otherwise.

    Returns
    -------
    list of torch.Tensor
        ``[i [E], j [E], shifts [E, 3]]``: center, neighbour (global indices, long) and integer
        cell shifts (in ``positions.dtype``); the neighbour sits at ``r_j + shifts @ cell``.
    """
    nl = NeighborList(cutoff=cutoff, full_list=full_list)
    pos = positions.detach()
    ii: list[torch.Tensor] = []
    jj: list[torch.Tensor] = []
    ss: list[torch.Tensor] = []
    n_frames = ptr.shape[0] - 1
    for b in range(n_frames):
        start = int(ptr[b])
        stop = int(ptr[b + 1])
        periodic = bool(pbc[b].any())
        if periodic:
            box = cell[b].detach()
        else:
            box = torch.zeros(3, 3, dtype=pos.dtype, device=pos.device)
        res = nl.compute(pos[start:stop], box, pbc[b], "ijS", True)
        ii.append(res[0].long() + start)
        jj.append(res[1].long() + start)
        ss.append(res[2].to(pos.dtype))
    return [torch.cat(ii), torch.cat(jj), torch.cat(ss)]


def edge_vectors(
    positions: torch.Tensor,
    cell: torch.Tensor,
    batch: torch.Tensor,
    i: torch.Tensor,
    j: torch.Tensor,
    shifts: torch.Tensor,
) -> torch.Tensor:
    """Differentiable edge vectors ``r_j + S·cell − r_i`` [E, 3] (Å)."""
    cell_e = cell[batch[i]]  # [E, 3, 3]
    offset = torch.bmm(shifts.unsqueeze(1), cell_e).squeeze(1)  # [E, 3]
    return positions[j] - positions[i] + offset  # [E, 3]
