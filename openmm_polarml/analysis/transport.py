"""What users measure on electrolytes and water: dielectric constant, ionic conductivity,
self-diffusion with its finite-size correction.

Inputs are numpy arrays in OpenMM units (nm, ps, e, K) as read from an mdtraj trajectory and a
:class:`~openmm_polarml.analysis.pqeq_report.PQEqReport`; outputs are SI (S/m, m²/s) or
dimensionless. Every estimator takes the whole run; :func:`~.statistics.block_estimates` turns
any of them into a mean with an error bar.
"""

from __future__ import annotations

import numpy as np

from ..units import (
    BOLTZMANN_J_PER_K,
    ELEMENTARY_CHARGE_C,
    MPA_S_TO_PA_S,
    NM2_PER_PS_TO_M2_PER_S,
    NM_TO_M,
    PS_TO_S,
    VACUUM_PERMITTIVITY_F_PER_M,
    YEH_HUMMER_XI_CUBIC,
)
from .trajectory import mean_square_displacement

__all__ = [
    "static_dielectric_constant",
    "translational_dipole",
    "einstein_helfand_conductivity",
    "nernst_einstein_conductivity",
    "yeh_hummer_correction",
]


def static_dielectric_constant(
    dipoles_e_nm: np.ndarray, volume_nm3: float | np.ndarray, temperature_k: float
) -> float:
    """Static dielectric constant from total-dipole fluctuations (tin-foil boundary):
    ε = 1 + (⟨M²⟩ − ⟨M⟩²) / (3 V ε0 kB T).

    Parameters
    ----------
    dipoles_e_nm : numpy.ndarray
        ``[n_frames, 3]`` total dipole M of the box (e nm): permanent plus induced (for PQEq:
        charges times unwrapped molecular positions plus the shell dipoles, as the
        ``PQEqReporter`` writes for whole molecules); with the induced part included the
        high-frequency term is already inside the fluctuation, hence the 1.
    volume_nm3 : float or numpy.ndarray
        Box volume (nm³), or ``[n_frames]`` volumes (NPT: the mean is used).
    temperature_k : float
        Temperature (K) of the ensemble.
    """
    m = np.asarray(dipoles_e_nm, dtype=np.float64).reshape(-1, 3)
    if m.shape[0] < 2:
        raise ValueError("the dipole fluctuation needs at least two frames")
    fluctuation = np.sum(np.mean(m * m, axis=0) - np.mean(m, axis=0) ** 2)  # (e nm)²
    fluctuation_si = fluctuation * (ELEMENTARY_CHARGE_C * NM_TO_M) ** 2  # (C m)²
    volume_si = float(np.mean(volume_nm3)) * NM_TO_M**3
    kt = BOLTZMANN_J_PER_K * float(temperature_k)
    return float(1.0 + fluctuation_si / (3.0 * volume_si * VACUUM_PERMITTIVITY_F_PER_M * kt))


def translational_dipole(xyz_nm: np.ndarray, charges_e: np.ndarray) -> np.ndarray:
    """``[n_frames, 3]`` time integral of the translational charge current (e nm):
    M_J(t_k) = Σ_{l<k} Σ_i q_i(t_l+½) [r_i(t_{l+1}) − r_i(t_l)], with the charges of each step taken
    as the mean of its two ends (fixed charges: M_J = Σ q_i Δr_i exactly).

    Parameters
    ----------
    xyz_nm : numpy.ndarray
        ``[n_frames, n_atoms, 3]`` unwrapped positions (nm).
    charges_e : numpy.ndarray
        ``[n_atoms]`` fixed charges or ``[n_frames, n_atoms]`` PQEq charges per frame (e).
    """
    xyz = np.asarray(xyz_nm, dtype=np.float64)
    q = np.asarray(charges_e, dtype=np.float64)
    if q.ndim == 1:
        q = np.broadcast_to(q, xyz.shape[:2])
    if q.shape != xyz.shape[:2]:
        raise ValueError(f"charges of shape {q.shape} do not match positions {xyz.shape[:2]}")
    q_mid = 0.5 * (q[1:] + q[:-1])  # [n_frames - 1, n_atoms]
    steps = np.einsum("fa,fai->fi", q_mid, np.diff(xyz, axis=0))  # [n_frames - 1, 3]
    return np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)])


def einstein_helfand_conductivity(
    times_ps: np.ndarray,
    dipole_e_nm: np.ndarray,
    volume_nm3: float,
    temperature_k: float,
    fit_range: tuple[float, float] = (0.2, 0.8),
) -> float:
    """Ionic conductivity (S/m) by Einstein–Helfand: σ = lim ⟨|ΔM_J(t)|²⟩ / (6 V kB T t).

    Parameters
    ----------
    times_ps : numpy.ndarray
        ``[n_frames]`` times (ps) at equal spacing.
    dipole_e_nm : numpy.ndarray
        ``[n_frames, 3]`` translational dipole from :func:`translational_dipole` (e nm).
    volume_nm3 : float
        Box volume (nm³).
    temperature_k : float
        Temperature (K).
    fit_range : tuple of float
        Fraction of the lags (0..n_frames/2) over which the slope is fitted.
    """
    times = np.asarray(times_ps, dtype=np.float64)
    msd = mean_square_displacement(np.asarray(dipole_e_nm)[:, None, :])  # [n_lags] (e nm)²
    lags = (times[1] - times[0]) * np.arange(msd.size)
    lo, hi = (int(f * (msd.size - 1)) for f in fit_range)
    if hi - lo < 2:
        raise ValueError("too few frames for a conductivity fit; store frames more often")
    slope = np.polyfit(lags[lo : hi + 1], msd[lo : hi + 1], 1)[0]  # (e nm)² / ps
    slope_si = slope * (ELEMENTARY_CHARGE_C * NM_TO_M) ** 2 / PS_TO_S
    return float(slope_si / (6.0 * volume_nm3 * NM_TO_M**3 * BOLTZMANN_J_PER_K * temperature_k))


def nernst_einstein_conductivity(
    diffusion_nm2_ps: dict, counts: dict, charges_e: dict, volume_nm3: float, temperature_k: float
) -> float:
    """Ideal (uncorrelated) conductivity σ_NE = e² Σ_s N_s z_s² D_s / (V kB T), in S/m.

    Parameters
    ----------
    diffusion_nm2_ps, counts, charges_e : dict
        Per species: self-diffusion coefficient (nm²/ps), number of ions, charge (e).
    volume_nm3 : float
        Box volume (nm³).
    temperature_k : float
        Temperature (K).
    """
    total = sum(
        counts[s] * charges_e[s] ** 2 * diffusion_nm2_ps[s] * NM2_PER_PS_TO_M2_PER_S
        for s in diffusion_nm2_ps
    )  # m²/s
    return float(
        ELEMENTARY_CHARGE_C**2
        * total
        / (volume_nm3 * NM_TO_M**3 * BOLTZMANN_J_PER_K * temperature_k)
    )


def yeh_hummer_correction(
    box_length_nm: float, temperature_k: float, viscosity_mpa_s: float
) -> float:
    """The finite-size correction (nm²/ps) to add to a self-diffusion coefficient from a cubic
    periodic box: ΔD = ξ kB T / (6π η L), ξ = 2.837297 (Yeh & Hummer 2004).

    Parameters
    ----------
    box_length_nm : float
        Edge of the cubic box (nm).
    temperature_k : float
        Temperature (K).
    viscosity_mpa_s : float
        Shear viscosity of the liquid (mPa s; water at 298 K: 0.89 experiment).
    """
    if box_length_nm <= 0 or viscosity_mpa_s <= 0:
        raise ValueError("yeh_hummer_correction needs a positive box length and viscosity")
    eta = viscosity_mpa_s * MPA_S_TO_PA_S
    delta = (
        YEH_HUMMER_XI_CUBIC
        * BOLTZMANN_J_PER_K
        * temperature_k
        / (6.0 * np.pi * eta * box_length_nm * NM_TO_M)
    )  # m²/s
    return float(delta / NM2_PER_PS_TO_M2_PER_S)
