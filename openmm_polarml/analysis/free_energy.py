"""Barriers of one-dimensional energy or free-energy profiles (reaction coordinates).

Used by the reactive studies: a metadynamics free-energy profile F(s) and a relaxed scan E(s)
of the reference method are both reduced to the same numbers (the two minima, the barrier top
between them, forward and reverse barriers), so they can be compared side by side.
"""

from __future__ import annotations

import numpy as np

__all__ = ["profile_barrier"]


def profile_barrier(cv: np.ndarray, profile: np.ndarray) -> dict[str, float]:
    """Minima and the barrier between them of a double-well profile.

    Parameters
    ----------
    cv : numpy.ndarray
        ``[n]`` reaction-coordinate values, increasing (any unit).
    profile : numpy.ndarray
        ``[n]`` energies (any unit; the result is in the same unit).

    Returns
    -------
    dict
        ``left_min``, ``right_min`` (cv of the lowest point left and right of the barrier top),
        ``top`` (cv of the highest point between them), ``forward`` (top − left minimum),
        ``reverse`` (top − right minimum) and ``asymmetry`` (right − left minimum). A profile
        with a single well returns a barrier of 0 with ``top`` at the minimum.
    """
    s = np.asarray(cv, dtype=np.float64)
    f = np.asarray(profile, dtype=np.float64)
    if s.ndim != 1 or s.shape != f.shape or s.size < 3:
        raise ValueError("profile_barrier needs matching 1-d arrays of at least 3 points")
    if np.any(np.diff(s) <= 0):
        raise ValueError("the reaction coordinate must increase along the profile")
    if not np.all(np.isfinite(f)):
        raise ValueError("the profile holds non-finite values (unsampled bins?); trim them")
    interior = np.arange(1, s.size - 1)
    maxima = interior[(f[interior] >= f[interior - 1]) & (f[interior] >= f[interior + 1])]
    best = None
    for top in maxima:  # the highest interior maximum with a lower point on each side
        left, right = int(np.argmin(f[:top])), top + int(np.argmin(f[top:]))
        if f[left] < f[top] and f[right] < f[top] and (best is None or f[top] > f[best[1]]):
            best = (left, int(top), right)
    if best is None:
        k = int(np.argmin(f))
        return {"left_min": s[k], "right_min": s[k], "top": s[k], "forward": 0.0,
                "reverse": 0.0, "asymmetry": 0.0}  # fmt: skip
    left, top, right = best
    return {
        "left_min": float(s[left]), "right_min": float(s[right]), "top": float(s[top]),
        "forward": float(f[top] - f[left]), "reverse": float(f[top] - f[right]),
        "asymmetry": float(f[right] - f[left]),
    }  # fmt: skip
