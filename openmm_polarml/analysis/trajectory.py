"""Structure and transport from an MD trajectory (mdtraj): RDFs, first peaks, MSD, unwrapping.

Lengths are nm and times ps, as in OpenMM and mdtraj; convert at the boundary
(:data:`openmm_polarml.units.NM_TO_ANGSTROM`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = [
    "load_trajectory",
    "element_pairs",
    "compute_rdfs",
    "first_peak",
    "unwrap_positions",
    "mean_square_displacement",
    "diffusion_coefficient",
]


def load_trajectory(trajectory: str | Path, topology: str | Path, stride: int = 1):
    """Load a trajectory (DCD, XTC, ...) with its topology file (PDB).

    Parameters
    ----------
    trajectory : str or Path
        Trajectory file written by an OpenMM reporter (positions in nm).
    topology : str or Path
        Topology file (PDB) with the same atom order.
    stride : int
        Keep every ``stride``-th frame.

    Returns
    -------
    mdtraj.Trajectory
        Positions in nm, unit cells in nm, times in ps.
    """
    import mdtraj

    return mdtraj.load(str(trajectory), top=str(topology), stride=stride)


def _element_symbol(atom) -> str:
    return atom.element.symbol if atom.element is not None else atom.name


def element_pairs(topology, first: str, second: str) -> np.ndarray:
    """All distinct atom-index pairs between two elements.

    Parameters
    ----------
    topology : mdtraj.Topology
        The topology.
    first, second : str
        Element symbols (e.g. ``"Na"``, ``"Cl"``); equal symbols give each unordered pair once.

    Returns
    -------
    numpy.ndarray
        ``[n_pairs, 2]`` atom indices (int).
    """
    symbols = np.array([_element_symbol(a) for a in topology.atoms])
    a = np.flatnonzero(symbols == first)
    b = np.flatnonzero(symbols == second)
    if first == second:
        i, j = np.triu_indices(len(a), k=1)
        return np.stack([a[i], a[j]], axis=1).astype(int)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((0, 2), dtype=int)
    return np.stack(np.meshgrid(a, b, indexing="ij"), axis=-1).reshape(-1, 2).astype(int)


def compute_rdfs(
    traj,
    pairs: Iterable[tuple[str, str]] | None = None,
    r_max: float | None = None,
    bin_width: float = 0.005,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Radial distribution functions per element pair (``mdtraj.compute_rdf``, periodic).

    Parameters
    ----------
    traj : mdtraj.Trajectory
        Periodic trajectory (nm).
    pairs : iterable of (str, str), optional
        Element pairs; default: every unordered pair of the elements present.
    r_max : float, optional
        Largest distance (nm); default: half the shortest box edge of the first frame
        (beyond it the minimum-image RDF is not defined).
    bin_width : float
        Histogram bin width (nm).

    Returns
    -------
    dict
        ``"A-B" -> (r [n_bins] nm, g [n_bins])``; pairs absent from the topology are left out.
    """
    import mdtraj

    if pairs is None:
        elements = sorted({_element_symbol(a) for a in traj.topology.atoms})
        pairs = [(a, b) for i, a in enumerate(elements) for b in elements[i:]]
    if r_max is None:
        if traj.unitcell_lengths is None:
            raise ValueError("the trajectory has no unit cell: pass r_max")
        r_max = 0.5 * float(np.min(traj.unitcell_lengths[0]))
    out = {}
    for a, b in pairs:
        idx = element_pairs(traj.topology, a, b)
        if len(idx) == 0:
            continue
        r, g = mdtraj.compute_rdf(traj, idx, r_range=(0.0, r_max), bin_width=bin_width)
        out[f"{a}-{b}"] = (np.asarray(r), np.asarray(g))
    return out


def first_peak(r: np.ndarray, g: np.ndarray, threshold: float = 1.0) -> tuple[float, float]:
    """Position and height of the first peak of an RDF.

    The first peak is the maximum of ``g`` over the first contiguous range where
    ``g > threshold`` (robust against histogram noise, unlike the first local maximum).

    Parameters
    ----------
    r : numpy.ndarray
        ``[n_bins]`` bin centres (any length unit; the position is returned in it).
    g : numpy.ndarray
        ``[n_bins]`` RDF values.
    threshold : float
        Level that delimits the first peak.

    Returns
    -------
    tuple of float
        ``(r_peak, g_peak)``; ``(nan, nan)`` when ``g`` never exceeds ``threshold``.
    """
    above = np.asarray(g) > threshold
    if not above.any():
        return float("nan"), float("nan")
    start = int(np.argmax(above))
    below_after = np.flatnonzero(~above[start:])
    stop = start + (int(below_after[0]) if len(below_after) else len(above) - start)
    k = start + int(np.argmax(g[start:stop]))
    return float(r[k]), float(g[k])


def unwrap_positions(xyz: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Undo periodic wrapping: frame-to-frame steps are taken as minimum images.

    Valid while no atom moves more than half a box length between stored frames.

    Parameters
    ----------
    xyz : numpy.ndarray
        ``[n_frames, n_atoms, 3]`` positions (nm), possibly wrapped into the box.
    boxes : numpy.ndarray
        ``[n_frames, 3, 3]`` box vectors as rows (nm), e.g. ``traj.unitcell_vectors``.

    Returns
    -------
    numpy.ndarray
        ``[n_frames, n_atoms, 3]`` continuous positions (nm), equal to ``xyz`` in frame 0.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64)
    steps = np.diff(xyz, axis=0)  # [n_frames - 1, n_atoms, 3]
    inv = np.linalg.inv(boxes[1:])  # [n_frames - 1, 3, 3]
    frac = np.einsum("fai,fij->faj", steps, inv)  # fractional steps
    frac -= np.round(frac)
    steps = np.einsum("faj,fjk->fak", frac, boxes[1:])
    return np.concatenate([xyz[:1], xyz[:1] + np.cumsum(steps, axis=0)], axis=0)


def mean_square_displacement(
    xyz: np.ndarray,
    atoms: np.ndarray | None = None,
    max_lag: int | None = None,
    masses: np.ndarray | None = None,
    remove_com: bool = False,
) -> np.ndarray:
    """Mean-square displacement averaged over atoms and time origins.

    Parameters
    ----------
    xyz : numpy.ndarray
        ``[n_frames, n_atoms, 3]`` unwrapped positions (nm) at equal time spacing
        (see :func:`unwrap_positions`).
    atoms : numpy.ndarray, optional
        Indices of the atoms to average over (default: all).
    max_lag : int, optional
        Largest lag in frames (default: ``n_frames // 2``, so every lag has many origins).
    masses : numpy.ndarray, optional
        ``[n_atoms]`` masses (any unit) for the centre of mass; default equal masses.
    remove_com : bool
        Subtract the centre-of-mass motion of the whole system (all atoms) first.

    Returns
    -------
    numpy.ndarray
        ``[max_lag + 1]`` MSD (nm²) at lags 0, 1, ..., ``max_lag`` frames.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if remove_com:
        w = np.ones(xyz.shape[1]) if masses is None else np.asarray(masses, dtype=np.float64)
        com = np.einsum("fai,a->fi", xyz, w / w.sum())  # [n_frames, 3]
        xyz = xyz - com[:, None, :]
    if atoms is not None:
        xyz = xyz[:, np.asarray(atoms, dtype=int)]
    n = xyz.shape[0]
    max_lag = n // 2 if max_lag is None else min(int(max_lag), n - 1)
    msd = np.zeros(max_lag + 1)
    for lag in range(1, max_lag + 1):
        d = xyz[lag:] - xyz[:-lag]  # [n_origins, n_atoms, 3]
        msd[lag] = float(np.mean(np.sum(d * d, axis=-1)))
    return msd


def diffusion_coefficient(times: np.ndarray, msd: np.ndarray, skip_fraction: float = 0.2) -> float:
    """Einstein diffusion coefficient ``D = slope(MSD) / 6`` from a linear fit.

    Parameters
    ----------
    times : numpy.ndarray
        ``[n_lags]`` lag times (ps).
    msd : numpy.ndarray
        ``[n_lags]`` MSD (nm²).
    skip_fraction : float
        Leading fraction of the lags left out of the fit (ballistic regime).

    Returns
    -------
    float
        D in nm²/ps (1 nm²/ps = 1e-6 m²/s = 1e-2 cm²/s).

    Notes
    -----
    A crystal gives D ≈ 0 (the MSD plateaus at the
    vibrational amplitude); a short trajectory gives only an order of magnitude.
    """
    times = np.asarray(times, dtype=np.float64)
    msd = np.asarray(msd, dtype=np.float64)
    k = max(1, int(skip_fraction * len(times)))
    if len(times) - k < 2:
        return float("nan")
    return float(np.polyfit(times[k:], msd[k:], 1)[0] / 6.0)
