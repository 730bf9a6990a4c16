"""Reading :class:`~openmm_polarml.openmm.reporters.PQEqReporter` files and simple analyses.

:func:`load_pqeq_report` returns a :class:`PQEqReport` of numpy arrays (units in ``.units``);
:func:`mean_charges` averages charges per element or residue; :func:`induced_dipole` gives the
dipole change against a reference along the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PQEqReport", "load_pqeq_report", "mean_charges", "induced_dipole"]


@dataclass
class PQEqReport:
    """A PQEq report: arrays indexed by frame (``[n_frames, ...]``), units in ``units``."""

    time: np.ndarray  # [n_frames] ps
    step: np.ndarray  # [n_frames] int64
    charges: np.ndarray  # [n_frames, n_atoms] e
    shell_displacements: np.ndarray  # [n_frames, n_atoms, 3] nm
    dipole: np.ndarray  # [n_frames, 3] e nm
    dipole_debye: np.ndarray  # [n_frames, 3] D
    field: np.ndarray  # [n_frames, 3] V/nm
    volume: np.ndarray | None = None  # [n_frames] nm3 (periodic)
    polarization: np.ndarray | None = None  # [n_frames, 3] e/nm2 (periodic)
    polarization_si: np.ndarray | None = None  # [n_frames, 3] C/m2 (periodic)
    units: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.time.shape[0])


def load_pqeq_report(path) -> PQEqReport:
    """Read a PQEqReporter NetCDF file into a :class:`PQEqReport`."""
    import netCDF4

    with netCDF4.Dataset(path, "r") as nc:
        data, unit = {}, {}
        for name, var in nc.variables.items():
            if name == "spatial":
                continue
            data[name] = np.asarray(var[:].filled(np.nan) if np.ma.isMA(var[:]) else var[:])
            unit[name] = getattr(var, "units", "")
    data["step"] = data["step"].astype(np.int64)  # stored as float64 (classic NetCDF)
    return PQEqReport(units=unit, **data)


def _labels(topology, by: str) -> list[str]:
    atoms = list(topology.atoms() if callable(getattr(topology, "atoms", None)) else topology.atoms)
    if by == "element":
        return [a.element.symbol for a in atoms]
    if by == "residue":
        return [a.residue.name for a in atoms]
    raise ValueError(f"by must be 'element' or 'residue', got {by!r}")


def mean_charges(report: PQEqReport, topology, by: str = "element") -> dict[str, tuple]:
    """Mean and standard deviation (e) of the charges per element or residue name.

    Parameters
    ----------
    report : PQEqReport
        The loaded report.
    topology : openmm.app.Topology or mdtraj.Topology, or a sequence of labels
        Atom order of the report.
    by : str
        'element' or 'residue' (ignored when labels are given).

    Returns
    -------
    dict
        ``{label: (mean, std over atoms and frames)}`` in e.
    """
    if isinstance(topology, (list, tuple, np.ndarray)):
        labels = [str(x) for x in topology]
    else:
        labels = _labels(topology, by)
    labels = np.asarray(labels)
    if labels.shape[0] != report.charges.shape[1]:
        raise ValueError(f"{labels.shape[0]} labels for {report.charges.shape[1]} atoms")
    out = {}
    for label in dict.fromkeys(labels.tolist()):
        q = report.charges[:, labels == label]  # [n_frames, n_atoms_with_label]
        out[label] = (float(q.mean()), float(q.std()))
    return out


def induced_dipole(report: PQEqReport, reference="first", unit: str = "e nm"):
    """Dipole change μ(t) − μ_ref along the run.

    Parameters
    ----------
    report : PQEqReport
        The loaded report.
    reference : 'first', 'mean' or array of 3
        The first frame's dipole, the time average, or a given dipole (in ``unit``).
    unit : str
        'e nm' or 'D'.

    Returns
    -------
    (time ps [n_frames], induced dipole [n_frames, 3] in ``unit``)
    """
    if unit not in ("e nm", "D"):
        raise ValueError(f"unit must be 'e nm' or 'D', got {unit!r}")
    mu = report.dipole if unit == "e nm" else report.dipole_debye  # [n_frames, 3]
    if isinstance(reference, str):
        if reference == "first":
            ref = mu[0]
        elif reference == "mean":
            ref = mu.mean(axis=0)
        else:
            raise ValueError(f"reference must be 'first', 'mean' or a vector, got {reference!r}")
    else:
        ref = np.asarray(reference, dtype=float).reshape(3)
    return report.time.copy(), mu - ref
