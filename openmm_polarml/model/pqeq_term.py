"""The PQEq term of the full model: one engine solve per frame, two ways to differentiate it.

- **graph** path: the engine's energy keeps the autograd graph of the final evaluation at the
  converged charges and shells (Hellmann–Feynman), with implicit derivatives of charges, shells
  and dipole. Needed for training (double backward of force losses, trainable PQEq parameters)
  and for stress.
- **fixed-solution** path: the engine returns energy and forces from its native evaluator without
  any graph (:meth:`openmm_polarml.pqeq.PQEq.forward` with nothing requiring grad), and
  :class:`KnownGradient` hands −forces to autograd as the energy's position gradient. Both are
  the same derivative of the same converged energy (tests/model/test_pqeq_term.py); this path is
  several times faster and is the inference default.

Either path can warm-start each frame's solve from the previous call's solution
(:class:`WarmStart`), as MD codes do for charge equilibration. The solve still runs to the same
tolerance, so the result differs from a cold start only within that tolerance.
"""

from __future__ import annotations

import contextlib

import torch
from torch.autograd.function import once_differentiable

from openmm_polarml.data_io import keys as K


class KnownGradient(torch.autograd.Function):
    """``energy`` as a function of ``positions`` whose gradient is already known.

    ``forward(positions [n, 3], energy [], gradient [n, 3]) -> energy []``; the backward pass
    returns ``grad_energy · gradient`` for the positions (first derivatives only).
    """

    @staticmethod
    def forward(ctx, positions, energy, gradient):  # noqa: D102
        ctx.save_for_backward(gradient)
        return energy.detach().clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_energy):  # noqa: D102
        (gradient,) = ctx.saved_tensors
        return grad_energy * gradient, None, None


@contextlib.contextmanager
def finite_method(engine, periodic: bool):
    """Solve a finite frame with the direct Coulomb sum when the engine's configured method is a
    periodic one (Ewald/PME), so one model handles crystals and molecules in the same batch."""
    if periodic or engine.long_range not in ("ewald", "pme"):
        yield
        return
    configured = engine.long_range
    engine.long_range = "direct"
    try:
        yield
    finally:
        engine.long_range = configured


#: Extrapolation weights over the last 1, 2, 3 solutions (newest first): constant, linear,
#: quadratic in time (exact for a solution that varies that way along an MD trajectory).
EXTRAPOLATION = {1: (1.0,), 2: (2.0, -1.0), 3: (3.0, -3.0, 1.0)}


class WarmStart:
    """Initial guesses for each frame slot from the solutions of the previous calls.

    The guess is the polynomial extrapolation of the last solutions (up to quadratic, as the
    predictor of predictor–corrector charge schemes in MD, e.g. Kolafa, J. Comput. Chem. 25, 335
    (2004)) of the highest order whose extrapolation of the *positions* misses the current ones
    by less than a quarter of the last displacement (MD with a fixed step), else the previous
    solution: the rule of the native ``PQEqForce``. It is only a starting point; the solve still
    runs to its tolerance. A slot is reset when its atoms (elements, order) change.

    Parameters
    ----------
    history : int
        Solutions kept per slot (1: previous solution only; 2, 3: up to linear, quadratic).
    """

    def __init__(self, history: int = 3):
        if history not in EXTRAPOLATION:
            raise ValueError(f"history must be 1, 2 or 3, got {history}")
        self.history = history
        self._slots: dict[int, tuple[torch.Tensor, list]] = {}
        self._caches: dict[int, dict] = {}

    def guess(self, slot: int, numbers: torch.Tensor, positions: torch.Tensor):
        """``(charges [n] (e), shells [n, 3] (Å))`` for ``slot`` at ``positions`` ``[n, 3]`` (Å),
        or ``(None, None)``."""
        stored = self._slots.get(slot)
        if stored is None or not _same_atoms(stored[0], numbers):
            return None, None
        past = stored[1]  # newest first: (positions, charges, shells)
        pos = positions.detach().double()
        step2 = float(((pos - past[0][0]) ** 2).sum())
        for points in range(len(past), 1, -1):
            weights, used = EXTRAPOLATION[points], past[:points]
            predicted = _combine(weights, [p[0] for p in used])  # [n, 3]
            if float(((pos - predicted) ** 2).sum()) < 0.0625 * step2:
                return _combine(weights, [p[1] for p in used]), _combine(
                    weights, [p[2] for p in used]
                )
        return past[0][1], past[0][2]

    def store(self, slot: int, numbers: torch.Tensor, positions, charges, shells) -> None:
        """Record a converged solution (charges e, shells Å) of ``slot`` at ``positions`` (Å)."""
        stored = self._slots.get(slot)
        past = stored[1] if stored is not None and _same_atoms(stored[0], numbers) else []
        entry = tuple(t.detach().double().clone() for t in (positions, charges, shells))
        self._slots[slot] = (numbers.clone(), [entry, *past][: self.history])

    def solver_cache(self, slot: int) -> dict:
        """The engine's ``solver_cache`` of ``slot`` (reused preconditioners)."""
        return self._caches.setdefault(slot, {})

    def clear(self) -> None:
        self._slots.clear()
        self._caches.clear()


def _combine(weights, tensors):
    """``Σ_k w_k t_k`` over the newest-first ``tensors``."""
    return sum(w * t for w, t in zip(weights, tensors, strict=True))


def _same_atoms(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.equal(a, b)


def _frame_inputs(data: dict, b: int) -> dict:
    """Keyword arguments of the engine for frame ``b`` (charge, fragments, field)."""
    charges = data.get(K.TOTAL_CHARGE)
    fragments = data.get(K.FRAGMENTS)
    fragment_charges = data.get(K.FRAGMENT_CHARGES)
    fields = data.get(K.FIELD)
    return {
        "total_charge": 0.0 if charges is None else float(charges[b]),
        "fragments": None if fragments is None else fragments[b],
        "fragment_charges": None if fragment_charges is None else fragment_charges[b],
        "external_field": None if fields is None or not bool(fields[b].any()) else fields[b],
    }


def pqeq_frames(
    engine: torch.nn.Module,
    positions: torch.Tensor,
    cell: torch.Tensor,
    data: dict,
    fixed_solution: bool,
    warm_start: WarmStart | None = None,
    chi_offsets: torch.Tensor | None = None,
) -> dict:
    """Per-frame PQEq energies of a batch.

    Parameters
    ----------
    engine : openmm_polarml.pqeq.PQEq
        The charge/shell solver.
    positions : torch.Tensor
        ``[N, 3]`` positions (Å), possibly strained and requiring grad.
    cell : torch.Tensor
        ``[B, 3, 3]`` cells (Å, rows are lattice vectors).
    data : dict
        The batch (numbers, pbc, ptr and the optional total charge, fragments, field).
    fixed_solution : bool
        Use the graph-free fixed-solution path (first derivatives w.r.t. positions only).
    warm_start : WarmStart or None
        Previous solutions to start from (updated in place).
    chi_offsets : torch.Tensor or None
        ``[B, 95]`` electronegativity offsets (eV) of each frame's head, per element.

    Returns
    -------
    dict
        ``energy [B]`` (eV), ``charges [N]`` (e), ``shell_displacements [N, 3]`` (Å),
        ``dipole [B, 3]`` (e·Å), ``iterations [B]``.
    """
    ptr = data[K.PTR].tolist()
    energies, charges, shells, dipoles, iterations = [], [], [], [], []
    for b in range(len(ptr) - 1):
        sl = slice(ptr[b], ptr[b + 1])
        numbers = data[K.NUMBERS][sl]
        periodic = bool(data[K.PBC][b].all())
        args = (numbers, cell[b] if periodic else None, periodic)
        kwargs = _frame_inputs(data, b)
        if chi_offsets is not None:
            kwargs["chi_shift"] = chi_offsets[b][numbers]  # [n] eV
        if warm_start is not None:
            q0, d0 = warm_start.guess(b, numbers, positions[sl])
            kwargs.update(initial_charges=q0, initial_shells=d0)
            kwargs["solver_cache"] = warm_start.solver_cache(b)
        with finite_method(engine, periodic):
            if fixed_solution:
                with torch.no_grad():
                    out = engine(positions[sl].detach(), *args, compute_forces=True, **kwargs)
                energy = KnownGradient.apply(positions[sl], out["energy"], -out["forces"])
            else:
                out = engine(positions[sl], *args, compute_forces=False, **kwargs)
                energy = out["energy"]
        if warm_start is not None:
            warm_start.store(b, numbers, positions[sl], out["charges"], out["shell_displacements"])
        energies.append(energy)
        charges.append(out["charges"])
        shells.append(out["shell_displacements"])
        dipoles.append(out["dipole"])
        iterations.append(int(out["iterations"]))
    return {
        "energy": torch.stack(energies),
        "charges": torch.cat(charges),
        "shell_displacements": torch.cat(shells),
        "dipole": torch.stack(dipoles),
        "iterations": torch.tensor(iterations),
    }
