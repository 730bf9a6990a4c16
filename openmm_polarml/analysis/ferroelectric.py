"""Ferroelectric perovskites (study 2): polarisation from Born charges, phases, transitions, P–E loops.

- :func:`displacement_polarization`: P = (e/V) Σ_i Z*_i · Δr_i (C/m²) from the displacement of
  every ion from its site in the cubic reference, taken in fractional coordinates of the current
  cell so that strain and periodic wrapping do not enter.
- :func:`classify_phase`: the phase of one state from its polarisation vector — cubic (no
  component), tetragonal (one), orthorhombic (two equal), rhombohedral (three equal) — the
  sequence R → O → T → C of BaTiO₃ on heating.
- :func:`transition_temperatures`: the temperatures at which the phase changes along a heating or
  cooling run.
- :func:`loop_metrics`: coercive field and remanent polarisation of a P–E hysteresis loop.

BaTiO₃ references: DFPT Born charges Ba 2.75, Ti 7.16, O∥ −5.69, O⊥ −2.11 (Zhong, King-Smith &
Vanderbilt, PRL 72, 3618 (1994)); transitions R→O, O→T, T→C at 183, 278, 403 K in experiment and
145, 205, 285 K with the paper's model (Gao et al., Table 2).
"""

from __future__ import annotations

import numpy as np

from .. import units

#: DFPT Born charges of cubic BaTiO₃ (e); O∥ is along the oxygen's Ti–O–Ti chain.
BATIO3_BORN_DFPT = {"Ba": 2.75, "Ti": 7.16, "O_parallel": -5.69, "O_perpendicular": -2.11}
#: Transition temperatures (K), heating.
BATIO3_TRANSITIONS_K = {
    "experiment": {"R-O": 183.0, "O-T": 278.0, "T-C": 403.0},
    "paper": {"R-O": 145.0, "O-T": 205.0, "T-C": 285.0},
}
#: Phases by the number of polarisation components.
PHASES = ("C", "T", "O", "R")


def perovskite_born_tensors(
    symbols, reference: np.ndarray, cell: np.ndarray, born=BATIO3_BORN_DFPT
) -> np.ndarray:
    """Born charge tensors ``[N, 3, 3]`` (e) of an ABO₃ perovskite supercell from per-species
    values: A and B isotropic, each O diagonal with ``O_parallel`` along the axis to its nearest
    B cation and ``O_perpendicular`` across it.

    Parameters
    ----------
    symbols : sequence of str
        ``[N]`` chemical symbols.
    born : dict
        Per-species values (e): the A cation, then the B cation, then ``O_parallel`` and
        ``O_perpendicular`` (as :data:`BATIO3_BORN_DFPT`).
    reference : np.ndarray
        ``[N, 3]`` cubic reference positions (Å).
    cell : np.ndarray
        ``[3, 3]`` cell vectors as rows (Å).
    """
    symbols = list(symbols)
    out = np.zeros((len(symbols), 3, 3))
    cations = [s for s in born if not s.startswith("O_")]
    b_sites = [i for i, s in enumerate(symbols) if s == cations[1]]
    inv = np.linalg.inv(cell)
    for i, s in enumerate(symbols):
        if s != "O":
            if s not in born:
                raise ValueError(f"no Born charge for {s!r}; give one in born={{...}}")
            out[i] = born[s] * np.eye(3)
            continue
        frac = (reference[b_sites] - reference[i]) @ inv
        vec = (frac - np.round(frac)) @ cell  # [B, 3] minimum image to every B cation
        nearest = vec[np.argmin(np.linalg.norm(vec, axis=1))]
        axis = int(np.argmax(np.abs(nearest)))
        diag = np.full(3, born["O_perpendicular"])
        diag[axis] = born["O_parallel"]
        out[i] = np.diag(diag)
    return out


def displacement_polarization(
    positions: np.ndarray, cells: np.ndarray, reference: np.ndarray, reference_cell, born
) -> np.ndarray:
    """Polarisation ``[F, 3]`` (C/m²) of each frame from ionic displacements.

    Parameters
    ----------
    positions : np.ndarray
        ``[F, N, 3]`` (Å), any image of each atom.
    cells : np.ndarray
        ``[F, 3, 3]`` cell vectors as rows (Å).
    reference : np.ndarray
        ``[N, 3]`` ideal cubic sites (Å) in ``reference_cell`` ``[3, 3]``.
    born : np.ndarray
        ``[N, 3, 3]`` Born charge tensors (e), Z*_{i,αβ} = ∂μ_α/∂r_iβ.
    """
    positions, cells = np.asarray(positions, float), np.asarray(cells, float)
    ref_frac = np.asarray(reference, float) @ np.linalg.inv(np.asarray(reference_cell, float))
    out = np.zeros((positions.shape[0], 3))
    for f in range(positions.shape[0]):
        frac = positions[f] @ np.linalg.inv(cells[f]) - ref_frac  # [N, 3]
        frac -= np.round(frac)  # displacement from the site, whichever image is stored
        frac -= frac.mean(0)  # a rigid translation carries no polarisation
        disp = frac @ cells[f]  # [N, 3] Å
        dipole = np.einsum("iab,ib->a", born, disp)  # e·Å
        out[f] = dipole / abs(np.linalg.det(cells[f])) * units.E_PER_ANGSTROM2_TO_C_PER_M2
    return out


def classify_phase(polarization, threshold: float = 0.05, equal: float = 0.3) -> str:
    """``C``, ``T``, ``O`` or ``R`` from a mean polarisation vector (C/m²).

    Components below ``threshold`` (C/m²) count as zero; the non-zero ones must agree within the
    relative tolerance ``equal`` (else the state is labelled by the closest phase with a ``?``).
    """
    p = np.sort(np.abs(np.asarray(polarization, float)))[::-1]
    nonzero = p[p > threshold]
    phase = PHASES[len(nonzero)]
    if len(nonzero) > 1 and (nonzero[0] - nonzero[-1]) > equal * nonzero[0]:
        phase += "?"
    return phase


def transition_temperatures(temperatures, phases) -> dict:
    """Midpoint temperatures (K) of each phase change along a run, keyed ``"R-O"`` etc.

    ``temperatures`` in the order they were run (heating or cooling) and one phase per
    temperature; an unclear phase (``"T?"``) counts as its letter.
    """
    out = {}
    labels = [p.rstrip("?") for p in phases]
    for k in range(1, len(labels)):
        if labels[k] != labels[k - 1]:
            key = f"{labels[k - 1]}-{labels[k]}"
            out.setdefault(key, 0.5 * (float(temperatures[k]) + float(temperatures[k - 1])))
    return out


def loop_metrics(field, polarization) -> dict:
    """Coercive field and remanent polarisation of a P–E loop.

    Parameters
    ----------
    field : array-like
        ``[K]`` field along the loop axis in time order (any unit; returned in the same).
    polarization : array-like
        ``[K]`` polarisation along that axis (any unit).

    Returns
    -------
    dict
        ``coercive_field`` (mean |E| where P changes sign, linear interpolation),
        ``remanent_polarization`` (mean |P| where E changes sign), and the counts of crossings.
    """
    e, p = np.asarray(field, float), np.asarray(polarization, float)
    coercive = _crossings(p, e)
    remanent = _crossings(e, p)
    return {
        "coercive_field": float(np.mean(np.abs(coercive))) if coercive else float("nan"),
        "remanent_polarization": float(np.mean(np.abs(remanent))) if remanent else float("nan"),
        "polarization_reversals": len(coercive),
        "field_zero_crossings": len(remanent),
    }


def _crossings(x: np.ndarray, y: np.ndarray) -> list[float]:
    """Values of ``y`` (interpolated) where ``x`` changes sign."""
    out = []
    for k in range(1, len(x)):
        if x[k - 1] == 0.0:
            continue
        if x[k - 1] * x[k] < 0.0 or x[k] == 0.0:
            t = x[k - 1] / (x[k - 1] - x[k])
            out.append(float(y[k - 1] + t * (y[k] - y[k - 1])))
    return out


def state_summary(positions, cells, reference, reference_cell, born) -> dict:
    """Phase of one temperature's production frames.

    Per frame the absolute polarisation components are sorted (largest first), so domains that
    flip between equivalent directions do not average out; their mean (C/m²) labels the phase.
    Also the mean cell edges (Å, sorted) and the mean |P|.
    """
    p = displacement_polarization(positions, cells, reference, reference_cell, born)  # [F, 3]
    sorted_p = np.sort(np.abs(p), axis=1)[:, ::-1].mean(0)  # [3]
    edges = np.sort(np.linalg.norm(np.asarray(cells, float), axis=2), axis=1)[:, ::-1].mean(0)
    return {
        "polarization_sorted_C_m2": sorted_p.tolist(),
        "polarization_norm_C_m2": float(np.linalg.norm(p, axis=1).mean()),
        "cell_edges_sorted_A": edges.tolist(),
        "phase": classify_phase(sorted_p),
        "frames": int(p.shape[0]),
    }
