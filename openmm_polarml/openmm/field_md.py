"""NVT of a System with and without a homogeneous field, as the quickstart runs it.

:func:`probe_electrolyte` checks that the model holds a NaCl(aq) box together (a short NVT
probe after minimisation); :func:`run_field_md` runs Langevin NVT in a field along z with a
progress line (:class:`ProgressReporter`), a DCD trajectory and the PQEq report (charges,
shells, dipole, polarisation). ``settings`` is the quickstart's argument namespace:
``temperature`` (K), ``friction`` (1/ps), ``dt_fs`` (fs), ``seed``, ``threads``,
``hydrogen_mass`` (amu; 0 keeps 1.008), ``box`` (nm), ``probe_steps``, ``min_iterations``,
``steps`` and ``report_every`` (steps).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from openmm_polarml.analysis.integrity import water_intact
from openmm_polarml.openmm.minimize import minimize
from openmm_polarml.openmm.standard_systems import electrolyte

__all__ = ["ProgressReporter", "simulation_for", "probe_electrolyte", "run_field_md"]


class ProgressReporter:
    """Prints step, time, temperature, potential energy and ns/day every ``interval`` steps."""

    def __init__(self, interval: int, total: int, n_dof: int):
        self.interval, self.total, self.n_dof = interval, total, n_dof
        self.start = None

    def describeNextReport(self, simulation):
        steps = self.interval - simulation.currentStep % self.interval
        return {"steps": steps, "periodic": None, "include": ["energy"]}

    def report(self, simulation, state):
        import openmm.unit as u

        now = time.perf_counter()
        if self.start is None:
            self.start, self.step0 = now, simulation.currentStep
            return
        kinetic = state.getKineticEnergy().value_in_unit(u.kilojoule_per_mole)
        temperature = (
            2
            * kinetic
            / (self.n_dof * u.MOLAR_GAS_CONSTANT_R.value_in_unit(u.kilojoule_per_mole / u.kelvin))
        )
        done = simulation.currentStep - self.step0
        dt_ps = simulation.integrator.getStepSize().value_in_unit(u.picosecond)
        ns_day = done * dt_ps * 1e-3 / ((now - self.start) / 86400.0)
        print(
            f"  step {simulation.currentStep:6d}  t {state.getTime().value_in_unit(u.picosecond):7.3f} ps  "
            f"T {temperature:6.1f} K  E_pot {state.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole):12.1f} kJ/mol  "
            f"{ns_day:6.3f} ns/day",
            flush=True,
        )
        self.ns_day = ns_day


def simulation_for(topology, system, positions, args):
    """A CPU ``Simulation`` with a seeded Langevin integrator, positions (nm) set."""
    import openmm
    import openmm.app as app

    integrator = openmm.LangevinMiddleIntegrator(args.temperature, args.friction, args.dt_fs * 1e-3)
    integrator.setRandomNumberSeed(args.seed)
    platform = openmm.Platform.getPlatformByName("CPU")
    sim = app.Simulation(topology, system, integrator, platform, {"Threads": str(args.threads)})
    sim.context.setPositions(positions)
    return sim


def probe_electrolyte(potential, args):
    """Minimise and run a short NVT probe of NaCl(aq); returns (topology, positions) or None."""
    topology, positions = electrolyte(args.box)
    print(f"NaCl(aq): {topology.getNumAtoms()} atoms, box {args.box} nm")
    system = potential.createSystem(topology, hydrogenMass=args.hydrogen_mass or None)
    sim = simulation_for(topology, system, positions, args)
    minimize(sim.context, 10.0, 20)
    sim.context.setVelocitiesToTemperature(args.temperature, args.seed)
    sim.step(args.probe_steps)
    state = sim.context.getState(getPositions=True, getEnergy=True)
    import openmm.unit as u

    pos = np.asarray(state.getPositions(asNumpy=True).value_in_unit(u.nanometer))
    kinetic = state.getKineticEnergy().value_in_unit(u.kilojoule_per_mole)
    gas_constant = u.MOLAR_GAS_CONSTANT_R.value_in_unit(u.kilojoule_per_mole / u.kelvin)
    temperature = 2 * kinetic / (3 * topology.getNumAtoms() * gas_constant)
    intact = (
        water_intact(topology, pos)
        and np.isfinite(pos).all()
        and temperature < 3 * args.temperature
    )
    if intact:
        return topology, pos
    print(
        f"  the shipped model does not hold water together: after minimisation and "
        f"{args.probe_steps} steps water O-H bonds are broken (T = {temperature:.0f} K).\n"
        "  Running the largest system it describes honestly instead: a NaF crystal "
        "(see openmm_polarml/models/README.md)."
    )
    return None


def run_field_md(potential, topology, positions, out: Path, args, field_v_per_nm: float, tag: str):
    """NVT run in a field of ``field_v_per_nm`` (V/nm) along z; the run tagged ``"nofield"``
    is minimised first and writes ``topology.pdb``. Writes ``trajectory_<tag>.dcd`` and
    ``charges_<tag>.nc``; returns the PQEq report path, ns/day and the final positions (nm)."""
    import openmm.app as app

    from openmm_polarml.openmm.reporters import PQEqReporter

    system = potential.createSystem(  # the model's own charge model (as in its training)
        topology,
        positions=positions,
        externalField=(0, 0, field_v_per_nm),
        hydrogenMass=args.hydrogen_mass or None,
    )
    sim = simulation_for(topology, system, positions, args)
    if tag == "nofield":
        minimize(sim.context, 10.0, args.min_iterations)
        with open(out / "topology.pdb", "w") as fh:
            state = sim.context.getState(getPositions=True)
            app.PDBFile.writeFile(topology, state.getPositions(), fh)
    sim.context.setVelocitiesToTemperature(args.temperature, args.seed)
    progress = ProgressReporter(args.report_every, args.steps, 3 * topology.getNumAtoms() - 3)
    report = out / f"charges_{tag}.nc"
    sim.reporters = [
        progress,
        app.DCDReporter(str(out / f"trajectory_{tag}.dcd"), args.report_every),
        PQEqReporter(str(report), args.report_every, overwrite=True),
    ]
    print(
        f"NVT {args.steps} steps of {args.dt_fs} fs at {args.temperature} K, field {field_v_per_nm} V/nm along z"
    )
    sim.step(args.steps)
    sim.reporters.clear()
    return (
        report,
        getattr(progress, "ns_day", float("nan")),
        sim.context.getState(getPositions=True).getPositions(asNumpy=True),
    )
