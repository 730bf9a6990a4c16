"""Run the shipped model in OpenMM: exported network + D3 (TorchForce) + native PQEqForce.

    python examples/export_openmm.py [--steps 20] [--out model_nacl.pt] [--no-pqeq]

The artifact takes positions and box in nm and returns kJ/mol (TorchForce). The PQEq term is
not inside it: its element parameters are in the artifact's metadata, from which
``attach_pqeq_force`` builds the native PQEq force.
"""

from __future__ import annotations

import argparse

import numpy as np
import openmm
from ase.build import bulk

from openmm_polarml import units
from openmm_polarml.export import export_model, load_exported
from openmm_polarml.model.serialization import load_pretrained
from openmm_polarml.openmm import attach_pqeq_force, attach_torch_force


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default="model_nacl.pt")
    parser.add_argument("--platform", default="Reference")
    parser.add_argument("--no-pqeq", action="store_true", help="network + D3 only")
    args = parser.parse_args()

    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(3)
    atoms.rattle(0.02, seed=1)
    meta = export_model(load_pretrained(), atoms, args.out, outputs_forces=False)
    print(f"exported {args.out}: parity {meta['parity']}")
    _, stored = load_exported(args.out)
    print("PQEq parameters for the native force:", stored["pqeq"]["elements"]["11"])

    system = openmm.System()
    for mass in atoms.get_masses():
        system.addParticle(float(mass))
    a, b, c = (openmm.Vec3(*(v * units.ANGSTROM_TO_NM)) for v in atoms.cell.array)
    system.setDefaultPeriodicBoxVectors(a, b, c)
    attach_torch_force(system, args.out)
    if not args.no_pqeq:
        attach_pqeq_force(system, args.out)
    integrator = openmm.LangevinMiddleIntegrator(300, 1.0, 0.0005)
    ctx = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(args.platform))
    ctx.setPositions(atoms.positions * units.ANGSTROM_TO_NM)
    ctx.setVelocitiesToTemperature(300, 1)
    for step in range(0, args.steps, 5):
        integrator.step(5)
        state = ctx.getState(getEnergy=True)
        e = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
        print(f"step {step + 5:4d}  E_pot {e:12.3f} kJ/mol")
    pos = (
        ctx.getState(getPositions=True)
        .getPositions(asNumpy=True)
        .value_in_unit(openmm.unit.nanometer)
    )
    print("max displacement (nm):", float(np.abs(pos - atoms.positions / 10).max()))


if __name__ == "__main__":
    main()
