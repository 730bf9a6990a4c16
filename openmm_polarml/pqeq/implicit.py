"""Implicit differentiation through the charge/shell solve.

The energy needs no correction: at the constrained minimum x* = (q*, d*) its total derivative with
respect to any input θ (element parameters, positions, cell, field) equals the partial one (envelope
theorem). Quantities that depend on x* itself — charges, shell displacements, the dipole — need
dx*/dθ = −H⁻¹ ∂(∇ₓE)/∂θ, with H = ∂²E/∂x² restricted to the fragment-constraint subspace.

:func:`differentiable_solution` returns q*, d* unchanged in value but carrying that derivative: a
custom autograd node whose backward solves H λ = ḡ by projected conjugate gradients with exact
Hessian-vector products (double backward of the energy). This gives, e.g., a dipole loss its
gradient with respect to the PQEq parameters, and exact Born effective charges ∂μ/∂R.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .errors import ConvergenceError, PolarizationCatastropheError
from .problem import PQEqProblem


def projected_conjugate_gradient(
    hvp: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    project: Callable[[torch.Tensor], torch.Tensor],
    tolerance: float,
    max_iterations: int = 2000,
) -> torch.Tensor:
    """Solve P H P x = P rhs for x in the subspace P (H symmetric positive definite on it).

    Raises
    ------
    PolarizationCatastropheError
        If H has non-positive curvature on the subspace.
    ConvergenceError
        If the relative residual does not fall below ``tolerance``.
    """
    r = project(rhs)
    x = torch.zeros_like(r)
    norm_b = float(torch.linalg.norm(r))
    if norm_b == 0.0:
        return x
    p = r.clone()
    rs = torch.dot(r, r)
    for _ in range(max_iterations):
        hp = project(hvp(p))
        curvature = torch.dot(p, hp)
        if curvature <= 0:
            raise PolarizationCatastropheError(
                "the PQEq Hessian is not positive definite on the charge-constraint subspace: "
                "the solution is not a minimum, its derivatives are undefined"
            )
        step = rs / curvature
        x = x + step * p
        r = r - step * hp
        rs_new = torch.dot(r, r)
        if float(torch.sqrt(rs_new)) <= tolerance * norm_b:
            return x
        p = r + (rs_new / rs) * p
        rs = rs_new
    raise ConvergenceError(
        f"implicit-derivative CG did not reach relative residual {tolerance:.1e} in "
        f"{max_iterations} iterations"
    )


class _ImplicitStep(torch.autograd.Function):
    """Forward: zeros like ∇ₓE. Backward: −H⁻¹ ḡ (projected), so x* + step(∇ₓE) has dx*/dθ."""

    @staticmethod
    def forward(ctx, gradient, hvp, project, tolerance):
        ctx.hvp, ctx.project, ctx.tolerance = hvp, project, tolerance
        return torch.zeros_like(gradient)

    @staticmethod
    def backward(ctx, grad_output):
        lam = projected_conjugate_gradient(ctx.hvp, grad_output, ctx.project, ctx.tolerance)
        return -lam, None, None, None


def differentiable_solution(
    x: torch.Tensor, d: torch.Tensor, problem: PQEqProblem
) -> tuple[torch.Tensor, torch.Tensor]:
    """Solver variables ``x`` (charges ``[N]``, or bond variables ``[M]`` under split charges; e)
    and shells ``[N, 3]`` (Å) equal to the converged x, d, differentiable with respect to every
    graph input of ``problem``'s energy (parameters, positions, cell, field)."""
    n = x.shape[0]
    fragments = None if problem.split is not None else problem.fragments
    has_shell = problem.has_shell.detach()
    mask3 = has_shell[:, None].to(x.dtype)
    with torch.enable_grad():
        x_var = x.detach().requires_grad_(True)
        d_var = d.detach().requires_grad_(True)
        energy = problem.energy(x_var, d_var)
        grad_x, grad_d = torch.autograd.grad(energy, (x_var, d_var), create_graph=True)

    def project(v: torch.Tensor) -> torch.Tensor:
        vx = v[:n]
        if fragments is not None:
            vx = vx - fragments.mean(vx)[fragments.index]
        return torch.cat([vx, (v[n:].reshape(-1, 3) * mask3).reshape(-1)])

    def hvp(v: torch.Tensor) -> torch.Tensor:
        hx, hd = torch.autograd.grad(
            (grad_x, grad_d), (x_var, d_var), (v[:n], v[n:].reshape(-1, 3)), retain_graph=True
        )
        return torch.cat([hx, hd.reshape(-1)])

    tolerance = 1e-11 if x.dtype == torch.float64 else 1e-5
    gradient = torch.cat([grad_x, grad_d.reshape(-1)])  # [n + 3N]
    step = _ImplicitStep.apply(gradient, hvp, project, tolerance)
    return x.detach() + step[:n], d.detach() + step[n:].reshape(-1, 3)
