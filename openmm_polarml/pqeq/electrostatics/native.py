"""ctypes bindings of the native solver-loop kernels (csrc/engine/PQEqEngineKernels.cpp).

The charge/shell solve evaluates the site potentials and shell gradients 20–40 times at fixed
cores; the C kernels do its PME spreading, convolution and gathering and its shell real-space pairs
on float64 CPU tensors. They compute the same sums as the tensor code in :mod:`.frozen` and
:mod:`.pme` (tests/pqeq/test_native_kernels.py checks both to rounding), which stays the path for
other devices and dtypes, and when the compiled module is missing or ``POLARML_NATIVE_KERNELS=0``.
Thread count: ``torch.get_num_threads()``.
"""

from __future__ import annotations

import ctypes

import torch

from openmm_polarml.native_kernels import load_kernels, thread_count

_I64, _I32, _DBL, _PTR = ctypes.c_int64, ctypes.c_int32, ctypes.c_double, ctypes.c_void_p
_SIGNATURES = {
    "polarml_pme_spread": [_I64, _PTR, _PTR, _PTR, _PTR, ctypes.c_int, _PTR, ctypes.c_int],
    "polarml_pme_gather": [_I64, _PTR, _PTR, _PTR, ctypes.c_int, _PTR, _PTR, _PTR, ctypes.c_int],
    "polarml_pme_convolve": [ctypes.c_int, _I64, _PTR, _PTR, _PTR, ctypes.c_int],
    "polarml_real_space_shells": [ctypes.c_int, _DBL, _DBL, _I64, _PTR, _PTR, _PTR, _PTR, _PTR]
    + [_I64, _PTR, _PTR, _PTR, _PTR, _PTR, _PTR, _PTR, _PTR, _DBL]
    + [_PTR] * 8
    + [ctypes.c_int],
    "polarml_kernel_table_intervals": [_DBL, _DBL, _DBL],
    "polarml_kernel_table_fill": [_DBL, _DBL, _DBL, ctypes.c_int, _PTR],
    "polarml_core_core_potential": [_I64, _PTR, _PTR, _PTR, _PTR, _PTR],
}
#: Kernel-table step h α² (s = r² in Å², α in Å⁻¹), as the plugin's: value error ~1e-13 relative.
TABLE_STEP = 0.004
#: Pair-kernel codes of the C side.
KERNEL_KIND = {"direct": 0, "taper": 1, "ewald": 2}


def _library() -> ctypes.CDLL | None:
    signatures = {name: (argtypes, None) for name, argtypes in _SIGNATURES.items()}
    signatures["polarml_kernel_table_intervals"] = (
        _SIGNATURES["polarml_kernel_table_intervals"],
        ctypes.c_int,
    )
    return load_kernels("openmm_polarml.pqeq.electrostatics._engine_kernels", signatures)


def usable(*tensors: torch.Tensor) -> bool:
    """True when the kernels are built and every tensor is a float64 CPU tensor."""
    if _library() is None:
        return False
    return all(t.device.type == "cpu" and t.dtype == torch.float64 for t in tensors)


def _ptr(t: torch.Tensor) -> int:
    assert t.is_contiguous()
    return t.data_ptr()


def mesh_array(mesh: tuple[int, int, int]) -> torch.Tensor:
    """Mesh dimensions as the ``int32[3]`` the kernels take."""
    return torch.tensor(mesh, dtype=torch.int32)


def pme_spread(u, charges, offset, mesh, order: int, rho: torch.Tensor) -> None:
    """Add the B-spline spread of ``charges`` ``[M]`` at scaled coordinates ``u`` ``[M, 3]`` to the
    flat meshes ``rho`` (site s writes at ``offset[s]`` + mesh index; ``mesh`` from :func:`mesh_array`)."""
    u, charges, offset = u.contiguous(), charges.contiguous(), offset.contiguous()
    _library().polarml_pme_spread(
        u.shape[0],
        _ptr(u),
        _ptr(charges),
        _ptr(offset),
        _ptr(mesh),
        order,
        _ptr(rho),
        thread_count(),
    )


def pme_gather(u, offset, mesh, order: int, phi: torch.Tensor, with_gradient: bool):
    """Interpolated ``phi`` at scaled coordinates ``u`` ``[M, 3]``: values ``[M]`` and, if asked,
    the gradient in scaled coordinates ``[M, 3]`` (else None)."""
    u, offset = u.contiguous(), offset.contiguous()
    value = torch.empty(u.shape[0], dtype=phi.dtype)
    du = torch.empty(u.shape[0], 3, dtype=phi.dtype) if with_gradient else None
    _library().polarml_pme_gather(
        u.shape[0],
        _ptr(u),
        _ptr(offset),
        _ptr(mesh),
        order,
        _ptr(phi),
        _ptr(value),
        None if du is None else _ptr(du),
        thread_count(),
    )
    return value, du


def pme_convolve(influence: torch.Tensor, rho_hat: torch.Tensor) -> torch.Tensor:
    """φ̂_h = Σ_g influence_gh ρ̂_g for real ``influence`` ``[G, G, ...]`` and complex128
    ``rho_hat`` ``[G, ...]``; returns complex128 ``[G, ...]``."""
    rho_hat = rho_hat.contiguous()
    out = torch.empty_like(rho_hat)
    groups = rho_hat.shape[0]
    _library().polarml_pme_convolve(
        groups, rho_hat[0].numel(), _ptr(influence), _ptr(rho_hat), _ptr(out), thread_count()
    )
    return out


class KernelTables:
    """Cubic Hermite tables (in s = r²) of the Ewald real-space kernel [erf(αr) − erf(βr)]/r for
    each distinct pair exponent, on [0, s_max] (Å²): the tables of the OpenMM plugin
    (csrc/platforms/common/include/PQEqKernelTable.h), value error ~1e-13 relative. The C side
    takes only the value from the table (it replaces two erfc calls) and forms the slope from it
    and two Gaussians, which keeps the slope at the same accuracy.

    Parameters
    ----------
    pair_alpha : torch.Tensor
        ``[P]`` pair exponents α (Å⁻¹), all above ``beta``.
    beta : float
        Ewald splitting parameter (Å⁻¹).
    s_max : float
        Largest tabulated r² (Å²); pairs beyond it are evaluated exactly.
    """

    def __init__(self, pair_alpha: torch.Tensor, beta: float, s_max: float):
        values, self.pair_table = torch.unique(pair_alpha, return_inverse=True)
        lib = _library()
        coefficients, starts, invh, offset = [], [], [], 0
        for a in values.tolist():
            n = lib.polarml_kernel_table_intervals(a, s_max, TABLE_STEP)
            table = torch.empty(4 * (n + 1), dtype=torch.float64)
            lib.polarml_kernel_table_fill(a, float(beta), s_max, n, _ptr(table))
            coefficients.append(table)
            starts.append(offset)
            invh.append(1.0 / (s_max / n))
            offset += table.numel()
        self.coefficients = torch.cat(coefficients) if coefficients else torch.zeros(4)
        self.start = torch.tensor(starts or [0], dtype=torch.int64)
        self.invh = torch.tensor(invh or [1.0], dtype=torch.float64)
        self.pair_table = self.pair_table.to(torch.int32)
        self.s_max = float(s_max)


def real_space_shells(
    kind: str,
    beta,
    taper_cutoff,
    cs,
    ss,
    qc,
    qs,
    d,
    phi_c,
    phi_s,
    grad,
    tables,
    work,
    core_grad=None,
):
    """Add the core–shell pairs ``cs`` = (core, shell, vector, α, table) and shell–shell pairs
    ``ss`` = (i, j, vector, α, table) to the potentials ``phi_c``/``phi_s`` ``[N]`` and the shell
    gradient ``grad`` ``[N, 3]`` (no Coulomb constant; see
    :meth:`.frozen.FrozenCoreCoulomb._real_space`). ``table`` is the ``int32`` per-pair index into
    ``tables`` (a :class:`KernelTables`), or None for the exact kernel. ``work`` is a float64
    workspace of at least :func:`real_space_workspace` elements, reused across calls.
    ``core_grad`` ``[N, 3]`` (optional) receives the core side (−1 × the shell side) of every
    core–shell pair."""
    cs = [None if t is None else t.contiguous() for t in cs]
    ss = [None if t is None else t.contiguous() for t in ss]
    qc, qs, d = qc.contiguous(), qs.contiguous(), d.contiguous()
    beta = float(beta) if beta != float("inf") else 0.0
    table_args = (None, None, None, 0.0)
    if tables is not None:
        table_args = (
            _ptr(tables.coefficients),
            _ptr(tables.start),
            _ptr(tables.invh),
            tables.s_max,
        )
    _library().polarml_real_space_shells(
        KERNEL_KIND[kind],
        beta,
        float(taper_cutoff),
        cs[0].shape[0],
        *(None if t is None else _ptr(t) for t in cs),
        ss[0].shape[0],
        *(None if t is None else _ptr(t) for t in ss),
        *table_args,
        _ptr(qc),
        _ptr(qs),
        _ptr(d),
        _ptr(phi_c),
        _ptr(phi_s),
        _ptr(grad),
        None if core_grad is None else _ptr(core_grad),
        _ptr(work),
        thread_count(),
    )


def real_space_workspace(n_core_shell: int, n_shell_shell: int) -> int:
    """Doubles of workspace :func:`real_space_shells` needs (a kernel and a 3-vector per pair)."""
    return 4 * max(n_core_shell, n_shell_shell, 1)


def core_core_potential(i, j, kernel, qc, phi_c) -> None:
    """Add Σ over cached core–core pairs (i, j, kernel) of the pair potentials to ``phi_c``."""
    i, j, kernel, qc = i.contiguous(), j.contiguous(), kernel.contiguous(), qc.contiguous()
    _library().polarml_core_core_potential(
        i.shape[0], _ptr(i), _ptr(j), _ptr(kernel), _ptr(qc), _ptr(phi_c)
    )
