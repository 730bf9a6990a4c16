"""Quickstart (README command 1): NaCl(aq) in OpenMM with the shipped model, then a field on.

1. Builds a periodic box of 1 M NaCl in water with ``openmm.app.Modeller`` (≥ 600 atoms) and a
   System with ``PolarMLPotential().createSystem(topology)`` (network + D3 as PythonForce, PQEq
   charges/shells as the native ``PQEqForce``), minimises it and probes a short NVT run.
2. If the shipped model cannot hold water together (O–H bonds break or the run heats up), says
   so and runs the largest honest system it can instead: a periodic NaF crystal (rocksalt, the
   model's own lattice constant). As soon as the shipped model holds the electrolyte, the probe
   passes and the quickstart runs the electrolyte.
3. NVT (Langevin, 300 K, 1 fs; hydrogens at 2 amu by mass repartitioning, network in float32,
   PQEq by smooth PME) with a progress line and ns/day, writing ``trajectory.dcd``,
   ``topology.pdb`` and ``charges.nc`` (PQEq charges, shells, dipole, polarisation).
4. The same run again with a homogeneous field along z: prints the induced polarisation and
   the field-induced charge shift per element; saves ``rdf.png`` and ``charges.png``.

Run: ``python examples/quickstart.py [--out runs/quickstart] [--steps 300] [--field 1.0]``
(a few minutes on a laptop CPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def electrolyte(box_nm: float = 1.9, molar: float = 1.0):
    """Topology and positions (nm) of a periodic water box with NaCl at ``molar``.

    Modeller's box has close contacts across its faces and next to the ions (H 0.13 nm from
    Na⁺); they are removed by a short AMBER14/TIP3P minimisation before the ML model sees them.
    """
    import openmm
    import openmm.app as app
    import openmm.unit as u
    from stability_runs import mm_relax

    ff = app.ForceField("amber14/tip3p.xml")
    modeller = app.Modeller(app.Topology(), [])
    size = openmm.Vec3(box_nm, box_nm, box_nm) * u.nanometer
    modeller.addSolvent(
        ff, boxSize=size, positiveIon="Na+", negativeIon="Cl-", ionicStrength=molar * u.molar
    )
    positions = np.asarray(modeller.positions.value_in_unit(u.nanometer))
    return modeller.topology, mm_relax(modeller.topology, positions, ff)


def crystal(repeat: int = 2):
    """Topology and positions (nm) of rocksalt NaF at the shipped model's lattice constant."""
    from main_job import rocksalt_crystal

    from openmm_polarml import units
    from openmm_polarml.openmm.topology import topologyFromAtoms

    atoms = rocksalt_crystal("NaF", repeat=repeat)
    return topologyFromAtoms(atoms, bondScale=0), atoms.positions * units.ANGSTROM_TO_NM


def water_intact(topology, positions, max_oh_nm: float = 0.13) -> bool:
    """Whether every water's O–H distances stay below ``max_oh_nm`` (minimum image)."""
    import openmm.unit as u

    vectors = topology.getPeriodicBoxVectors()
    box = np.array([vectors[i][i].value_in_unit(u.nanometer) for i in range(3)])  # [3] nm
    for a, b in topology.bonds():
        d = positions[a.index] - positions[b.index]
        d -= box * np.round(d / box)
        if np.linalg.norm(d) > max_oh_nm:
            return False
    return True


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
    sim.minimizeEnergy(maxIterations=20)
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


def run(potential, topology, positions, out: Path, args, field_v_per_nm: float, tag: str):
    """NVT run; returns the PQEq report path and ns/day."""
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
        sim.minimizeEnergy(maxIterations=args.min_iterations)
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


def summarise(topology, out: Path, reports: dict, field: float):
    """Print induced polarisation and charge shift; save the RDF and charge plots."""
    import matplotlib.pyplot as plt

    from openmm_polarml.analysis import compute_rdfs, load_trajectory
    from openmm_polarml.analysis.pqeq_report import load_pqeq_report

    off, on = (load_pqeq_report(reports[k]) for k in ("nofield", "field"))
    symbols = np.array([a.element.symbol for a in topology.atoms()])
    p_off = np.nanmean(off.polarization_si, axis=0)
    p_on = np.nanmean(on.polarization_si, axis=0)
    print(
        f"\ninduced polarisation along z at {field} V/nm: {p_on[2] - p_off[2]:+.4e} C/m^2 (field off {p_off[2]:+.3e}, on {p_on[2]:+.3e})"
    )
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for symbol in sorted(set(symbols)):
        mask = symbols == symbol
        q_off, q_on = off.charges[:, mask].mean(), on.charges[:, mask].mean()
        print(
            f"  <q({symbol})>: {q_off:+.4f} e without field, {q_on:+.4f} e with field (shift {q_on - q_off:+.2e} e)"
        )
        ax[1].hist(off.charges[:, mask].ravel(), bins=40, alpha=0.6, label=f"{symbol} (no field)")
        ax[1].hist(
            on.charges[:, mask].ravel(),
            bins=40,
            alpha=0.6,
            histtype="step",
            label=f"{symbol} ({field} V/nm)",
        )
    ax[1].set_xlabel("PQEq charge (e)")
    ax[1].legend(fontsize=7)
    traj = load_trajectory(out / "trajectory_nofield.dcd", out / "topology.pdb")
    rdfs = {k: v for k, v in compute_rdfs(traj).items() if "H" not in k.split("-")}
    # with a few ions in a water box, ion-ion RDFs are single pairs (noise): show water's
    with_water = {k: v for k, v in rdfs.items() if "O" in k.split("-")}
    for name, (r, g) in (with_water or rdfs).items():
        ax[0].plot(r, g, label=name)
    ax[0].set_xlabel("r (nm)")
    ax[0].set_ylabel("g(r)")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "quickstart.png", dpi=120)
    print(f"plots: {out / 'quickstart.png'} (RDFs, charge distributions)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/quickstart")
    p.add_argument("--model", default="foundation", help="shipped model name or model file")
    p.add_argument("--head", default=None, help="readout head (default: the model's own)")
    p.add_argument("--box", type=float, default=1.9, help="water box edge (nm); 1.9 -> ~690 atoms")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--probe-steps", type=int, default=10)
    p.add_argument("--min-iterations", type=int, default=100)
    p.add_argument("--report-every", type=int, default=20)
    p.add_argument("--dt-fs", type=float, default=1.0)
    p.add_argument(
        "--hydrogen-mass",
        type=float,
        default=2.0,
        help="hydrogen mass (amu), repartitioned from the bonded heavy atom; 0 keeps 1.008",
    )
    p.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "float64"),
        help="network precision (PQEq and D3 are always double)",
    )
    p.add_argument("--temperature", type=float, default=300.0)
    p.add_argument("--friction", type=float, default=10.0)
    p.add_argument(
        "--field", type=float, default=1.0, help="field of the second run (V/nm, along z)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-electrolyte", action="store_true", help="go straight to the crystal")
    return p.parse_args(argv)


def main(argv=None) -> int:
    import torch

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from openmm_polarml.openmm import PolarMLPotential

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    potential = PolarMLPotential(args.model, head=args.head, dtype=args.dtype)
    system = None if args.skip_electrolyte else probe_electrolyte(potential, args)
    topology, positions = system if system is not None else crystal()
    print(f"system: {topology.getNumAtoms()} atoms, {topology.getNumResidues()} residues")
    reports, speed = {}, {}
    reports["nofield"], speed["nofield"], end = run(
        potential, topology, positions, out, args, 0.0, "nofield"
    )
    reports["field"], speed["field"], _ = run(
        potential, topology, end, out, args, args.field, "field"
    )
    summarise(topology, out, reports, args.field)
    print(f"speed: {speed['nofield']:.3f} ns/day (CPU, {args.threads} threads); outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
