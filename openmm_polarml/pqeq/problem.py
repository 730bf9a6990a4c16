"""One PQEq solve's fixed inputs as one object: geometry, per-atom terms, Coulomb operator, field,
fragments. The engine builds it once per call; the solver objective, the charge Hessian, the
published two-pass scheme and the implicit derivatives all read it."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .electrostatics.coulomb import SiteCoulomb
from .energy import AtomTerms, charge_hessian, field_positions, pqeq_energy, solver_objective
from .solver import Fragments


@dataclass(frozen=True)
class CoulombSpec:
    """How to build the Coulomb operator: ``method`` (direct/ewald/pme/taper), Ewald/PME
    ``accuracy`` (relative) and real-space ``cutoff`` (Å, None: automatic)."""

    method: str
    accuracy: float
    cutoff: float | None

    def build(self, positions, alpha, has_shell, cell) -> SiteCoulomb:
        """The operator at ``positions`` ``[N, 3]`` (Å), exponents ``alpha`` ``[N]`` (Å⁻²),
        ``has_shell`` ``[N]`` (bool) and ``cell`` ``[3, 3]`` (Å) or None."""
        return SiteCoulomb(
            self.method, positions, alpha, has_shell, cell, self.accuracy, self.cutoff
        )


@dataclass(frozen=True)
class PQEqProblem:
    """Everything E(q, d) depends on besides q and d.

    Attributes
    ----------
    positions : torch.Tensor
        ``[N, 3]`` core positions (Å).
    cell : torch.Tensor or None
        ``[3, 3]`` lattice vectors as rows (Å); None for finite systems.
    terms : AtomTerms
        χ (eV), η (eV), Ks (eV/Å²), Z (e), each ``[N]``.
    alpha : torch.Tensor
        ``[N]`` Gaussian exponents (Å⁻²).
    fragments : Fragments
        Atom → fragment index and fragment total charges (e).
    coulomb : SiteCoulomb or None
        The operator built at ``positions`` (None where no energy is evaluated in this dtype).
    coulomb_spec : CoulombSpec
        Its settings, to rebuild it in another dtype.
    field : torch.Tensor or None
        ``[3]`` homogeneous field (V/Å).
    reference : torch.Tensor or None
        ``[N, 3]`` reference geometry r⁰ of the periodic field coupling (Å).
    """

    positions: torch.Tensor
    cell: torch.Tensor | None
    terms: AtomTerms
    alpha: torch.Tensor
    fragments: Fragments
    coulomb: SiteCoulomb | None
    coulomb_spec: CoulombSpec
    field: torch.Tensor | None = None
    reference: torch.Tensor | None = None

    @property
    def has_shell(self) -> torch.Tensor:
        """``[N]`` bool: atoms with a shell (Ks > 0)."""
        return self.terms.spring > 0

    def for_solver(self) -> PQEqProblem:
        """Positions, cell, exponents and terms without their graph (the solver differentiates
        nothing); the same operator, field and fragments."""
        return replace(
            self,
            positions=self.positions.detach(),
            cell=None if self.cell is None else self.cell.detach(),
            terms=AtomTerms(*(t.detach() for t in vars(self.terms).values())),
            alpha=self.alpha.detach(),
        )

    def to(self, dtype: torch.dtype) -> PQEqProblem:
        """A detached copy in ``dtype`` with a fresh operator at the same settings."""

        def cast(t):
            return None if t is None else t.detach().to(dtype)

        positions, cell, alpha = cast(self.positions), cast(self.cell), cast(self.alpha)
        return PQEqProblem(
            positions=positions,
            cell=cell,
            terms=AtomTerms(*(cast(t) for t in vars(self.terms).values())),
            alpha=alpha,
            fragments=Fragments(self.fragments.index, self.fragments.charges.to(dtype)),
            coulomb=self.coulomb_spec.build(positions, alpha, self.has_shell, cell),
            coulomb_spec=self.coulomb_spec,
            field=cast(self.field),
            reference=cast(self.reference),
        )

    def energy(self, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """E (eV) at charges ``q`` ``[N]`` (e) and shells ``d`` ``[N, 3]`` (Å), with the graph to
        every input (:func:`~.energy.pqeq_energy`)."""
        return pqeq_energy(
            q, d, self.positions, self.cell, self.terms, self.coulomb, self.field, self.reference
        )

    def objective(self):
        """``(q, d) -> (E, ∂E/∂q, ∂E/∂d)`` at fixed cores (:func:`~.energy.solver_objective`)."""
        return solver_objective(
            self.positions, self.cell, self.terms, self.coulomb, self.field, self.reference
        )

    def charge_hessian(self) -> torch.Tensor:
        """Dense ∂²E/∂q² ``[N, N]`` (eV/e²) (:func:`~.energy.charge_hessian`)."""
        return charge_hessian(self.positions, self.cell, self.terms, self.coulomb)

    def field_positions(self, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Positions ``[N, 3]`` (Å) that couple to the field (:func:`~.energy.field_positions`),
        of ``positions`` (default: the problem's)."""
        positions = self.positions if positions is None else positions
        if self.cell is None:
            return positions
        return field_positions(positions, self.cell, self.reference)
