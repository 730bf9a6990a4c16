"""The main job's MD builder (openmm_polarml.openmm.exported_md): its OpenMM System
(TorchForce + PQEqForce) equals the eager model."""

import numpy as np
import pytest

from openmm_polarml import units

pytest.importorskip("openmmtorch")
pytest.importorskip("openmm_polarml.openmm")


def test_main_job_system_equals_the_eager_shipped_model(tmp_path):
    import openmm

    from openmm_polarml.data_io import atoms_to_frame, collate
    from openmm_polarml.model.serialization import load_pretrained
    from openmm_polarml.openmm.exported_md import build_system, export_artifact
    from openmm_polarml.openmm.standard_systems import rocksalt_crystal

    model = load_pretrained()
    # split charges (the shipped model) need a box at least twice the 5 Å bond cutoff wide
    repeat = 3 if model.pqeq.charge_transfer == "split" else 1
    atoms = rocksalt_crystal("NaF", repeat=repeat, rattle=0.1, seed=3)  # 216 or 8 atoms
    export_artifact(atoms, tmp_path / "m.pt", model=model)
    system, pqeq = build_system(
        atoms, tmp_path / "m.pt", ewald_error_tolerance=1e-8, solver_tolerance=1e-10
    )
    assert system.getNumParticles() == len(atoms) and system.usesPeriodicBoundaryConditions()
    assert system.getNumForces() == 2

    frame = atoms_to_frame(atoms, model.config["fragments"])  # the charge model MD solves
    out = model(collate([frame]), compute_forces=True)
    e_eager = float(out["energy"][0].detach()) * units.EV_TO_KJ_PER_MOL
    f_eager = out["forces"].detach().numpy() * units.EV_TO_KJ_PER_MOL / units.ANGSTROM_TO_NM

    ctx = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    ctx.setPositions(atoms.positions * units.ANGSTROM_TO_NM)
    st = ctx.getState(getEnergy=True, getForces=True)
    e_mm = st.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    f_mm = st.getForces(asNumpy=True).value_in_unit(
        openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
    )
    assert abs(e_mm - e_eager) < 1e-5 * abs(e_eager)
    assert np.abs(f_mm - f_eager).max() < 1e-4 * np.abs(f_eager).max()
    charges = np.array(pqeq.getCharges(ctx))
    assert charges.sum() == pytest.approx(0.0, abs=1e-8)
    na = atoms.numbers == 11
    assert np.all(charges[na] > 0.5) and np.all(charges[~na] < -0.5)
