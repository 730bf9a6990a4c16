"""One PQEq solve's fixed inputs as one object: geometry, per-atom terms, Coulomb operator, field,
fragments. The engine builds it once per call; the solver objective, the charge Hessian, the
published two-pass scheme and the implicit derivatives all read it."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .electrostatics.coulomb import SiteCoulomb
from .energy import (
    AtomTerms,
    charge_hessian,
    dipole,
    field_positions,
    pqeq_energy,
    solver_objective,
)
from .solver import Fragments
from .split_charge import BondGraph


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
    split : BondGraph or None
        Split-charge equilibration (:mod:`.split_charge`): the solver's charge variables ``x`` are
        then the bond variables s ``[M]``, and the fragments only set the reference charges.
        None: global charge equilibration, ``x`` are the charges q ``[N]`` under the fragment
        constraints.
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
    split: BondGraph | None = None

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
            field=None if self.field is None else self.field.detach(),
            split=None if self.split is None else self.split.to(self.positions.dtype),
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
            split=None if self.split is None else self.split.to(dtype),
        )

    def charges(self, x: torch.Tensor) -> torch.Tensor:
        """Charges q ``[N]`` (e) of the solver variables ``x`` (charges, or bond variables under
        split-charge equilibration, then with the graph to the positions through the taper)."""
        if self.split is None:
            return x
        return self.split.charges(x, self.split.weights(self.positions, self.cell))

    def dipole(self, x: torch.Tensor, d: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Dipole ``[3]`` (e·Å) at solver variables ``x`` and shells ``d`` ``[N, 3]`` (Å), with
        field-coupling positions ``u`` ``[N, 3]`` (Å) for the reference/global charges."""
        if self.split is None:
            return dipole(x, d, u, self.terms)
        weights = self.split.weights(self.positions, self.cell)
        vectors = self.split.vectors(self.positions, self.cell)
        shells = (self.terms.shell_charge[:, None] * d).sum(0)
        return self.split.transfer_dipole(x, weights, vectors, u) - shells

    def energy(self, x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """E (eV) at solver variables ``x`` (charges ``[N]`` or bond variables ``[M]``, e) and
        shells ``d`` ``[N, 3]`` (Å), with the graph to every input (:func:`~.energy.pqeq_energy`;
        under split charges plus the bond energy and the bond-dipole field coupling)."""
        if self.split is None:
            return pqeq_energy(
                x, d, self.positions, self.cell, self.terms, self.coulomb, self.field,
                self.reference,
            )  # fmt: skip
        q = self.charges(x)
        energy = pqeq_energy(
            q, d, self.positions, self.cell, self.terms, self.coulomb, None, None
        ) + self.split.penalty(x)
        if self.field is not None:
            energy = energy - torch.dot(self.field, self.dipole(x, d, self.field_positions()))
        return energy

    def objective(self):
        """``(x, d) -> (E, ∂E/∂x, ∂E/∂d)`` at fixed cores (:func:`~.energy.solver_objective`)."""
        if self.split is None:
            return solver_objective(
                self.positions, self.cell, self.terms, self.coulomb, self.field, self.reference
            )
        return self._split_objective()

    def _split_objective(self):
        """The objective over bond variables s ``[M]`` (e) and shells ``[N, 3]`` (Å)."""
        base = solver_objective(self.positions, self.cell, self.terms, self.coulomb, None, None)
        graph, field, z = self.split, self.field, self.terms.shell_charge
        weights = graph.weights(self.positions, self.cell)  # [M]
        vectors = graph.vectors(self.positions, self.cell)  # [M, 3]
        u = self.field_positions() if field is not None else None
        field_along = None if field is None else weights * (vectors @ field)  # [M] eV/e

        def objective(s: torch.Tensor, d: torch.Tensor):
            energy, grad_q, grad_d = base(graph.charges(s, weights), d)
            energy = energy + graph.penalty(s)
            grad_s = graph.pull_back(grad_q, weights) + graph.hardness * s
            if field is not None:
                mu = graph.transfer_dipole(s, weights, vectors, u) - (z[:, None] * d).sum(0)
                energy = energy - torch.dot(field, mu)
                grad_s = grad_s - field_along
                grad_d = grad_d + z[:, None] * field
            return energy, grad_s, grad_d

        objective.frozen = base.frozen
        return objective

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
