"""Constrained minimisation of the PQEq energy over charges q and shell displacements d.

The stationary point of E(q, d) under fragment charge constraints is a minimum whenever the model
is stable, so it is found with a projected, preconditioned L-BFGS on the joint variable (q, d):
every search direction keeps Σ_{i∈f} q_i fixed, steps are line-searched (Armijo), and non-positive
curvature along a step is reported as a polarisation catastrophe instead of being followed.

Preconditioners for the charge block:
- ``dense``: the exact inverse of ∂²E/∂q² under the constraints (Cholesky of the (N×N) matrix); the
  charge part is then solved exactly at every step (direct solver, O(N²) memory, O(N³) time).
- ``iterative``: matrix-free, every step costs one energy+gradient evaluation. Ewald/PME use
  diag(η) plus the long-wavelength Coulomb modes (:mod:`.preconditioners`, iteration count
  independent of N); direct/taper use the diagonal η_i.
The shell block is preconditioned by the springs Ks_i; the whole preconditioner is rescaled to the
latest curvature pair, and the line search judges tiny steps on gradients (rounding-free).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .errors import ConvergenceError, PolarizationCatastropheError

#: ``(q [N], d [N, 3]) -> (E, ∂E/∂q [N], ∂E/∂d [N, 3])`` in eV, eV/e, eV/Å.
Objective = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


@dataclass
class Fragments:
    """Disjoint atom groups with fixed total charges.

    Attributes
    ----------
    index : torch.Tensor
        ``[N]`` fragment of each atom (long).
    charges : torch.Tensor
        ``[F]`` total charge of each fragment (e).
    """

    index: torch.Tensor
    charges: torch.Tensor

    @property
    def count(self) -> int:
        return self.charges.shape[0]

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Per-fragment sums ``[F]`` of per-atom values ``[N]``."""
        out = torch.zeros(self.count, dtype=values.dtype, device=values.device)
        return out.index_add(0, self.index, values)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Per-fragment means ``[F]``."""
        return self.sum(values) / self.sum(torch.ones_like(values))

    def matrix(self, n: int, dtype: torch.dtype, device) -> torch.Tensor:
        """Constraint matrix C ``[F, N]``: C_fi = 1 if atom i is in fragment f."""
        c = torch.zeros(self.count, n, dtype=dtype, device=device)
        c[self.index, torch.arange(n, device=device)] = 1.0
        return c

    def feasible(self, q: torch.Tensor) -> torch.Tensor:
        """Shift q uniformly within each fragment so that its charges are met exactly."""
        excess = (self.sum(q) - self.charges) / self.sum(torch.ones_like(q))
        return q - excess[self.index]


@dataclass
class SolverResult:
    """Converged charges ``q`` [N] (e), shells ``d`` [N, 3] (Å), fragment chemical potentials
    ``mu`` [F] (eV/e), iteration count and final residuals (eV/e, eV/Å), and the solver's
    curvature memory (to start a later solve with the same preconditioner from)."""

    q: torch.Tensor
    d: torch.Tensor
    mu: torch.Tensor
    iterations: int
    residual_charge: float
    residual_shell: float
    energy: float
    memory: object = None


#: Print one line per solver iteration (debugging aid).
_TRACE = bool(os.environ.get("POLARML_SOLVER_TRACE"))


class DiagonalChargePreconditioner:
    """z = D⁻¹(g − λ) with λ per fragment so that Σ_f z = 0 (D = η, eV/e²)."""

    def __init__(self, eta: torch.Tensor, fragments: Fragments):
        self.inv = 1.0 / eta
        self.fragments = fragments

    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        f = self.fragments
        lam = f.sum(self.inv * g) / f.sum(self.inv)
        return self.inv * (g - lam[f.index])


class ConstrainedInverse:
    """z = M⁻¹(g − Cᵀλ) with λ chosen so that C z = 0: the constrained Newton step of a symmetric
    positive definite model Hessian M, given through ``apply_inverse`` (maps ``[N, B]`` to ``[N, B]``).
    """

    def __init__(self, apply_inverse: Callable, fragments: Fragments, n: int, dtype, device):
        self.apply_inverse = apply_inverse
        self.constraint = fragments.matrix(n, dtype, device)  # [F, N]
        self.m_inv_ct = apply_inverse(self.constraint.T)  # [N, F]
        self.schur = self.constraint @ self.m_inv_ct  # [F, F]

    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        z = self.apply_inverse(g[:, None])[:, 0]
        lam = torch.linalg.solve(self.schur, self.constraint @ z)
        return z - self.m_inv_ct @ lam


#: multiples of the row-sum bound tried for the constraint penalty ρ of the dense factorisation
RHO_SCALES = (1.0, 1e2, 1e4, 1e6)


class DenseChargePreconditioner(ConstrainedInverse):
    """Exact constrained inverse of the charge Hessian H = diag(η) + A_cc (Cholesky).

    The factorisation is always done in float64: the shifted matrix H + ρCᵀC is ill-conditioned
    enough that float32 round-off can make a positive definite H fail the factorisation (a false
    polarisation-catastrophe alarm when training in float32)."""

    def __init__(self, hessian: torch.Tensor, fragments: Fragments):
        n = hessian.shape[0]
        h64 = hessian.detach().to(torch.float64)  # [N, N]
        constraint = fragments.matrix(n, torch.float64, hessian.device)  # [F, N]
        # H + ρ CᵀC has the same constrained solution and, for ρ large enough, is positive
        # definite exactly when H is on the constraint subspace (periodic cells: the uniform
        # charge mode can be negative). How large depends on the coupling of the constrained
        # modes to the softest allowed one (~ coupling² / λ_min), so ρ grows until it factorises.
        rho = h64.abs().sum(1).max()
        penalty = constraint.T @ constraint  # [N, N]
        for scale in RHO_SCALES:
            factor, info = torch.linalg.cholesky_ex(h64 + scale * rho * penalty)
            if int(info) == 0:
                break
        if int(info) != 0:
            raise PolarizationCatastropheError(
                "the charge Hessian diag(η) + J is not positive definite on the charge-constraint "
                "subspace: the hardness parameters are too small for this geometry (charges would "
                "run away)"
            )
        super().__init__(
            lambda v: torch.cholesky_solve(v.to(torch.float64), factor).to(v.dtype),
            fragments, n, hessian.dtype, hessian.device,
        )  # fmt: skip


class _History:
    """Limited-memory curvature pairs for the two-loop recursion.

    The preconditioner P is linear, so each pair also keeps P y (= P g_new − P g_old, no extra
    application) and the recursion's P v is a combination of P g and those: one application of P
    per iteration instead of two.
    """

    def __init__(self, size: int):
        self.size = size
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def push(self, s: torch.Tensor, y: torch.Tensor, sy: torch.Tensor, py: torch.Tensor) -> None:
        self.pairs.append((s, y, 1.0 / sy, py))
        if len(self.pairs) > self.size:
            self.pairs.pop(0)

    def direction(self, g: torch.Tensor, pg: torch.Tensor) -> torch.Tensor:
        """Search direction for gradient ``g`` given its preconditioned ``pg`` = P g."""
        v, r = g.clone(), pg.clone()  # r tracks P v
        alphas = []
        for s, y, rho, py in reversed(self.pairs):
            a = rho * torch.dot(s, v)
            alphas.append(a)
            v = v - a * y
            r = r - a * py
        if self.pairs:  # scale the preconditioner to the latest curvature (Nocedal & Wright 7.20)
            _, y_last, rho_last, py_last = self.pairs[-1]
            r = r * (1.0 / rho_last) / torch.dot(y_last, py_last)
        for (s, y, rho, _), a in zip(self.pairs, reversed(alphas), strict=True):
            b = rho * torch.dot(y, r)
            r = r + (a - b) * s
        return -r


def minimize(
    objective: Objective,
    q0: torch.Tensor,
    d0: torch.Tensor,
    fragments: Fragments | None,
    charge_preconditioner: Callable[[torch.Tensor], torch.Tensor],
    spring: torch.Tensor,
    shell_mask: torch.Tensor,
    tolerance: float,
    max_iterations: int = 1000,
    history: int = 30,
    max_shell_displacement: float = 3.0,
    memory: _History | None = None,
) -> SolverResult:
    """Find the constrained minimum of the energy behind ``objective``.

    Parameters
    ----------
    objective : callable
        ``(q [N], d [N, 3]) -> (E, ∂E/∂q, ∂E/∂d)`` (eV, eV/e, eV/Å).
    q0, d0 : torch.Tensor
        Initial guess: charges ``[N]`` (e) or, under split-charge equilibration, bond variables
        ``[M]`` (e); shells ``[N, 3]`` (Å). q0 is made feasible first.
    fragments : Fragments or None
        Charge constraints; None for unconstrained first-block variables (bond charges).
    charge_preconditioner : callable
        Maps a charge gradient to a feasible approximate Newton step (see the module docstring).
    spring : torch.Tensor
        ``[N]`` Ks (eV/Å²), preconditioner of the shell block.
    shell_mask : torch.Tensor
        ``[N]`` bool, atoms whose shell may move.
    tolerance : float
        Convergence threshold on the projected charge gradient (eV/e) and shell gradient (eV/Å).
    max_shell_displacement : float
        |d| beyond which the shells are declared to run away (Å).
    memory : _History or None
        Curvature pairs of an earlier solve with the same preconditioners (the previous MD
        step): its Hessian is close to this one, so the first steps are nearly Newton steps.
        Updated in place and returned in the result.

    Raises
    ------
    ConvergenceError
        If the tolerance is not reached within ``max_iterations``.
    PolarizationCatastropheError
        If the energy has non-positive curvature along a step or shells run away.
    """
    n = q0.shape[0]  # charges, or bonds under split-charge equilibration
    mask3 = shell_mask[:, None].to(d0.dtype)  # [N, 1]
    inv_spring = torch.where(shell_mask, 1.0 / spring.clamp_min(1e-30), torch.zeros_like(spring))

    def project(gq, gd):
        if fragments is not None:
            gq = gq - fragments.mean(gq)[fragments.index]
        return torch.cat([gq, (gd * mask3).reshape(-1)])

    def precondition(v):
        shells = v[n:].reshape(-1, 3) * inv_spring[:, None]
        return torch.cat([charge_preconditioner(v[:n]), shells.reshape(-1)])

    start = q0.detach() if fragments is None else fragments.feasible(q0.detach())
    x = torch.cat([start, (d0.detach() * mask3).reshape(-1)])
    energy, gq, gd = objective(x[:n], x[n:].reshape(-1, 3))
    g = project(gq, gd)
    pg = precondition(g)
    memory = _History(history) if memory is None else memory
    for iteration in range(max_iterations + 1):
        res_q = float(g[:n].abs().max()) if n else 0.0
        res_d = float(g[n:].abs().max()) if g.shape[0] > n else 0.0
        if res_q < tolerance and res_d < tolerance:
            mu = fragments.mean(gq) if fragments is not None else gq.new_zeros(0)
            d = x[n:].reshape(-1, 3)
            return SolverResult(x[:n], d, mu, iteration, res_q, res_d, float(energy), memory)
        if iteration == max_iterations:
            break
        p = memory.direction(g, pg)
        slope = torch.dot(g, p)
        if slope >= 0:  # lost descent (numerical noise): restart from the preconditioned gradient
            memory = _History(history)
            p = -pg
            slope = torch.dot(g, p)
        step, energy_new, gq_new, gd_new, g_new = _line_search(
            objective, project, x, p, energy, slope, n
        )
        if _TRACE:
            print(
                f"it {iteration} step {step:.3g} res {res_q:.2e} {res_d:.2e} hist {len(memory.pairs)}"
            )
        s = step * p
        x = x + s
        y = g_new - g
        sy = torch.dot(s, y)
        concavity = energy_new - energy - torch.dot(g, s)  # < 0 along negative curvature
        if sy <= 0 and concavity < -1e-10 * max(1.0, abs(float(energy))):
            raise PolarizationCatastropheError(
                "non-positive curvature of the PQEq energy along a solver step: the shell/charge "
                "Hessian is not positive definite (springs Ks too soft or hardness too small for "
                "this geometry/field); stiffen the parameters or reduce the field"
            )
        pg_new = precondition(g_new)
        if sy > 0:
            memory.push(s, y, sy, pg_new - pg)
        energy, gq, gd, g, pg = energy_new, gq_new, gd_new, g_new, pg_new
        shells = x[n:].reshape(-1, 3)
        if (
            shells.shape[0]
            and float(torch.linalg.norm(shells, dim=1).max()) > max_shell_displacement
        ):
            raise PolarizationCatastropheError(
                f"shell displacements exceed {max_shell_displacement} Å: the shells run away "
                "(polarisation catastrophe); check the springs Ks, the field and overlapping atoms"
            )
    raise ConvergenceError(
        f"PQEq solver did not converge in {max_iterations} iterations: residuals "
        f"{res_q:.3e} eV/e (charges), {res_d:.3e} eV/Å (shells) > tolerance {tolerance:.1e}; "
        "raise max_iterations or loosen the tolerance"
    )


def _line_search(objective, project, x, p, energy, slope, n, c1=1e-4, max_trials=30):
    """Backtracking Armijo search along ``p``; returns step, new E, gradients and projected gradient.

    Where the expected decrease c1·t·slope is below the rounding noise of E (large systems near
    convergence), sufficient decrease is judged on the trapezoid estimate ½t(E'(0) + E'(t)), exact for
    a quadratic and free of cancellation. Rejected steps are shortened to the secant minimiser of E'
    along ``p`` (exact for a quadratic), else by quadratic interpolation of E.
    """
    step = 1.0
    noise = 64.0 * torch.finfo(x.dtype).eps * max(1.0, abs(float(energy)))
    for _ in range(max_trials):
        trial = x + step * p
        e_new, gq, gd = objective(trial[:n], trial[n:].reshape(-1, 3))
        if not bool(torch.isfinite(e_new)):
            step *= 0.1
            continue
        g_new = project(gq, gd)
        slope_new = torch.dot(g_new, p)
        if -c1 * step * slope > noise:
            accepted = e_new <= energy + c1 * step * slope
        else:
            accepted = 0.5 * (slope + slope_new) <= c1 * slope
        if accepted:
            return step, e_new, gq, gd, g_new
        if slope_new > slope:  # positive curvature along p: secant minimiser of E'
            secant = float(-slope / (slope_new - slope))
            step = step * min(max(secant, 0.1), 0.9)
        else:
            curvature = (e_new - energy - slope * step) / step**2
            quadratic = float(-slope / (2.0 * curvature)) if curvature > 0 else 0.1 * step
            step = min(max(quadratic, 0.1 * step), 0.5 * step)
    trial = x + step * p
    e_new, gq, gd = objective(trial[:n], trial[n:].reshape(-1, 3))
    return step, e_new, gq, gd, project(gq, gd)
