"""Elastic constants by finite strain with relaxed ions, and Voigt–Reuss–Hill moduli.

For each of the six Voigt strains ε_j (engineering shear strains, ε_4 = 2ε_yz) the cell is
deformed by a small ± amount, the ions are relaxed at fixed cell, and the stress is read; the
column C_ij = ∂σ_i/∂ε_j is the slope of a least-squares line through the strained stresses.
Works with any ASE calculator that gives forces and stress (ASE's sign: σ = (1/V) ∂E/∂ε,
positive in tension), so the same script measures a model and its teacher.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..units import EV_PER_A3_TO_GPA

__all__ = [
    "ElasticProblem",
    "elastic_tensor",
    "strain_matrix",
    "voigt_reuss_hill",
    "symmetry_of_tensor",
]

#: Voigt index -> the Cartesian pair (i, j) of the strain tensor
VOIGT_PAIRS = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


@dataclass
class ElasticProblem:
    """One elastic-constant measurement.

    Parameters
    ----------
    atoms : ase.Atoms
        The relaxed reference cell (positions and cell at zero stress).
    strains : sequence of float
        Voigt strain amplitudes (dimensionless), e.g. ``(-0.01, -0.005, 0.005, 0.01)``.
    fmax : float
        eV/Å, the force threshold of the ionic relaxation in each strained cell.
    max_steps : int
        BFGS steps allowed per strained cell; not converging raises ``RuntimeError``.
    relax_ions : bool
        Relax the ions in each strained cell (the relaxed-ion tensor); False: clamped ions.
    """

    atoms: object
    strains: tuple = (-0.01, -0.005, 0.005, 0.01)
    fmax: float = 1e-3
    max_steps: int = 500
    relax_ions: bool = True
    log: list = field(default_factory=list)


def strain_matrix(voigt: int, amplitude: float) -> np.ndarray:
    """[3, 3] symmetric strain tensor of one Voigt component (engineering shear: the off-diagonal
    entries are half the amplitude)."""
    i, j = VOIGT_PAIRS[voigt]
    eps = np.zeros((3, 3))
    if i == j:
        eps[i, i] = amplitude
    else:
        eps[i, j] = eps[j, i] = 0.5 * amplitude
    return eps


def _strained_stress(problem: ElasticProblem, calc, voigt: int, amplitude: float) -> np.ndarray:
    """[6] Voigt stress (eV/Å³) of the reference cell under one strain, ions relaxed."""
    from ase.optimize import BFGS

    atoms = problem.atoms.copy()
    deformation = np.eye(3) + strain_matrix(voigt, amplitude)
    atoms.set_cell(atoms.cell.array @ deformation.T, scale_atoms=True)
    atoms.calc = calc
    steps = 0
    if problem.relax_ions:
        opt = BFGS(atoms, logfile=None)
        if not opt.run(fmax=problem.fmax, steps=problem.max_steps):
            raise RuntimeError(
                f"{atoms.get_chemical_formula()}: ionic relaxation under strain {voigt + 1} "
                f"({amplitude:+g}) not converged in {problem.max_steps} steps; raise max_steps "
                "or loosen fmax"
            )
        steps = opt.nsteps
    problem.log.append({"voigt": voigt + 1, "strain": amplitude, "bfgs_steps": steps})
    return np.asarray(atoms.get_stress(voigt=True), dtype=np.float64)


def elastic_tensor(problem: ElasticProblem, calc) -> np.ndarray:
    """[6, 6] elastic tensor in GPa (Voigt notation, symmetrised).

    Parameters
    ----------
    problem : ElasticProblem
        The relaxed cell and the strain protocol.
    calc : ase.calculators.calculator.Calculator
        Any calculator with forces and stress.

    Returns
    -------
    numpy.ndarray
        [6, 6] C_ij in GPa; column j is the least-squares slope of the stress against ε_j.
    """
    strains = np.asarray(problem.strains, dtype=np.float64)
    if strains.size < 2 or np.ptp(strains) == 0.0:
        raise ValueError("ElasticProblem.strains needs at least two different amplitudes")
    if np.abs(strains).max() > 0.05:
        raise ValueError("strain amplitudes above 5 % leave the linear regime; use |ε| <= 0.02")
    c = np.zeros((6, 6))
    for j in range(6):
        stresses = np.array([_strained_stress(problem, calc, j, s) for s in strains])  # [n, 6]
        slope = np.polyfit(strains, stresses, 1)[0]  # [6] eV/Å³
        c[:, j] = slope * EV_PER_A3_TO_GPA
    return 0.5 * (c + c.T)


def voigt_reuss_hill(c: np.ndarray) -> dict[str, float]:
    """Bulk and shear moduli (GPa) of a [6, 6] elastic tensor in GPa: Voigt, Reuss and Hill
    averages, and whether the tensor is mechanically stable (positive definite)."""
    c = np.asarray(c, dtype=np.float64)
    k_v = (c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[1, 2] + c[0, 2])) / 9
    g_v = (
        c[0, 0] + c[1, 1] + c[2, 2] - (c[0, 1] + c[1, 2] + c[0, 2])
        + 3 * (c[3, 3] + c[4, 4] + c[5, 5])
    ) / 15  # fmt: skip
    stable = bool(np.all(np.linalg.eigvalsh(0.5 * (c + c.T)) > 0))
    s = np.linalg.inv(c)
    k_r = 1.0 / (s[0, 0] + s[1, 1] + s[2, 2] + 2 * (s[0, 1] + s[1, 2] + s[0, 2]))
    g_r = 15.0 / (
        4 * (s[0, 0] + s[1, 1] + s[2, 2]) - 4 * (s[0, 1] + s[1, 2] + s[0, 2])
        + 3 * (s[3, 3] + s[4, 4] + s[5, 5])
    )  # fmt: skip
    return {
        "K_V": float(k_v), "K_R": float(k_r), "K_H": float(0.5 * (k_v + k_r)),
        "G_V": float(g_v), "G_R": float(g_r), "G_H": float(0.5 * (g_v + g_r)),
        "stable": stable,
    }  # fmt: skip


def symmetry_of_tensor(c: np.ndarray, lattice: str) -> dict[str, float]:
    """The independent constants (GPa) of a tensor for a crystal family, averaged over the
    entries symmetry makes equal: ``cubic`` (C11, C12, C44), ``hexagonal`` (C11, C12, C13, C33,
    C44) or ``orthorhombic`` (nine constants)."""
    c = np.asarray(c, dtype=np.float64)
    if lattice == "cubic":
        return {
            "C11": float(np.mean(np.diag(c)[:3])),
            "C12": float(np.mean([c[0, 1], c[0, 2], c[1, 2]])),
            "C44": float(np.mean(np.diag(c)[3:])),
        }
    if lattice == "hexagonal":  # c axis along z
        return {
            "C11": float(0.5 * (c[0, 0] + c[1, 1])), "C12": float(c[0, 1]),
            "C13": float(0.5 * (c[0, 2] + c[1, 2])), "C33": float(c[2, 2]),
            "C44": float(0.5 * (c[3, 3] + c[4, 4])),
        }  # fmt: skip
    if lattice == "orthorhombic":
        names = ("C11", "C22", "C33", "C44", "C55", "C66")
        out = {n: float(c[k, k]) for k, n in enumerate(names)}
        out.update(C12=float(c[0, 1]), C13=float(c[0, 2]), C23=float(c[1, 2]))
        return out
    raise ValueError(f"lattice {lattice!r}: use 'cubic', 'hexagonal' or 'orthorhombic'")
