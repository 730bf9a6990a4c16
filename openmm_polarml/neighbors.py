"""Neighbour lists (vesin-torch) with integer periodic shifts, shared by every model part.

:func:`batched_neighbor_list`, :func:`edge_vectors` and :class:`SkinNeighborList` serve the network
and D3 (TorchScript-able, full lists over a batch); :func:`neighbor_pairs` is the half list of one
structure that the PQEq Coulomb operator and the overlap check use.
"""

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
    if cell.shape[0] == 1:  # one frame: one matrix product instead of a per-edge cell gather
        offset = shifts @ cell[0]  # [E, 3]
    else:
        cell_e = cell.index_select(0, batch.index_select(0, i))  # [E, 3, 3]
        offset = torch.bmm(shifts.unsqueeze(1), cell_e).squeeze(1)  # [E, 3]
    # index_select: its backward is an index_add, not the sorting accumulate of index_put
    return positions.index_select(0, j) - positions.index_select(0, i) + offset  # [E, 3]


class SkinNeighborList(torch.nn.Module):
    """A Verlet pair list kept between calls (usable inside TorchScript).

    The list is built with ``cutoff + skin`` and reused while the frames, their periodic flags,
    the cell and the atom count are unchanged and no atom has moved more than ``skin / 2`` from
    where it was built: every pair closer than ``cutoff`` is then in the list. The caller must give pairs beyond ``cutoff``
    zero weight (a switch or a mask), so the result equals that of a fresh list at ``cutoff``.
    Along MD this replaces most neighbour searches by a displacement check.

    Parameters
    ----------
    cutoff : float
        Pair cutoff the caller needs (Å).
    skin : float
        Extra list radius (Å); 0 rebuilds on every call.
    full_list : bool
        Both (i, j) and (j, i) if True, each pair once otherwise.
    """

    def __init__(self, cutoff: float, skin: float, full_list: bool = False):
        super().__init__()
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.full_list = full_list
        # the list and where it was built; not part of the state dict or of a fresh export
        self.register_buffer("built_positions", torch.zeros(0, 3), persistent=False)
        self.register_buffer("built_cell", torch.zeros(0, 3, 3), persistent=False)
        self.register_buffer("built_pbc", torch.zeros(0, 3, dtype=torch.bool), persistent=False)
        self.register_buffer("built_ptr", torch.zeros(0, dtype=torch.long), persistent=False)
        self.register_buffer("pair_i", torch.zeros(0, dtype=torch.long), persistent=False)
        self.register_buffer("pair_j", torch.zeros(0, dtype=torch.long), persistent=False)
        self.register_buffer("pair_shifts", torch.zeros(0, 3), persistent=False)

    def forward(
        self, positions: torch.Tensor, cell: torch.Tensor, pbc: torch.Tensor, ptr: torch.Tensor
    ) -> list[torch.Tensor]:
        """``[i [E], j [E], shifts [E, 3]]`` as :func:`batched_neighbor_list`, for ``cutoff``."""
        pos = positions.detach()
        if not self._still_valid(pos, cell.detach(), pbc, ptr):
            nl = batched_neighbor_list(pos, cell, pbc, ptr, self.cutoff + self.skin, self.full_list)
            self.built_positions = pos.clone()
            self.built_cell = cell.detach().clone()
            self.built_pbc = pbc.clone()
            self.built_ptr = ptr.clone()
            self.pair_i = nl[0]
            self.pair_j = nl[1]
            self.pair_shifts = nl[2]
        return [self.pair_i, self.pair_j, self.pair_shifts]

    def _still_valid(
        self, pos: torch.Tensor, cell: torch.Tensor, pbc: torch.Tensor, ptr: torch.Tensor
    ) -> bool:
        if self.skin <= 0.0 or pos.shape[0] == 0:
            return False
        same_layout = (
            self.built_positions.shape == pos.shape
            and self.built_positions.dtype == pos.dtype
            and self.built_positions.device == pos.device
            and self.built_cell.shape == cell.shape
            and self.built_ptr.shape == ptr.shape
            and self.built_pbc.shape == pbc.shape
        )
        if not same_layout:
            return False
        same_frames = torch.equal(self.built_ptr, ptr) and torch.equal(self.built_pbc, pbc)
        if not (same_frames and torch.equal(self.built_cell, cell)):
            return False
        moved = torch.linalg.norm(pos - self.built_positions, dim=1).max()  # Å
        return bool(moved < 0.5 * self.skin)


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
    pos = positions.detach()
    if pbc:
        box = cell.detach().to(pos.dtype)
    else:
        box = torch.zeros(3, 3, dtype=pos.dtype, device=pos.device)
    i, j, s = NeighborList(cutoff=float(cutoff), full_list=False).compute(
        pos, box, bool(pbc), quantities="ijS"
    )
    return i.long(), j.long(), s.to(pos.dtype)
