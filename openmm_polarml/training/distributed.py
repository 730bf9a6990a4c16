"""Data parallelism with ``torch.nn.parallel.DistributedDataParallel`` (gloo on CPU, NCCL on CUDA),
launched with ``torchrun``: each rank computes its share of the global batch with the global
normalisation; DDP averages the gradients over ranks, so each rank's loss is scaled by the world
size and the step equals the single-process step on the same global batch."""

from __future__ import annotations

import torch
import torch.distributed as tdist


def rank_and_world() -> tuple[int, int]:
    """(rank, world size); (0, 1) without an initialised process group."""
    if tdist.is_available() and tdist.is_initialized():
        return tdist.get_rank(), tdist.get_world_size()
    return 0, 1


def backend_for(device: torch.device) -> str:
    """The process-group backend for a device: NCCL on CUDA, gloo otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def init_from_environment(device: torch.device) -> None:
    """Initialise the process group from ``torchrun``'s environment (``WORLD_SIZE`` > 1)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not tdist.is_initialized():
        tdist.init_process_group(backend_for(device))


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` inside ``DistributedDataParallel`` when a process group runs, else itself.

    Unused parameters are allowed (a batch may route all its frames to one readout head, and
    in delta learning the PQEq parameters do not enter the forward pass)."""
    if rank_and_world()[1] == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index or 0] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def all_reduce_dict(values: dict, keys: list) -> dict:
    """Sum scalar loss terms over ranks (so every rank logs the global value)."""
    _, world = rank_and_world()
    if world == 1:
        return values
    vec = torch.tensor([values.get(k, 0.0) for k in keys], dtype=torch.float64)
    tdist.all_reduce(vec, op=tdist.ReduceOp.SUM)
    return {k: float(v) for k, v in zip(keys, vec, strict=True) if k in values or float(v) != 0.0}


def resolve_device(name: str) -> torch.device:
    """``training.device``: ``'cpu'``, ``'cuda'`` (``'cuda:N'``) or ``'auto'`` (CUDA when
    available); under ``torchrun`` on CUDA each rank takes GPU ``LOCAL_RANK``."""
    import os

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("training.device is 'cuda' but torch sees no CUDA device; use 'cpu'")
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    elif device.type != "cpu":
        raise ValueError(f"training.device must be 'cpu', 'cuda' or 'auto', got {name!r}")
    return device


def to_device(batch: dict, device: torch.device) -> dict:
    """The batch's tensors (and per-frame fragment lists) on ``device``."""
    if device.type == "cpu":
        return batch
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            out[key] = value.to(device)
        elif isinstance(value, list):
            out[key] = [_list_to(v, device) for v in value]
        else:
            out[key] = value
    return out


def _list_to(value, device):
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, list):
        return [_list_to(v, device) for v in value]
    return value
