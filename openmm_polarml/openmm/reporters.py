"""``PQEqReporter``: PQEq charges, shells, dipole, polarisation and field along an OpenMM run.

One NetCDF file (netCDF4, CF-like): dimensions ``frame`` (unlimited), ``atom``, ``spatial`` (3);
every variable carries a ``units`` attribute::

    time [frame] ps                 step [frame]
    charges [frame, atom] e         shell_displacements [frame, atom, spatial] nm
    dipole [frame, spatial] e nm    dipole_debye [frame, spatial] D
    field [frame, spatial] V/nm     volume [frame] nm3            (periodic only)
    polarization [frame, spatial] e/nm2, polarization_si [frame, spatial] C/m2  (periodic only)

The dipole is ``PQEqForce.getDipole`` (Σ q_i u_i − Σ Z_i d_i, unwrapped positions u_i, see
docs/conventions.md) and P = μ/V. With the same ``reportInterval`` as a ``DCDReporter`` the file
has one frame per DCD frame (``step`` aligns them). Each report is flushed to disk (classic 64-bit-offset NetCDF: an interrupted
run leaves the earlier frames readable). An existing
file is never touched unless ``append=True`` (its layout is checked against this System first)
or ``overwrite=True`` (the new file is written beside it and renamed over it only once its
header is complete). Read it back with :func:`openmm_polarml.analysis.load_pqeq_report`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .. import units
from .fields import FIELD_PARAMETERS
from .plugin import PQEqForce

__all__ = ["PQEqReporter", "PQEQ_REPORT_UNITS"]

#: classic 64-bit-offset NetCDF (as AMBER trajectories): a record append that is interrupted
#: leaves the earlier frames readable, unlike an HDF5 file left open for writing
NETCDF_FORMAT = "NETCDF3_64BIT_OFFSET"

E_NM_TO_DEBYE = units.E_ANGSTROM_TO_DEBYE * units.NM_TO_ANGSTROM
E_PER_NM2_TO_C_PER_M2 = units.ELEMENTARY_CHARGE_C / 1e-18

#: variable name -> units attribute
PQEQ_REPORT_UNITS = {
    "time": "ps",
    "step": "1",
    "charges": "e",
    "shell_displacements": "nm",
    "dipole": "e nm",
    "dipole_debye": "D",
    "field": "V/nm",
    "volume": "nm3",
    "polarization": "e/nm2",
    "polarization_si": "C/m2",
}

_DIMS = {
    "time": ("frame",),
    "step": ("frame",),
    "charges": ("frame", "atom"),
    "shell_displacements": ("frame", "atom", "spatial"),
    "dipole": ("frame", "spatial"),
    "dipole_debye": ("frame", "spatial"),
    "field": ("frame", "spatial"),
    "volume": ("frame",),
    "polarization": ("frame", "spatial"),
    "polarization_si": ("frame", "spatial"),
}
_PERIODIC_ONLY = ("volume", "polarization", "polarization_si")


def find_pqeq_force(system):
    """The one ``PQEqForce`` of ``system``; ``ValueError`` when there is none or more than one."""
    forces = [f for f in system.getForces() if isinstance(f, PQEqForce)]
    if len(forces) != 1:
        raise ValueError(f"the System must hold exactly one PQEqForce, found {len(forces)}")
    return forces[0]


class PQEqReporter:
    """OpenMM reporter writing PQEq charges, shells, dipole, P and field to NetCDF.

    Parameters
    ----------
    file : str or Path
        Output ``.nc`` path.
    reportInterval : int
        Steps between reports.
    force : PQEqForce, optional
        The System's PQEqForce (default: found in ``simulation.system`` at the first report).
    overwrite : bool
        Replace an existing file (atomically, at the first report).
    append : bool
        Append frames to an existing file written for the same System.
    """

    def __init__(self, file, reportInterval: int, force=None, overwrite=False, append=False):
        if reportInterval < 1:
            raise ValueError(f"reportInterval must be >= 1, got {reportInterval}")
        if overwrite and append:
            raise ValueError("give overwrite=True or append=True, not both")
        self._nc = None
        self.path = Path(file)
        self._interval = int(reportInterval)
        self._force = force
        self._overwrite = bool(overwrite)
        self._append = bool(append)
        exists = self.path.exists()
        if exists and not (overwrite or append):
            raise FileExistsError(
                f"{self.path} exists; pass overwrite=True to replace it or append=True to extend it"
            )
        if append and not exists:
            raise FileNotFoundError(f"append=True but {self.path} does not exist")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"folder {self.path.parent} does not exist")

    def describeNextReport(self, simulation):
        """Steps to the next report; needs no positions, velocities, forces or energies."""
        steps = self._interval - simulation.currentStep % self._interval
        return {"steps": steps, "periodic": None, "include": []}

    def report(self, simulation, state):
        """Append one frame (solves are those of the Context's current state)."""
        context = simulation.context
        if self._nc is None:
            if self._force is None:
                self._force = find_pqeq_force(simulation.system)
            periodic = simulation.system.usesPeriodicBoundaryConditions()
            self._open(self._force.getNumParticles(), periodic)
        force = self._force
        charges = np.asarray(force.getCharges(context), dtype=float)  # [n_atoms] e
        shells = np.asarray(force.getShellDisplacements(context), dtype=float)  # [n_atoms, 3] nm
        dipole = np.asarray(force.getDipole(context), dtype=float)  # [3] e nm
        field = np.array([context.getParameter(p) for p in FIELD_PARAMETERS])  # kJ/mol/nm/e
        nc = self._nc
        k = len(nc.dimensions["frame"])
        nc["time"][k] = state.getTime()._value  # ps
        nc["step"][k] = simulation.currentStep
        nc["charges"][k] = charges
        nc["shell_displacements"][k] = shells.reshape(-1, 3)
        nc["dipole"][k] = dipole
        nc["dipole_debye"][k] = dipole * E_NM_TO_DEBYE
        nc["field"][k] = field / units.V_PER_NM_TO_KJ_PER_MOL_NM_E
        if "volume" in nc.variables:
            volume = float(state.getPeriodicBoxVolume()._value)  # nm3
            nc["volume"][k] = volume
            nc["polarization"][k] = dipole / volume
            nc["polarization_si"][k] = dipole / volume * E_PER_NM2_TO_C_PER_M2
        nc.sync()

    def close(self) -> None:
        """Close the file (also done when the reporter is garbage collected)."""
        if getattr(self, "_nc", None) is not None:
            self._nc.close()
            self._nc = None

    def __del__(self):
        self.close()

    # --- file handling -------------------------------------------------------------------------
    def _open(self, n_atoms: int, periodic: bool) -> None:
        import netCDF4

        if self._append:
            nc = netCDF4.Dataset(self.path, "r")
            try:
                _check_layout(nc, n_atoms, periodic, self.path)
            finally:
                nc.close()
            self._nc = netCDF4.Dataset(self.path, "a")
            return
        handle, tmp = tempfile.mkstemp(suffix=".nc.tmp", dir=self.path.parent)
        os.close(handle)
        try:
            nc = netCDF4.Dataset(tmp, "w", format=NETCDF_FORMAT)
            _write_header(nc, n_atoms, periodic)
            nc.close()
            if self.path.exists() and not self._overwrite:
                raise FileExistsError(f"{self.path} appeared meanwhile; not overwriting it")
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._nc = netCDF4.Dataset(self.path, "a")


def _write_header(nc, n_atoms: int, periodic: bool) -> None:
    nc.Conventions = "CF-1.8"
    nc.title = "PQEq charges, shells, dipole and field (openmm_polarml PQEqReporter)"
    nc.program = "openmm_polarml"
    nc.periodic = int(periodic)
    nc.createDimension("frame", None)
    nc.createDimension("atom", n_atoms)
    nc.createDimension("spatial", 3)
    nc.createVariable("spatial", "S1", ("spatial",))[:] = np.array(list("xyz"), dtype="S1")
    for name, dims in _DIMS.items():
        if name in _PERIODIC_ONLY and not periodic:
            continue
        var = nc.createVariable(name, "f8", dims)  # steps too: exact to 2**53, classic format
        var.units = PQEQ_REPORT_UNITS[name]


def _check_layout(nc, n_atoms: int, periodic: bool, path) -> None:
    problems = []
    if "atom" not in nc.dimensions or len(nc.dimensions["atom"]) != n_atoms:
        problems.append(f"atom dimension != {n_atoms}")
    if int(getattr(nc, "periodic", -1)) != int(periodic):
        problems.append(f"periodic != {periodic}")
    for name in _DIMS:
        if (name in _PERIODIC_ONLY and not periodic) or name in nc.variables:
            continue
        problems.append(f"missing variable {name}")
    if problems:
        raise ValueError(f"cannot append to {path}: " + "; ".join(problems))
