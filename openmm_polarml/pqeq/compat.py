"""The published ReaxNet scheme (compatibility mode): two passes of charge solve + clamped shell update.

This is *not* a converged stationary point: forces taken at its (q, d) differ from finite
differences (6e-5 eV/Å on Li2PO2N after two passes). It exists to reproduce published numbers.
"""

from __future__ import annotations

import torch

from .problem import PQEqProblem
from .solver import DenseChargePreconditioner, Objective, SolverResult

PUBLISHED_PASSES = 2
PUBLISHED_SHELL_CLAMP = 0.25  # Å


def reaxnet_two_pass(
    objective: Objective,
    problem: PQEqProblem,
    passes: int = PUBLISHED_PASSES,
    clamp: float = PUBLISHED_SHELL_CLAMP,
) -> SolverResult:
    """Run the published fixed-point loop from d = 0 and return its (q, d).

    ``objective`` is ``problem.objective()`` (the solver's, already built); ``problem`` is detached.
    """
    positions, terms, fragments = problem.positions, problem.terms, problem.fragments
    n = positions.shape[0]
    exact_charges = DenseChargePreconditioner(problem.charge_hessian(), fragments)
    q = fragments.feasible(torch.zeros(n, dtype=positions.dtype))
    d = torch.zeros_like(positions)
    has_shell = (terms.spring > 0)[:, None]
    for _ in range(passes):
        _, gq, _ = objective(q, d)
        q = q - exact_charges(gq)  # exact constrained minimum in q (E is quadratic in q)
        _, _, gd = objective(q, d)
        electrostatic_force = -(gd - terms.spring[:, None] * d)  # [N, 3]
        d = electrostatic_force / terms.spring.clamp_min(1e-30)[:, None] * has_shell
        length = torch.linalg.norm(d, dim=1, keepdim=True)
        d = torch.where(length > clamp, d * clamp / length.clamp_min(1e-30), d)
    energy, gq, gd = objective(q, d)
    mu = fragments.mean(gq)
    res_q = float((gq - mu[fragments.index]).abs().max())
    return SolverResult(q, d, mu, passes, res_q, float(gd.abs().max()), float(energy))
