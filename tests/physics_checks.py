"""Reusable physics checks applied to every model and force (finite differences, invariances).

Each check takes an ``energy`` callable so it serves the PQEq engine, the full model and OpenMM.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

#: dtype-specific tolerances (relative), never widened to make a test pass
TOLERANCE = {torch.float64: 1e-8, torch.float32: 1e-3}


def central_difference_forces(
    energy: Callable[[torch.Tensor], float], positions: torch.Tensor, atoms, step: float = 1e-4
) -> torch.Tensor:
    """−∂E/∂r by 4-point central differences for the listed atoms: ``[len(atoms), 3]``."""
    out = torch.zeros(len(atoms), 3, dtype=positions.dtype)
    for k, i in enumerate(atoms):
        for c in range(3):
            vals = []
            for h in (-2, -1, 1, 2):
                p = positions.clone()
                p[i, c] += h * step
                vals.append(energy(p))
            out[k, c] = -(vals[0] - 8 * vals[1] + 8 * vals[2] - vals[3]) / (12 * step)
    return out


def central_difference_stress(
    energy: Callable[[torch.Tensor, torch.Tensor], float],
    positions: torch.Tensor,
    cell: torch.Tensor,
    step: float = 1e-5,
) -> torch.Tensor:
    """σ = (1/V) ∂E/∂ε by central differences of a homogeneous strain, ``[3, 3]`` (eV/Å³)."""
    volume = float(torch.abs(torch.linalg.det(cell)))
    out = torch.zeros(3, 3, dtype=positions.dtype)
    for a in range(3):
        for b in range(3):
            vals = []
            for h in (-1, 1):
                eps = torch.eye(3, dtype=positions.dtype)
                eps[a, b] += h * step
                vals.append(energy(positions @ eps, cell @ eps))
            out[a, b] = (vals[1] - vals[0]) / (2 * step) / volume
    return out


def central_difference_field(
    energy: Callable[[torch.Tensor], float], field: torch.Tensor, step: float = 1e-4
) -> torch.Tensor:
    """∂E/∂F by central differences, ``[3]`` (e·Å when E in eV and F in V/Å)."""
    out = torch.zeros(3, dtype=field.dtype)
    for c in range(3):
        f1, f2 = field.clone(), field.clone()
        f1[c] -= step
        f2[c] += step
        out[c] = (energy(f2) - energy(f1)) / (2 * step)
    return out


def random_rotation(seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """A proper rotation matrix ``[3, 3]`` from a fixed seed."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return torch.tensor(q, dtype=dtype)


def assert_close(actual, expected, rtol: float, atol: float = 0.0, what: str = "value"):
    """Assert with a message that shows the worst deviation."""
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    err = (actual - expected).abs()
    bound = atol + rtol * expected.abs()
    assert bool((err <= bound).all()), (
        f"{what}: max deviation {float(err.max()):.3e} (bound rtol={rtol:g}, atol={atol:g})"
    )


def equation_of_state(start, calculator_factory: Callable, scales) -> tuple[float, float, float]:
    """Independent E–V reference: ``(V0 Å³, E0 eV, B eV/Å³)`` of ASE's equation-of-state fit over
    ``start`` scaled isotropically by each of ``scales`` (positions scaled with the cell)."""
    from ase.eos import EquationOfState

    volumes, energies = [], []
    for scale in scales:
        atoms = start.copy()
        atoms.set_cell(start.cell * scale, scale_atoms=True)
        atoms.calc = calculator_factory()
        volumes.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    return EquationOfState(volumes, energies).fit()
