"""ctypes bindings of the native two-body D3(BJ) kernel (csrc/engine/D3Kernels.cpp).

The kernel computes the per-atom energies of :class:`openmm_polarml.model.d3.D3BJ` (same
coordination numbers, reference weights, BJ damping and quintic switches) with its own OpenMP
cell-list neighbour search, in float64 whatever the input dtype, and keeps the per-pair data its
backward needs in a C++ handle. :class:`_D3Native` wraps it in an autograd Function, so forces
(positions gradient) and stress (cell gradient) come out exactly; double backward is not supported.
The handle is freed at the end of the backward, or by a finalizer when the graph is dropped without
one; a second backward through the same graph (``retain_graph=True``) therefore raises.

The kernel is used only for CPU tensors and frames that are either fully periodic or not periodic
at all; :func:`usable` says when. It is unavailable when the compiled module is missing or
``POLARML_NATIVE_KERNELS=0``. Thread count: ``torch.get_num_threads()``.
"""

from __future__ import annotations

import ctypes
import weakref
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from openmm_polarml.native_kernels import load_kernels, thread_count

_I64, _I32, _DBL, _PTR = ctypes.c_int64, ctypes.c_int32, ctypes.c_double, ctypes.c_void_p
_FORWARD_ARGS = [_I64, _PTR, _I64, _PTR, _PTR, _PTR, _PTR, _I64, _PTR, _PTR, _PTR, _PTR]
_FORWARD_ARGS += [_DBL] * 7 + [_PTR, ctypes.c_int, ctypes.c_int, _PTR]


def _library() -> ctypes.CDLL | None:
    signatures = {
        "polarml_d3_forward": (_FORWARD_ARGS, _PTR),
        "polarml_d3_backward": ([_PTR, _PTR, _PTR, _PTR, ctypes.c_int], None),
        "polarml_d3_free": ([_PTR], None),
    }
    return load_kernels("openmm_polarml.model._d3_kernels", signatures)


def native_available() -> bool:
    """True when the compiled D3 kernel is built and not disabled (``POLARML_NATIVE_KERNELS=0``)."""
    return _library() is not None


def usable(positions: torch.Tensor, pbc: torch.Tensor) -> bool:
    """True when the kernel can evaluate this batch: it is available, ``positions`` is a CPU
    tensor, and every frame is periodic in all three directions or in none (``pbc`` ``[B, 3]``)."""
    if _library() is None or positions.device.type != "cpu":
        return False
    return bool((pbc.all(-1) | ~pbc.any(-1)).all())


@dataclass
class _Inputs:
    """The non-differentiable inputs of one evaluation, float64/int64/int32 contiguous CPU."""

    ptr: torch.Tensor  # [B + 1] int64
    periodic: torch.Tensor  # [B] int32 (1: periodic in all directions)
    species: torch.Tensor  # [N] int64, index among the U element types present
    table: torch.Tensor  # [U, U, 7, 7] C6 references (eV Å⁶)
    ref_cn: torch.Tensor  # [N, 7] reference coordination numbers (< 0: absent)
    rcov: torch.Tensor  # [N] covalent radii (Å)
    r4r2: torch.Tensor  # [N] such that 3 r4r2_i r4r2_j = C8/C6 (Å²)
    params: tuple[float, ...]  # cutoff, cn_cutoff, switch_width, s6, s8, a1, a2


class _Handle:
    """Owner of a C++ handle: frees it once, on :meth:`release` or when garbage collected."""

    def __init__(self, lib: ctypes.CDLL, address: int):
        self.address = address
        self._finalizer = weakref.finalize(self, lib.polarml_d3_free, address)

    @property
    def alive(self) -> bool:
        return self._finalizer.alive

    def release(self) -> None:
        self._finalizer()


def _run_forward(
    positions: torch.Tensor, cell: torch.Tensor, inputs: _Inputs, keep: bool
) -> tuple[torch.Tensor, _Handle | None]:
    """Per-atom energies ``[N]`` (float64, eV) and, if ``keep``, the handle for the backward."""
    lib = _library()
    pos = positions.detach().to(torch.float64).contiguous()  # [N, 3]
    box = cell.detach().to(torch.float64).contiguous()  # [B, 3, 3]
    n_atoms = pos.shape[0]
    n_frames = inputs.ptr.shape[0] - 1
    energy = torch.zeros(n_atoms, dtype=torch.float64)  # [N]
    status = ctypes.c_int32(0)
    address = lib.polarml_d3_forward(
        n_atoms,
        pos.data_ptr(),
        n_frames,
        inputs.ptr.data_ptr(),
        box.data_ptr(),
        inputs.periodic.data_ptr(),
        inputs.species.data_ptr(),
        inputs.table.shape[0],
        inputs.table.data_ptr(),
        inputs.ref_cn.data_ptr(),
        inputs.rcov.data_ptr(),
        inputs.r4r2.data_ptr(),
        *inputs.params,
        energy.data_ptr(),
        int(keep),
        thread_count(),
        ctypes.byref(status),
    )
    if status.value != 0:
        raise ValueError(
            "native D3: singular cell matrix in a periodic frame"
            if status.value == 1
            else "native D3: image shift beyond ±32767 cells (wrap the positions)"
        )
    handle = _Handle(lib, address) if keep and address else None
    return energy, handle


class _D3Native(torch.autograd.Function):
    """Per-atom D3 energies as a function of positions ``[N, 3]`` and cells ``[B, 3, 3]``."""

    @staticmethod
    def forward(ctx, positions: torch.Tensor, cell: torch.Tensor, inputs: _Inputs):
        energy, handle = _run_forward(positions, cell, inputs, keep=True)
        ctx.handle = handle
        ctx.shapes = (positions.shape[0], cell.shape[0])
        ctx.dtypes = (positions.dtype, cell.dtype)
        return energy.to(positions.dtype)  # [N]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_energy: torch.Tensor):
        handle: _Handle | None = ctx.handle
        if handle is None or not handle.alive:
            raise RuntimeError(
                "native D3: the pair data were freed by a previous backward through this graph "
                "(retain_graph is not supported); recompute the energy"
            )
        n_atoms, n_frames = ctx.shapes
        g = grad_energy.detach().to(torch.float64).contiguous()  # [N]
        grad_pos = torch.empty(n_atoms, 3, dtype=torch.float64)  # [N, 3]
        grad_cell = torch.empty(n_frames, 3, 3, dtype=torch.float64)  # [B, 3, 3]
        _library().polarml_d3_backward(
            handle.address, g.data_ptr(), grad_pos.data_ptr(), grad_cell.data_ptr(), thread_count()
        )
        handle.release()
        ctx.handle = None
        pos_dtype, cell_dtype = ctx.dtypes
        return grad_pos.to(pos_dtype), grad_cell.to(cell_dtype), None


def d3_energies(
    d3: torch.nn.Module,
    positions: torch.Tensor,
    numbers: torch.Tensor,
    cell: torch.Tensor,
    pbc: torch.Tensor,
    ptr: torch.Tensor,
) -> torch.Tensor:
    """Per-atom D3(BJ) energies ``[N]`` (eV) of a :class:`~openmm_polarml.model.d3.D3BJ` module
    through the native kernel, differentiable w.r.t. ``positions`` and ``cell``.

    Parameters
    ----------
    d3 : D3BJ
        The module whose tables, cutoffs and parameters to use.
    positions : torch.Tensor
        ``[N, 3]`` positions (Å), float32 or float64, CPU.
    numbers : torch.Tensor
        ``[N]`` atomic numbers (long).
    cell : torch.Tensor
        ``[B, 3, 3]`` lattice vectors as rows (Å); ignored for non-periodic frames.
    pbc : torch.Tensor
        ``[B, 3]`` bool; each frame periodic in all directions or in none (see :func:`usable`).
    ptr : torch.Tensor
        ``[B + 1]`` long, frame ``b`` holds atoms ``ptr[b]:ptr[b+1]``.

    Returns
    -------
    torch.Tensor
        ``[N]`` per-atom energies in ``positions.dtype`` (eV).
    """
    f64 = torch.float64
    uniq, species = torch.unique(numbers, sorted=True, return_inverse=True)  # [U], [N]
    table = d3.ref_c6.index_select(0, uniq).index_select(1, uniq)  # [U, U, 7, 7]
    inputs = _Inputs(
        ptr=ptr.to(torch.int64).contiguous(),
        periodic=pbc.all(-1).to(torch.int32).contiguous(),
        species=species.to(torch.int64).contiguous(),
        table=table.to(f64).contiguous(),
        ref_cn=d3.ref_cn[numbers].to(f64).contiguous(),
        rcov=d3.rcov[numbers].to(f64).contiguous(),
        r4r2=d3.r4r2[numbers].to(f64).contiguous(),
        params=(d3.cutoff, d3.cn_cutoff, d3.switch_width, d3.s6, d3.s8, d3.a1, d3.a2),
    )
    if torch.is_grad_enabled() and (positions.requires_grad or cell.requires_grad):
        return _D3Native.apply(positions, cell, inputs)
    energy, _ = _run_forward(positions, cell, inputs, keep=False)
    return energy.to(positions.dtype)
