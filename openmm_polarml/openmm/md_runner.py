"""Molecular dynamics from a structure file with the full model: what ``polarml md`` runs.

Reads PDB/PDBx (bonds from the file and residue templates) or anything ase reads (bonds from the
training bond rule, :func:`~openmm_polarml.openmm.topologyFromAtoms`), builds the System with
:class:`~openmm_polarml.openmm.PolarMLPotential`, and runs NVT (Langevin), NPT (Langevin + Monte
Carlo barostat) or NVE (Verlet) with a progress line, a DCD trajectory, per-frame charges,
shells and dipole (:class:`~openmm_polarml.openmm.PQEqReporter`) and the final structure as PDB.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import units
from .minimize import minimize

__all__ = ["MDSettings", "read_structure", "run_md"]

ENSEMBLES = ("nvt", "npt", "nve")


@dataclass(frozen=True)
class MDSettings:
    """One MD run.

    Attributes
    ----------
    steps : int
        Number of steps.
    timestep_fs : float
        Time step (fs).
    temperature_k : float
        Thermostat (and initial velocity) temperature (K).
    ensemble : str
        ``"nvt"``, ``"npt"`` (periodic only) or ``"nve"``.
    pressure_bar : float
        Barostat pressure (bar), NPT.
    friction_per_ps : float
        Langevin friction (1/ps).
    field_v_per_nm : tuple of float
        Homogeneous external field (V/nm).
    report_interval : int
        Steps between trajectory frames, charge records and progress lines.
    hydrogen_mass : float or None
        Hydrogen mass (amu) after repartitioning; None keeps 1.008.
    model : str
        Shipped model name or model file.
    head : str or None
        Readout head (``"gfn2"`` molecules and liquids, ``"pbe"`` crystals).
    platform : str
        OpenMM platform name.
    minimize_steps : int
        Iterations of ``LocalEnergyMinimizer`` before the velocities are drawn (0: none, the
        default). A structure built for another force field (TIP3P waters from ``Modeller``, a
        crystal from a database) is not at this model's minimum, and the released energy heats
        the first steps far above the thermostat (a 277-atom NaCl(aq) box from ``Modeller``:
        725 K after 25 fs with the v3 and v4 networks). Not the default: a model with a hole in
        its repulsion can minimise atoms into each other (the PQEqForce then stops with an
        overlap error), which plain MD at the thermostat temperature may never reach.
    """

    steps: int = 1000
    timestep_fs: float = 1.0
    temperature_k: float = 300.0
    ensemble: str = "nvt"
    pressure_bar: float = 1.0
    friction_per_ps: float = 1.0
    field_v_per_nm: tuple = (0.0, 0.0, 0.0)
    report_interval: int = 100
    hydrogen_mass: float | None = 2.0
    model: str = "foundation"
    head: str | None = None
    platform: str = "CPU"
    minimize_steps: int = 0

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting out of range."""
        if self.ensemble not in ENSEMBLES:
            raise ValueError(f"ensemble must be one of {ENSEMBLES}, got {self.ensemble!r}")
        if self.steps < 0 or self.report_interval < 1 or self.minimize_steps < 0:
            raise ValueError(
                "steps and minimisation steps must be >= 0 and the report interval >= 1"
            )
        if not 0.0 < self.timestep_fs <= 5.0:
            raise ValueError(f"timestep must lie in (0, 5] fs, got {self.timestep_fs}")
        if self.temperature_k <= 0.0 or self.friction_per_ps <= 0.0:
            raise ValueError("temperature and friction must be positive")


def read_structure(path: str | Path):
    """``(topology, positions [n, 3] nm)`` of a PDB, PDBx/mmCIF or any file ase reads."""
    import openmm.app as app

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no structure file {path}")
    suffix = path.suffix.lower()
    if suffix in (".pdb", ".ent"):
        pdb = app.PDBFile(str(path))
        return pdb.topology, np.asarray(pdb.getPositions(asNumpy=True)._value)
    if suffix in (".cif", ".pdbx", ".mmcif"):
        pdbx = app.PDBxFile(str(path))
        return pdbx.topology, np.asarray(pdbx.getPositions(asNumpy=True)._value)
    import ase.io

    from .topology import topologyFromAtoms

    atoms = ase.io.read(str(path))
    if atoms.pbc.all():  # OpenMM wants a reduced (lower-triangular) cell
        cell, rotation = atoms.cell.standard_form()
        atoms.positions = atoms.positions @ rotation.T
        atoms.cell = cell
    return topologyFromAtoms(atoms), np.asarray(atoms.positions) * units.ANGSTROM_TO_NM


def _minimize(context, iterations: int) -> None:
    """Relax the start structure (:func:`~openmm_polarml.openmm.minimize.minimize`, forces to
    10 kJ/mol/nm) and print the potential energy before and after (kJ/mol)."""
    import openmm.unit as u

    def energy() -> float:
        state = context.getState(getEnergy=True)
        return state.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)

    before = energy()
    method = minimize(context, 10.0, iterations)
    print(
        f"minimised ({method}, {iterations} iterations at most): potential energy {before:.1f} -> "
        f"{energy():.1f} kJ/mol",
        flush=True,
    )


def run_md(structure: str | Path, out_dir: str | Path, settings: MDSettings) -> dict:
    """Run MD of ``structure`` and write ``trajectory.dcd``, ``charges.nc``, ``final.pdb``.

    Returns
    -------
    dict
        ``{"steps", "final_potential_kj_per_mol", "out_dir"}``.
    """
    import openmm
    import openmm.app as app
    import openmm.unit as u

    from .potential import PolarMLPotential
    from .reporters import PQEqReporter

    settings.check()
    topology, positions = read_structure(structure)
    periodic = topology.getPeriodicBoxVectors() is not None
    if settings.ensemble == "npt" and not periodic:
        raise ValueError("NPT needs a periodic structure (a box in the file)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    potential = PolarMLPotential(settings.model, head=settings.head)
    system = potential.createSystem(
        topology,
        externalField=settings.field_v_per_nm,
        positions=positions,
        hydrogenMass=settings.hydrogen_mass,
    )
    dt = settings.timestep_fs * u.femtosecond
    if settings.ensemble == "nve":
        integrator = openmm.VerletIntegrator(dt)
    else:
        integrator = openmm.LangevinMiddleIntegrator(
            settings.temperature_k * u.kelvin, settings.friction_per_ps / u.picosecond, dt
        )
    if settings.ensemble == "npt":
        system.addForce(
            openmm.MonteCarloBarostat(settings.pressure_bar * u.bar, settings.temperature_k)
        )
    platform = openmm.Platform.getPlatformByName(settings.platform)
    simulation = app.Simulation(topology, system, integrator, platform)
    simulation.context.setPositions(positions)
    if settings.minimize_steps:
        _minimize(simulation.context, settings.minimize_steps)
    simulation.context.setVelocitiesToTemperature(settings.temperature_k * u.kelvin)
    every = settings.report_interval
    simulation.reporters += [
        app.DCDReporter(str(out / "trajectory.dcd"), every),
        PQEqReporter(out / "charges.nc", every, overwrite=True),
        app.StateDataReporter(
            sys.stdout, every, step=True, time=True, potentialEnergy=True, temperature=True,
            speed=True, progress=True, remainingTime=True, totalSteps=settings.steps,
        ),
    ]  # fmt: skip
    simulation.step(settings.steps)
    state = simulation.context.getState(getPositions=True, getEnergy=True, enforcePeriodicBox=True)
    with open(out / "final.pdb", "w") as fh:
        app.PDBFile.writeFile(topology, state.getPositions(), fh)
    energy = state.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
    return {"steps": settings.steps, "final_potential_kj_per_mol": energy, "out_dir": str(out)}
