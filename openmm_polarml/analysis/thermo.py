"""Energy and temperature time series from OpenMM ``StateDataReporter`` CSV files.

Energies are kJ/mol, times ps, temperatures K (OpenMM's units); drifts are reported per atom in
meV/atom/ps (the unit used across this project's NVE checks).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from openmm_polarml import units

__all__ = ["read_state_csv", "energy_drift", "temperature_stats"]

# StateDataReporter column titles -> short keys (units stay those of the title)
_COLUMNS = {
    "Step": "step",
    "Time (ps)": "time_ps",
    "Potential Energy (kJ/mole)": "potential_kj_mol",
    "Kinetic Energy (kJ/mole)": "kinetic_kj_mol",
    "Total Energy (kJ/mole)": "total_kj_mol",
    "Temperature (K)": "temperature_k",
    "Box Volume (nm^3)": "volume_nm3",
    "Density (g/mL)": "density_g_ml",
    "Speed (ns/day)": "speed_ns_day",
    "Elapsed Time (s)": "elapsed_s",
}


def _key(title: str) -> str:
    title = title.strip().strip('"').lstrip("#").strip().strip('"')
    if title in _COLUMNS:
        return _COLUMNS[title]
    return re.sub(r"[^0-9a-z]+", "_", title.lower()).strip("_")


def read_state_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Read a ``StateDataReporter`` CSV file (comma separated, ``#"Step",...`` header).

    Parameters
    ----------
    path : str or Path
        The CSV file.

    Returns
    -------
    dict
        Column arrays ``[n_rows]`` under short keys: ``step``, ``time_ps``, ``potential_kj_mol``,
        ``kinetic_kj_mol``, ``total_kj_mol``, ``temperature_k``, ... (units as in OpenMM's titles);
        non-numeric entries (``--`` for the speed in the first row) become NaN.
    """
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: empty file")
    keys = [_key(t) for t in lines[0].split(",")]
    rows = []
    for ln in lines[1:]:
        values = []
        for v in ln.split(","):
            try:
                values.append(float(v))
            except ValueError:
                values.append(np.nan)
        if len(values) != len(keys):
            raise ValueError(
                f"{path}: row {ln!r} has {len(values)} columns, header has {len(keys)}"
            )
        rows.append(values)
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(keys))
    return {k: table[:, i] for i, k in enumerate(keys)}


def energy_drift(time_ps: np.ndarray, total_kj_mol: np.ndarray, n_atoms: int) -> dict[str, float]:
    """Linear drift and fluctuation of the total energy (NVE quality measure).

    Parameters
    ----------
    time_ps : numpy.ndarray
        ``[n]`` times (ps).
    total_kj_mol : numpy.ndarray
        ``[n]`` total energies (kJ/mol).
    n_atoms : int
        Number of atoms (drift is per atom).

    Returns
    -------
    dict
        ``drift_mev_per_atom_per_ps`` (slope of a least-squares line),
        ``fluctuation_mev_per_atom`` (standard deviation about that line) and
        ``span_mev_per_atom`` (max - min), all in meV/atom(/ps).
    """
    t = np.asarray(time_ps, dtype=np.float64)
    e = np.asarray(total_kj_mol, dtype=np.float64) / units.EV_TO_KJ_PER_MOL * 1000.0 / n_atoms
    if len(t) < 2:
        nan = float("nan")
        return {
            "drift_mev_per_atom_per_ps": nan,
            "fluctuation_mev_per_atom": nan,
            "span_mev_per_atom": nan,
        }
    slope, icpt = np.polyfit(t, e, 1)
    return {
        "drift_mev_per_atom_per_ps": float(slope),
        "fluctuation_mev_per_atom": float(np.std(e - (slope * t + icpt))),
        "span_mev_per_atom": float(e.max() - e.min()),
    }


def temperature_stats(temperature_k: np.ndarray, skip_fraction: float = 0.0) -> dict[str, float]:
    """Mean, standard deviation and extremes of an instantaneous temperature series.

    Parameters
    ----------
    temperature_k : numpy.ndarray
        ``[n]`` temperatures (K).
    skip_fraction : float
        Leading fraction of the series left out (equilibration).

    Returns
    -------
    dict
        ``mean_k``, ``std_k``, ``min_k``, ``max_k`` (K).
    """
    t = np.asarray(temperature_k, dtype=np.float64)
    t = t[int(skip_fraction * len(t)) :]
    return {
        "mean_k": float(t.mean()),
        "std_k": float(t.std()),
        "min_k": float(t.min()),
        "max_k": float(t.max()),
    }
