"""The PQEq energy function E(q, d; R, cell, field, parameters): one definition for solver and forces."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .electrostatics.coulomb import SiteCoulomb


@dataclass
class AtomTerms:
    """Per-atom parameters ``[N]`` in engine units (eV, Å, e): χ, η, Ks, Z (shell charge)."""

    chi: torch.Tensor
    eta: torch.Tensor
    spring: torch.Tensor
    shell_charge: torch.Tensor


def field_positions(
    positions: torch.Tensor, cell: torch.Tensor | None, reference: torch.Tensor | None
) -> torch.Tensor:
    """Positions u_i that couple to the field (Å): r_i for finite systems; for periodic cells
    r⁰_i + mic(r_i − r⁰_i), invariant to re-wrapping atoms (docs/conventions.md)."""
    if cell is None or reference is None:
        return positions
    frac = (positions.detach() - reference) @ torch.linalg.inv(cell.detach())  # [N, 3]
    return positions - torch.round(frac) @ cell  # [N, 3]


def dipole(q: torch.Tensor, d: torch.Tensor, u: torch.Tensor, terms: AtomTerms) -> torch.Tensor:
    """Dipole μ = Σ q_i u_i − Σ Z_i d_i (e·Å), ``[3]``."""
    return (q[:, None] * u).sum(0) - (terms.shell_charge[:, None] * d).sum(0)


def pqeq_energy(
    q: torch.Tensor,
    d: torch.Tensor,
    positions: torch.Tensor,
    cell: torch.Tensor | None,
    terms: AtomTerms,
    coulomb: SiteCoulomb,
    field: torch.Tensor | None,
    field_reference: torch.Tensor | None,
) -> torch.Tensor:
    """Total PQEq energy (eV) at charges ``q`` [N] (e) and shell displacements ``d`` [N, 3] (Å).

    E = Σ [χq + ½ηq² + ½Ks|d|²] + ½ Qᵀ A(x) Q − F·μ with site charges Q = (q + Z, −Z) at sites
    x = (r, r + d). ``field`` is the homogeneous external field (V/Å) or None.
    """
    sites = torch.cat([positions, positions + d])  # [2N, 3]
    site_charges = torch.cat([q + terms.shell_charge, -terms.shell_charge])  # [2N]
    potential = coulomb.potential(sites, site_charges, cell)  # [2N] V
    energy = 0.5 * torch.dot(site_charges, potential)
    energy = energy + torch.sum(terms.chi * q + 0.5 * terms.eta * q * q)
    energy = energy + 0.5 * torch.sum(terms.spring * (d * d).sum(-1))
    if field is not None:
        u = field_positions(positions, cell, field_reference)
        energy = energy - torch.dot(field, dipole(q, d, u, terms))
    return energy


def solver_objective(
    positions: torch.Tensor,
    cell: torch.Tensor | None,
    terms: AtomTerms,
    coulomb: SiteCoulomb,
    field: torch.Tensor | None,
    field_reference: torch.Tensor | None,
):
    """``(q, d) -> (E, ∂E/∂q, ∂E/∂d)`` at fixed cores: the same E as :func:`pqeq_energy`, with the
    gradient computed analytically by :class:`FrozenCoreCoulomb` (no autograd graph).

    Returns a callable; q ``[N]`` (e), d ``[N, 3]`` (Å) → E (eV), ``[N]`` (eV/e), ``[N, 3]`` (eV/Å).
    """
    from .electrostatics.frozen import FrozenCoreCoulomb

    frozen = FrozenCoreCoulomb(coulomb, positions, cell)
    z = terms.shell_charge
    u = None if field is None else field_positions(positions, cell, field_reference)

    def objective(q: torch.Tensor, d: torch.Tensor):
        site_charges = torch.cat([q + z, -z])  # [2N]
        potential, coulomb_grad = frozen(site_charges, d)
        energy = _energy_from_potential(q, d, site_charges, potential, terms, field, u)
        grad_q = terms.chi + terms.eta * q + potential[: q.shape[0]]
        grad_d = terms.spring[:, None] * d + coulomb_grad
        if u is not None:
            grad_q = grad_q - u @ field
            grad_d = grad_d + z[:, None] * field
        return energy, grad_q, grad_d

    objective.frozen = frozen  # the fixed-core evaluator, reused for the final forces
    return objective


def fixed_solution_forces(objective, q, d, terms: AtomTerms, field, u) -> tuple:
    """Energy (eV) and forces ``[N, 3]`` (eV/Å) at fixed charges ``q`` and shells ``d`` from the
    solver's fixed-core evaluator (no autograd graph): at the converged solution these are the
    Hellmann–Feynman forces, the exact negative gradient of the converged energy. ``u``: the field
    coupling positions ``[N, 3]`` (Å) or None without a field."""
    z = terms.shell_charge
    site_charges = torch.cat([q + z, -z])  # [2N]
    potential, atom_grad = objective.frozen.with_atom_gradient(site_charges, d)
    energy = _energy_from_potential(q, d, site_charges, potential, terms, field, u)
    forces = -atom_grad
    if field is not None:  # −F·μ, μ = Σ q_i u_i − Z_i d_i, ∂u/∂r = 1
        forces = forces + q[:, None] * field
    return energy, forces


def _energy_from_potential(q, d, site_charges, potential, terms: AtomTerms, field, u):
    """E (eV) of :func:`pqeq_energy` given the site potential ``[2N]`` (V) at charges ``q``,
    shells ``d``; the field term needs ``u`` (None without a field)."""
    energy = 0.5 * torch.dot(site_charges, potential)
    energy = energy + torch.sum(terms.chi * q + 0.5 * terms.eta * q * q)
    energy = energy + 0.5 * torch.sum(terms.spring * (d * d).sum(-1))
    if field is not None:
        energy = energy - torch.dot(field, dipole(q, d, u, terms))
    return energy


def charge_hessian(positions, cell, terms: AtomTerms, coulomb: SiteCoulomb, block: int = 64):
    """Dense ∂²E/∂q² = diag(η) + A_cc ``[N, N]`` (eV/e²) at the current core positions."""
    n = positions.shape[0]
    sites = torch.cat([positions, positions])  # shells irrelevant: unit charges on cores only
    columns = []
    for start in range(0, n, block):
        stop = min(start + block, n)
        unit = torch.zeros(2 * n, stop - start, dtype=positions.dtype, device=positions.device)
        unit[torch.arange(start, stop), torch.arange(stop - start)] = 1.0
        columns.append(coulomb.potential(sites, unit, cell)[:n])  # [N, B]
    matrix = torch.cat(columns, dim=1)
    return 0.5 * (matrix + matrix.T) + torch.diag(terms.eta)
