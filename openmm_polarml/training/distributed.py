"""Data-parallel helpers (torch.distributed, gloo on CPU): each rank computes its share of the
global batch with the global normalisation, and gradients are summed across ranks."""

from __future__ import annotations

import torch
import torch.distributed as tdist


def rank_and_world() -> tuple[int, int]:
    """(rank, world size); (0, 1) without an initialised process group."""
    if tdist.is_available() and tdist.is_initialized():
        return tdist.get_rank(), tdist.get_world_size()
    return 0, 1


def all_reduce_gradients(model: torch.nn.Module) -> None:
    """Sum gradients over ranks (missing gradients count as zero)."""
    _, world = rank_and_world()
    if world == 1:
        return
    for p in model.parameters():
        if not p.requires_grad:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        tdist.all_reduce(p.grad, op=tdist.ReduceOp.SUM)


def all_reduce_dict(values: dict, keys: list) -> dict:
    """Sum scalar loss terms over ranks (so every rank logs the global value)."""
    _, world = rank_and_world()
    if world == 1:
        return values
    vec = torch.tensor([values.get(k, 0.0) for k in keys], dtype=torch.float64)
    tdist.all_reduce(vec, op=tdist.ReduceOp.SUM)
    return {k: float(v) for k, v in zip(keys, vec, strict=True) if k in values or float(v) != 0.0}
