"""PQEq engine: validated inputs → converged charges and shells → energy, forces, stress, dipole."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import torch

from . import compat
from .checks import check_field, check_overlaps
from .electrostatics.coulomb import LONG_RANGE_METHODS
from .energy import (
    AtomTerms,
    dipole,
    fixed_solution_forces,
)
from .errors import InvalidInputError, NonNeutralCellError
from .implicit import differentiable_solution
from .parameters import ElementParameters
from .preconditioners import LongWaveChargePreconditioner, cached_preconditioner
from .problem import CoulombSpec, PQEqProblem
from .solver import (
    DenseChargePreconditioner,
    DiagonalChargePreconditioner,
    Fragments,
    minimize,
)
from .split_charge import (
    DEFAULT_BOND_HARDNESS,
    DEFAULT_SPLIT_CUTOFF,
    BondHardness,
    build_bond_graph,
    reference_charges,
    solve_split,
)

#: Atoms closer than this are rejected as overlapping (Å).
#: Above this many atoms the automatic solver choice is the matrix-free one.
DENSE_SOLVER_MAX_ATOMS = 64
#: Cold starts displace the shells at random by about this much (Å, seeded): a symmetric crystal is
#: otherwise stationary at d = 0 by symmetry, and a saddle there (the published taper kernel in
#: cells shorter than 2 r_t has negative shell curvature, e.g. -0.55 eV/Å² in NaCl 4×4×4) would be
#: returned as converged instead of being reported.
COLD_START_SHELL_DISPLACEMENT = 1e-5
#: Default solver thresholds on the gradients (eV/e, eV/Å) per dtype.
DEFAULT_TOLERANCE_FLOAT64 = 1e-6
DEFAULT_TOLERANCE_FLOAT32 = 1e-4
#: How charge may move: within fragments freely, or only along bonds (:mod:`.split_charge`).
CHARGE_TRANSFER_MODELS = ("global", "split")


class PQEq(torch.nn.Module):
    """Polarizable charge equilibration (Goddard's PQEq) with exact long-range electrostatics.

    Parameters
    ----------
    long_range : str
        ``direct`` (finite, all pairs), ``ewald`` / ``pme`` (periodic, exact lattice sum) or
        ``taper`` (published 12.5 Å tapered kernel, every periodic image inside it).
    mode : str
        ``converged`` (true constrained minimum, exact forces) or ``reaxnet`` (published two-pass
        scheme with its 0.25 Å shell clamp; forces at fixed q, d).
    tolerance : float or None
        Solver threshold on the charge (eV/e) and shell (eV/Å) gradients; default 1e-6 in float64
        (water, 648 atoms: forces within 1e-7 eV/Å and energy within 3e-15 eV/atom of a 1e-11
        solve, below the 1e-6 Ewald/PME accuracy),
        1e-4 in float32.
    solver : str
        ``auto`` (dense up to 64 atoms; beyond that the matrix-free solver is faster), ``dense`` or ``iterative``.
    accuracy : float
        Target relative accuracy of Ewald/PME.
    cutoff : float or None
        Real-space cutoff (Å) for Ewald/PME (default min(6 Å, half the smallest cell width)).
    parameters : ElementParameters or None
        Element table (default: the shipped ReaxNet table, not trainable).
    neutralizing_background : bool
        Allow periodic cells with a net charge (a uniform background compensates it).
    max_iterations : int
        Solver iteration limit.
    differentiable_solution : bool
        When autograd is on and an input requires grad, return charges, shells and dipole with
        their implicit derivatives (:mod:`.implicit`; a Hessian solve per backward pass).
    charge_transfer : str
        ``global``: charge flows freely within each fragment (charge equilibration under one
        constraint per fragment). ``split``: charge flows only along bonds shorter than
        ``split_cutoff`` at a bond-hardness cost (split-charge equilibration,
        :mod:`.split_charge`); fragments then only set the reference charges, separated fragments
        keep them (integer ions) and the polarisation of periodic cells is image-independent.
    split_cutoff : float
        Bond length (Å) beyond which no charge is exchanged (``split`` only).
    bond_hardness : float or BondHardness
        Per-element bond hardness κ (eV/e²), a value for every element or a (trainable) table.
    """

    def __init__(
        self,
        long_range: str = "direct",
        mode: str = "converged",
        tolerance: float | None = None,
        solver: str = "auto",
        accuracy: float = 1e-6,
        cutoff: float | None = None,
        parameters: ElementParameters | None = None,
        neutralizing_background: bool = False,
        max_iterations: int = 1000,
        differentiable_solution: bool = True,
        charge_transfer: str = "global",
        split_cutoff: float = DEFAULT_SPLIT_CUTOFF,
        bond_hardness: float | BondHardness = DEFAULT_BOND_HARDNESS,
    ):
        super().__init__()
        if charge_transfer not in CHARGE_TRANSFER_MODELS:
            raise ValueError(
                f"charge_transfer must be one of {CHARGE_TRANSFER_MODELS}, got {charge_transfer!r}"
            )
        if charge_transfer == "split" and mode != "converged":
            raise ValueError("charge_transfer='split' needs mode='converged'")
        if not 0.0 < float(split_cutoff) < math.inf:
            raise ValueError(f"split_cutoff must be a positive length (Å), got {split_cutoff!r}")
        if long_range not in LONG_RANGE_METHODS:
            raise ValueError(f"long_range must be one of {LONG_RANGE_METHODS}, got {long_range!r}")
        if mode not in ("converged", "reaxnet"):
            raise ValueError(f"mode must be 'converged' or 'reaxnet', got {mode!r}")
        if solver not in ("auto", "dense", "iterative"):
            raise ValueError(f"solver must be 'auto', 'dense' or 'iterative', got {solver!r}")
        if tolerance is not None and not 0.0 < float(tolerance) < math.inf:
            raise ValueError(
                f"tolerance must be positive and finite (eV/e and eV/Å), got {tolerance!r}; "
                "None picks one from the dtype"
            )
        if not 0.0 < float(accuracy) < 1.0:
            raise ValueError(
                f"accuracy (lattice-sum relative error) must lie in (0, 1), got {accuracy!r}"
            )
        if int(max_iterations) < 1:
            raise ValueError(f"max_iterations must be at least 1, got {max_iterations!r}")
        self.long_range, self.mode, self.solver = long_range, mode, solver
        self.tolerance, self.accuracy, self.cutoff = tolerance, accuracy, cutoff
        self.element_parameters = parameters if parameters is not None else ElementParameters()
        self.neutralizing_background = neutralizing_background
        self.max_iterations = max_iterations
        self.differentiable_solution = differentiable_solution
        self.charge_transfer, self.split_cutoff = charge_transfer, float(split_cutoff)
        if charge_transfer == "split":
            self.bond_hardness = (
                bond_hardness
                if isinstance(bond_hardness, BondHardness)
                else BondHardness(float(bond_hardness))
            )

    # ------------------------------------------------------------------ input handling
    def _validate(self, positions, numbers, cell, pbc):
        if positions.dim() != 2 or positions.shape[1] != 3:
            raise InvalidInputError(
                f"positions must have shape [N, 3], got {list(positions.shape)}"
            )
        if numbers.shape != positions.shape[:1]:
            raise InvalidInputError("numbers must have one entry per atom")
        if not bool(torch.isfinite(positions).all()):
            raise InvalidInputError(
                "positions contain NaN or inf: fix the structure before calling"
            )
        self.element_parameters.check_numbers(numbers)
        if pbc:
            if cell is None or cell.shape != (3, 3) or not bool(torch.isfinite(cell).all()):
                raise InvalidInputError(
                    "a periodic system needs a finite [3, 3] cell (rows = vectors)"
                )
            if abs(float(torch.linalg.det(cell.detach()))) < 1e-6:
                raise InvalidInputError("the cell is singular (zero volume)")
            if self.long_range == "direct":
                raise InvalidInputError(
                    "long_range='direct' is for finite systems; use 'ewald' or 'pme'"
                )
        elif self.long_range in ("ewald", "pme"):
            raise InvalidInputError(
                f"long_range={self.long_range!r} needs pbc=True and a cell; use 'direct' for clusters"
            )

    def _fragments(self, n, total_charge, fragments, fragment_charges, device, dtype, pbc):
        if fragments is None:
            index = torch.zeros(n, dtype=torch.long, device=device)
            charges = torch.tensor([float(total_charge)], dtype=dtype, device=device)
        else:
            if fragment_charges is None:
                fragment_charges = [0.0] * len(fragments)
            if len(fragment_charges) != len(fragments):
                raise InvalidInputError("give one total charge per fragment")
            index = torch.full((n,), -1, dtype=torch.long, device=device)
            for f, atoms in enumerate(fragments):
                atoms = torch.as_tensor(list(atoms), dtype=torch.long, device=device)
                if bool((index[atoms] >= 0).any()):
                    raise InvalidInputError(f"fragment {f} overlaps another fragment")
                index[atoms] = f
            if bool((index < 0).any()):
                raise InvalidInputError("fragments must cover every atom exactly once")
            charges = torch.as_tensor(fragment_charges, dtype=dtype, device=device)
        if pbc and abs(float(charges.sum())) > 1e-10 and not self.neutralizing_background:
            raise NonNeutralCellError(
                f"the periodic cell has net charge {float(charges.sum()):+.4f} e: make it neutral "
                "or pass neutralizing_background=True"
            )
        return Fragments(index, charges)

    # ------------------------------------------------------------------ main entry
    def forward(
        self,
        positions: torch.Tensor,
        numbers: torch.Tensor,
        cell: torch.Tensor | None = None,
        pbc: bool = False,
        total_charge: float = 0.0,
        fragments: Sequence[Sequence[int]] | None = None,
        fragment_charges: Sequence[float] | None = None,
        external_field: torch.Tensor | Sequence[float] | None = None,
        field_reference: torch.Tensor | None = None,
        initial_charges: torch.Tensor | None = None,
        initial_shells: torch.Tensor | None = None,
        solver_cache: dict | None = None,
        compute_forces: bool = True,
        compute_stress: bool = False,
        chi_shift: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Solve for charges and shells and return the PQEq energy and its derivatives.

        Parameters
        ----------
        positions : torch.Tensor
            ``[N, 3]`` (Å). If it requires grad, the returned energy keeps the graph.
        numbers : torch.Tensor
            ``[N]`` atomic numbers.
        cell : torch.Tensor or None
            ``[3, 3]`` lattice vectors as rows (Å).
        pbc : bool
            Periodic in all directions.
        total_charge : float
            Total charge (e) when no fragments are given.
        fragments, fragment_charges :
            Disjoint atom index groups covering all atoms and their total charges (e).
        external_field : array-like or None
            Homogeneous field (V/Å), ``[3]``.
        field_reference : torch.Tensor or None
            ``[N, 3]`` reference geometry r⁰ of the periodic field coupling (Å); default: positions.
        initial_charges, initial_shells :
            Warm start (e, Å).
        solver_cache : dict or None
            A dict kept by the caller across calls on the same system (MD): the charge
            preconditioner (periodic long-wavelength or dense) is reused while no atom has moved
            more than :data:`.preconditioners.PRECONDITIONER_REUSE_DISTANCE` from where it was
            built, and with it the solver's curvature memory (any such preconditioner and memory
            are valid starting points; the solve still runs to the tolerance).
        compute_forces, compute_stress : bool
            Return ``forces`` (eV/Å) and ``stress`` (eV/Å³, Voigt-free 3×3).
        chi_shift : torch.Tensor or None
            ``[N]`` offsets (eV) added to each atom's element χ (per-head offsets of a
            multi-head model; differentiable).

        Returns
        -------
        dict
            ``energy`` (eV; differentiable w.r.t. positions, cell, field and parameters by the
            envelope theorem), ``charges`` [N] (e), ``shell_displacements`` [N, 3] (Å),
            ``dipole`` [3] (e·Å; polarisation × volume for periodic cells), ``chemical_potential``
            [F] (eV/e; empty under split charges, where fragments are not constraints),
            ``iterations``, and optionally ``forces`` [N, 3], ``stress`` [3, 3]. Under split
            charges ``charges`` are q = q⁰ + B(w s) of the converged bond variables and
            ``initial_charges`` is ignored (warm starts come through ``solver_cache``).
        """
        dtype = positions.dtype
        numbers = torch.as_tensor(numbers, dtype=torch.long, device=positions.device)
        pbc = bool(pbc)
        cell = cell.to(dtype) if pbc and cell is not None else None
        self._validate(positions, numbers, cell, pbc)
        n = positions.shape[0]
        field = None
        if external_field is not None:
            field = torch.as_tensor(external_field, dtype=dtype, device=positions.device)
            check_field(field)
        reference = None
        if pbc and field is not None:
            reference = (
                (positions if field_reference is None else field_reference).detach().to(dtype)
            )
        frags = self._fragments(
            n, total_charge, fragments, fragment_charges, positions.device, dtype, pbc
        )
        params = {k: v.to(dtype) for k, v in self.element_parameters.per_atom(numbers).items()}
        if chi_shift is not None:  # per-atom electronegativity offsets (eV), e.g. per head
            params["chi"] = params["chi"] + chi_shift.to(dtype)
        terms = AtomTerms(params["chi"], params["eta"], params["spring"], params["shell_charge"])
        plain = self._plain_forces(compute_forces, compute_stress, positions, cell, field, params)
        spec = CoulombSpec(self.long_range, self.accuracy, self.cutoff)
        coulomb = None
        if dtype == torch.float64 or not plain:  # the operator of the final (graph) evaluation
            cell_now = cell.detach() if pbc else None
            coulomb = spec.build(
                positions.detach(), params["alpha"].detach(), terms.spring > 0, cell_now
            )
        split = None
        if self.charge_transfer == "split":
            split = build_bond_graph(
                positions.detach(),
                None if cell is None else cell.detach(),
                self.bond_hardness.per_atom(numbers).to(dtype),
                reference_charges(frags),
                self.split_cutoff,
            )
        problem = PQEqProblem(
            positions, cell, terms, params["alpha"], frags, coulomb, spec, field, reference, split
        )
        # float32 sums stall near 1e-4 eV/e beyond ~2,000 atoms: solve in float64
        solve = problem.for_solver() if dtype == torch.float64 else problem.to(torch.float64)
        check_overlaps(solve.coulomb, solve.positions, solve.cell)
        solution, objective = self._solve(
            solve, initial_charges, initial_shells, self._tolerance(dtype), solver_cache
        )
        if plain:
            return self._fixed_solution_outputs(objective, solve, solution, dtype)
        q, d = solution.q.detach().to(dtype), solution.d.detach().to(dtype)
        solution.mu = solution.mu.to(dtype)
        return self._outputs(problem, q, d, solution, compute_forces, compute_stress)

    def _plain_forces(self, compute_forces, compute_stress, positions, cell, field, params) -> bool:
        """Forces without an autograd graph: wanted and nothing downstream differentiates."""
        if not compute_forces or compute_stress or self.mode != "converged":
            return False
        if self.charge_transfer == "split":  # forces through the bond taper: autograd
            return False
        inputs = [positions, *params.values(), *(t for t in (cell, field) if t is not None)]
        return not (torch.is_grad_enabled() and any(t.requires_grad for t in inputs))

    def _fixed_solution_outputs(self, objective, problem, solution, dtype) -> dict:
        """Energy, forces, charges, shells, dipole from the solver's evaluator (float64 solve)."""
        terms = problem.terms
        q, d = solution.q.detach(), solution.d.detach()
        u = problem.field_positions()
        energy, forces = fixed_solution_forces(objective, q, d, terms, problem.field, u)
        return {
            "energy": energy.to(dtype),
            "charges": q.to(dtype),
            "shell_displacements": d.to(dtype),
            "dipole": dipole(q, d, u, terms).to(dtype),
            "chemical_potential": solution.mu.to(dtype),
            "iterations": torch.tensor(solution.iterations),
            "forces": forces.to(dtype),
        }

    def _differentiate_solution(self, problem) -> bool:
        """Charges/shells/dipole carry implicit derivatives when any input is differentiated."""
        if not (self.differentiable_solution and torch.is_grad_enabled()):
            return False
        inputs = [problem.positions, problem.alpha, *vars(problem.terms).values()]
        if problem.field is not None:
            inputs.append(problem.field)
        if problem.split is not None:
            inputs.append(problem.split.hardness)
        return any(t.requires_grad for t in inputs)

    def _tolerance(self, dtype) -> float:
        if self.tolerance is not None:
            return self.tolerance
        return DEFAULT_TOLERANCE_FLOAT64 if dtype == torch.float64 else DEFAULT_TOLERANCE_FLOAT32

    def _solve(self, problem, q0, d0, tolerance, cache=None):
        """Minimise E over (q, d) for the solver's (detached) ``problem``: (solution, objective)."""
        objective = problem.objective()
        positions, frags, terms = problem.positions, problem.fragments, problem.terms
        n = positions.shape[0]
        # the solver makes any guess feasible; zeros become the uniform fragment charges
        q0 = (
            torch.zeros(n, dtype=positions.dtype, device=positions.device)
            if q0 is None
            else torch.as_tensor(q0, dtype=positions.dtype, device=positions.device)
        )
        if d0 is None:  # cold start: break the symmetry (see COLD_START_SHELL_DISPLACEMENT)
            gen = torch.Generator().manual_seed(0)
            d0 = COLD_START_SHELL_DISPLACEMENT * torch.randn(
                positions.shape, dtype=positions.dtype, generator=gen
            ).to(positions.device)
        else:
            d0 = torch.as_tensor(d0, dtype=positions.dtype, device=positions.device)
        use_dense = self.solver == "dense" or (
            self.solver == "auto" and n <= DENSE_SOLVER_MAX_ATOMS
        )
        if self.mode == "reaxnet":
            solution = compat.reaxnet_two_pass(objective, problem)
            return solution, objective
        if problem.split is not None:
            solution = solve_split(
                problem, objective, d0, tolerance, use_dense, self.max_iterations, cache
            )
            return solution, objective
        cell, coulomb = problem.cell, problem.coulomb
        no_cell = positions.new_zeros(0) if cell is None else cell
        if use_dense:
            pre = cached_preconditioner(
                "dense",
                lambda: DenseChargePreconditioner(problem.charge_hessian(), frags),
                positions,
                (no_cell, terms.eta, problem.alpha, frags.index, coulomb.beta),
                cache,
            )
        elif coulomb.settings is not None:  # Ewald/PME: long-wavelength Coulomb modes
            pre = cached_preconditioner(
                "long_wave",
                lambda: LongWaveChargePreconditioner(
                    positions, cell, terms.eta, frags, coulomb.beta
                ),
                positions,
                (cell, terms.eta, frags.index, coulomb.beta),
                cache,
            )
        else:
            pre = DiagonalChargePreconditioner(terms.eta, frags)
        # curvature pairs of the previous solve, valid while the preconditioner is the same one
        stored = None if cache is None else cache.get("memory")
        memory = stored[1] if stored is not None and stored[0] is pre else None
        solution = minimize(
            objective,
            q0,
            d0,
            frags,
            pre,
            terms.spring,
            terms.spring > 0,
            tolerance,
            self.max_iterations,
            memory=memory,
        )
        if cache is not None:
            cache["memory"] = (pre, solution.memory)
        return solution, objective

    def _outputs(self, problem, q, d, solution, compute_forces, compute_stress):
        """Energy with its graph, forces/stress by autograd, charges/shells/dipole at (q, d)."""
        positions, cell, reference = problem.positions, problem.cell, problem.reference
        problem.coulomb.set_widths(problem.alpha)  # re-attach the parameter graph for the energy
        # differentiable forces/stress only when the caller differentiates through positions
        higher_order = torch.is_grad_enabled() and positions.requires_grad
        pos = positions
        strain = None
        with torch.enable_grad():
            if compute_forces and not pos.requires_grad:
                pos = pos.detach().requires_grad_(True)
            if compute_stress:
                if cell is None:
                    raise InvalidInputError("stress needs a periodic cell")
                strain = torch.zeros(3, 3, dtype=pos.dtype, device=pos.device, requires_grad=True)
                deform = torch.eye(3, dtype=pos.dtype, device=pos.device) + strain
                pos_e, cell_e = pos @ deform, cell @ deform
                ref_e = reference @ deform if reference is not None else None
            else:
                pos_e, cell_e, ref_e = pos, cell, reference
            strained = replace(problem, positions=pos_e, cell=cell_e, reference=ref_e)
            energy = strained.energy(q, d)
            wrt = [t for t in (pos if compute_forces else None, strain) if t is not None]
            grads = (
                torch.autograd.grad(energy, wrt, retain_graph=True, create_graph=higher_order)
                if wrt
                else []
            )
        if self._differentiate_solution(problem):
            x, d = differentiable_solution(q, d, problem)
            u = problem.field_positions()
            q, mu = problem.charges(x), problem.dipole(x, d, u)
        elif problem.split is not None:
            x = q
            u = problem.field_positions()
            q, mu = problem.charges(x).detach(), problem.dipole(x, d, u).detach()
        else:
            u = problem.field_positions(positions.detach())
            mu = dipole(q, d, u, problem.terms)
        out = {
            "energy": energy,
            "charges": q,
            "shell_displacements": d,
            "dipole": mu,
            "chemical_potential": solution.mu,
            "iterations": torch.tensor(solution.iterations),
        }
        if compute_forces:
            out["forces"] = -grads[0]
        if compute_stress:
            out["stress"] = grads[-1] / torch.abs(torch.linalg.det(cell))
        return out
