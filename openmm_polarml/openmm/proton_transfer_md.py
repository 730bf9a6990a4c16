"""Well-tempered metadynamics of proton transfer in H₅O₂⁺ with a model in OpenMM.

The collective variable is δ = d(O₁–H*) − d(O₂–H*) (nm in OpenMM, Å in the result); the O–O
distance is restrained harmonically; Langevin 1/ps at 300 K, 0.5 fs. Resumable: the bias files
and an MD checkpoint live in the output folder (:mod:`openmm_polarml.openmm.resumable`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openmm_polarml.analysis.proton_transfer import O1, O2, SHARED, check_complex

__all__ = ["metadynamics"]


def metadynamics(args, out: Path, start) -> dict:
    """Well-tempered metadynamics of δ with the model from ``start`` (ase.Atoms, the model's
    relaxed structure at δ = −0.4 Å); F(δ) in kJ/mol on a grid (resumable).

    ``args`` holds ``model``, ``oo`` (O–O distance, Å), ``ps`` (length, ps) and ``seed``; the
    bias, trajectory and checkpoint go to ``out``. Returns ``delta_A``,
    ``free_energy_kj_mol``, ``simulated_ps`` and ``ns_per_day``, or ``failure`` (why the
    trajectory left the proton-transfer complex) and ``simulated_ps``."""
    import openmm
    import openmm.app as app
    import openmm.unit as u

    from openmm_polarml.openmm import PolarMLPotential
    from openmm_polarml.openmm.resumable import ResumableRun, load_progress, run_resumable
    from openmm_polarml.openmm.topology import topologyFromAtoms
    from openmm_polarml.units import ANGSTROM_TO_NM

    atoms = start
    topology = topologyFromAtoms(atoms)
    positions = atoms.positions * ANGSTROM_TO_NM
    system = PolarMLPotential(args.model, head="gfn2").createSystem(
        topology, totalCharge=1, positions=positions
    )
    restraint = openmm.CustomBondForce("0.5*k_oo*(r-r_oo)^2")
    restraint.addGlobalParameter("k_oo", 2.0e5)  # kJ/mol/nm²
    restraint.addGlobalParameter("r_oo", args.oo * ANGSTROM_TO_NM)
    restraint.addBond(O1, O2)
    system.addForce(restraint)
    cv = openmm.CustomCompoundBondForce(3, "distance(p1,p3)-distance(p2,p3)")  # nm
    cv.addBond([O1, O2, SHARED])
    bias = app.BiasVariable(cv, -0.1, 0.1, 0.005, gridWidth=201)
    bias_dir = out / "bias"
    bias_dir.mkdir(parents=True, exist_ok=True)
    meta = app.Metadynamics(system, [bias], 300 * u.kelvin, 6.0, 0.4 * u.kilojoule_per_mole,
                            100, saveFrequency=1000, biasDir=str(bias_dir))  # fmt: skip
    integrator = openmm.LangevinMiddleIntegrator(300, 1.0, 0.0005)
    integrator.setRandomNumberSeed(args.seed)
    sim = app.Simulation(topology, system, integrator, openmm.Platform.getPlatformByName("CPU"),
                         {"Threads": "1"})  # fmt: skip
    sim.context.setPositions(positions)
    if load_progress(out / "md")["frames"] == 0:  # a fresh start from the relaxed structure
        sim.context.setVelocitiesToTemperature(300, args.seed)
    steps = int(round(args.ps * 1000 / 0.5))
    run = ResumableRun(sim, out / "md", steps, 1000, "H5O2+ metadynamics",
                       advance=lambda n: meta.step(sim, n))  # fmt: skip
    progress = run_resumable(run)
    failure = check_complex(out / "md", topology, args.oo)
    if failure:
        return {"failure": failure, "simulated_ps": progress["steps"] * 0.5e-3}
    grid = np.linspace(-1.0, 1.0, 201)  # Å
    free = np.asarray(meta.getFreeEnergy().value_in_unit(u.kilojoule_per_mole))
    return {"delta_A": grid.tolist(), "free_energy_kj_mol": (free - free.min()).tolist(),
            "simulated_ps": progress["steps"] * 0.5e-3, "ns_per_day": progress.get("ns_per_day")}  # fmt: skip
