"""Linear response of the PQEq solution at clamped nuclei: polarisability, ε∞, Born charges.

All three are exact derivatives of the converged dipole (implicit differentiation through the
solve, :mod:`.implicit`), not finite differences:

- polarisability α_αβ = ∂μ_α/∂F_β (e·Å²/V): the electronic (charges + shells) response of a
  molecule or of a periodic cell to a homogeneous field;
- high-frequency permittivity ε∞ = 1 + α / (ε₀ V) of a periodic cell: the Ewald sums use
  tin-foil boundary conditions, so the applied field is the macroscopic field;
- Born effective charges Z*_{i,αβ} = ∂μ_α/∂r_iβ = ∂f_iβ/∂F_α (e), the force on atom i per unit
  field. With split charges (``charge_transfer='split'``) they do not depend on where each atom's
  image is stored and obey the acoustic sum rule Σ_i Z*_i = 0 in a neutral cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import units
from .charge_groups import charge_groups_of_atoms
from .engine import PQEq

VACUUM_PERMITTIVITY_E_PER_V_ANGSTROM = units.VACUUM_PERMITTIVITY_E_PER_V_ANGSTROM  # ε₀, e/(V·Å)


@dataclass(frozen=True)
class ResponseInput:
    """One structure for a response calculation.

    Attributes
    ----------
    positions : torch.Tensor
        ``[N, 3]`` (Å).
    numbers : torch.Tensor
        ``[N]`` atomic numbers.
    cell : torch.Tensor or None
        ``[3, 3]`` lattice vectors as rows (Å) for periodic structures.
    engine_kwargs : dict
        Further keyword arguments of :meth:`PQEq.forward` (total_charge, fragments, ...).
    """

    positions: torch.Tensor
    numbers: torch.Tensor
    cell: torch.Tensor | None = None
    engine_kwargs: dict | None = None

    @classmethod
    def from_atoms(cls, atoms, charge_model: str = "none", **engine_kwargs) -> ResponseInput:
        """From an ASE ``Atoms`` (periodic when all three ``pbc`` flags are set).

        ``charge_model`` ``"molecules"`` gives each molecule and monatomic ion its formal charge
        (:mod:`.charge_groups`; under split charges these are the reference charges), ``"none"``
        one fragment with ``atoms.info["charge"]``."""
        pos = torch.tensor(atoms.get_positions(), dtype=torch.float64)
        num = torch.tensor(atoms.get_atomic_numbers(), dtype=torch.long)
        cell = torch.tensor(atoms.cell.array, dtype=torch.float64) if atoms.pbc.all() else None
        if charge_model not in ("none", "molecules"):
            raise ValueError(f"charge_model must be 'none' or 'molecules', got {charge_model!r}")
        if charge_model == "molecules":
            groups = charge_groups_of_atoms(atoms)
            engine_kwargs = {
                "fragments": groups.groups,
                "fragment_charges": groups.charges,
                **engine_kwargs,
            }
        else:
            engine_kwargs.setdefault("total_charge", float(atoms.info.get("charge", 0.0)))
        return cls(pos, num, cell, engine_kwargs)

    def solve(self, engine: PQEq, positions=None, field=None) -> dict:
        """The engine's outputs at these (or the given) positions and field."""
        kwargs = dict(self.engine_kwargs or {})
        periodic = self.cell is not None
        return engine(
            self.positions if positions is None else positions,
            self.numbers,
            cell=self.cell,
            pbc=periodic,
            external_field=field,
            compute_forces=False,
            **kwargs,
        )


def _field_jacobian(engine: PQEq, system: ResponseInput) -> torch.Tensor:
    field = torch.zeros(3, dtype=system.positions.dtype, requires_grad=True)
    mu = system.solve(engine, field=field)["dipole"]  # [3] e·Å
    rows = [torch.autograd.grad(mu[a], field, retain_graph=a < 2)[0] for a in range(3)]
    return torch.stack(rows)  # [3, 3] e·Å²/V


def polarizability(engine: PQEq, system: ResponseInput) -> torch.Tensor:
    """Static electronic polarisability tensor α = ∂μ/∂F ``[3, 3]`` (e·Å²/V) at zero field.

    Multiply by :data:`~openmm_polarml.units.E_ANGSTROM_TO_DEBYE` for D·Å/V; α/(4πε₀) in Å³ is
    ``alpha / (4π ε₀)`` with ε₀ = :data:`VACUUM_PERMITTIVITY_E_PER_V_ANGSTROM`.
    """
    _check_differentiable(engine)
    return _field_jacobian(engine, system).detach()


def polarizability_volume(alpha: torch.Tensor) -> torch.Tensor:
    """α / (4πε₀) in Å³ of a polarisability in e·Å²/V."""
    return alpha / (4.0 * torch.pi * VACUUM_PERMITTIVITY_E_PER_V_ANGSTROM)


def high_frequency_permittivity(engine: PQEq, system: ResponseInput) -> torch.Tensor:
    """ε∞ ``[3, 3]`` of a periodic cell with clamped nuclei: 1 + α / (ε₀ V)."""
    if system.cell is None:
        raise ValueError("ε∞ needs a periodic cell; use polarizability() for a molecule")
    volume = float(torch.abs(torch.linalg.det(system.cell)))  # Å³
    alpha = polarizability(engine, system)
    eye = torch.eye(3, dtype=alpha.dtype)
    return eye + alpha / (VACUUM_PERMITTIVITY_E_PER_V_ANGSTROM * volume)


def born_charges(engine: PQEq, system: ResponseInput) -> torch.Tensor:
    """Born effective charges Z*_{i,αβ} = ∂μ_α/∂r_iβ ``[N, 3, 3]`` (e)."""
    _check_differentiable(engine)
    positions = system.positions.detach().clone().requires_grad_(True)
    mu = system.solve(engine, positions=positions)["dipole"]  # [3]
    rows = [torch.autograd.grad(mu[a], positions, retain_graph=a < 2)[0] for a in range(3)]
    return torch.stack(rows).permute(1, 0, 2).detach()  # [N, α, β]


def _check_differentiable(engine: PQEq) -> None:
    if not engine.differentiable_solution or engine.mode != "converged":
        raise ValueError(
            "response properties need PQEq(mode='converged', differentiable_solution=True): "
            "they are derivatives of the converged dipole"
        )
