"""Export: eager ≡ TorchScript artifact ≡ OpenMM (Reference platform) energies and forces."""

import numpy as np
import pytest
import torch

from openmm_polarml import units
from openmm_polarml.export import export_model, load_exported
from openmm_polarml.openmm import attach_torch_force
from tests.model.helpers import D3, batch_of, crystal, molecule, tiny_model


def _openmm_energy_forces(atoms, artifact, platform="Reference"):
    import openmm

    system = openmm.System()
    for m in atoms.get_masses():
        system.addParticle(float(m))
    if atoms.pbc.all():
        a, b, c = (openmm.Vec3(*(v * units.ANGSTROM_TO_NM)) for v in atoms.cell.array)
        system.setDefaultPeriodicBoxVectors(a, b, c)
    attach_torch_force(system, artifact)
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName(platform)
    )
    ctx.setPositions(atoms.positions * units.ANGSTROM_TO_NM)
    st = ctx.getState(getEnergy=True, getForces=True)
    e = st.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    f = np.array(
        st.getForces(asNumpy=True).value_in_unit(
            openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
        )
    )
    return e, f


def _triclinic_lower(atoms):
    """Rotate a cell into OpenMM's reduced (lower-triangular) form."""
    rcell, rot = atoms.cell.standard_form()
    out = atoms.copy()
    out.positions = atoms.positions @ rot.T
    out.cell = rcell
    return out


@pytest.mark.parametrize("periodic,outputs_forces", [(True, False), (False, True)])
def test_eager_script_openmm_agree(tmp_path, periodic, outputs_forces):
    pytest.importorskip("openmmtorch")
    model = tiny_model("float64", d3=D3 if periodic else None)
    atoms = _triclinic_lower(crystal(11)) if periodic else molecule(12, n=5)
    path = tmp_path / "model.pt"
    meta = export_model(model, atoms, path, outputs_forces=outputs_forces)
    assert meta["parity"]["energy_kj_per_mol"] < 1e-8
    _, stored = load_exported(path)
    assert stored["elements"] == sorted(set(atoms.numbers.tolist()))
    assert stored["cutoff_angstrom"] == model.r_max and stored["dtype"] == "float64"
    assert stored["units"]["energy"] == "kJ/mol" and "torch" in stored["versions"]

    out = model(batch_of(atoms), compute_forces=True)
    e_eager = float(out["energy"][0]) * units.EV_TO_KJ_PER_MOL
    f_eager = out["forces"].detach().numpy() * units.EV_TO_KJ_PER_MOL / units.ANGSTROM_TO_NM
    for platform in ("Reference", "CPU"):
        e_mm, f_mm = _openmm_energy_forces(atoms, path, platform)
        assert abs(e_mm - e_eager) < 1e-8 * max(1.0, abs(e_eager)), platform
        assert np.abs(f_mm - f_eager).max() < 1e-7 * max(1.0, np.abs(f_eager).max()), platform
    assert np.abs(f_eager).max() > 1.0


def test_metadata_carries_pqeq_parameters(tmp_path):
    pytest.importorskip("openmm_polarml.pqeq")
    model = tiny_model("float64", pqeq={"long_range": "ewald"})
    atoms = crystal(13)
    meta = export_model(model, atoms, tmp_path / "m.pt")
    table = model.pqeq.element_parameters.per_atom(torch.tensor([11]))
    assert meta["pqeq"]["settings"]["long_range"] == "ewald"
    assert meta["pqeq"]["elements"]["11"]["chi"] == pytest.approx(float(table["chi"][0]))
    assert set(meta["pqeq"]["elements"]) == {"11", "17"}


@pytest.mark.parametrize("method", ["direct", "ewald"])
def test_full_model_in_openmm_with_the_native_pqeq_force(tmp_path, method):
    """TorchForce (network + D3) + native PQEqForce with the model's parameters = eager model."""
    import openmm

    pytest.importorskip("openmmtorch")
    pytest.importorskip("openmm_polarml.openmm")
    from openmm_polarml.openmm import attach_pqeq_force

    periodic = method == "ewald"
    model = tiny_model("float64", d3=D3 if periodic else None, pqeq={"long_range": method})
    atoms = _triclinic_lower(crystal(17, rattle=0.1)) if periodic else molecule(18, n=5)
    path = tmp_path / "full.pt"
    export_model(model, atoms, path)
    out = model(batch_of(atoms), compute_forces=True)
    e_eager = float(out["energy"][0].detach()) * units.EV_TO_KJ_PER_MOL
    f_eager = out["forces"].detach().numpy() * units.EV_TO_KJ_PER_MOL / units.ANGSTROM_TO_NM

    system = openmm.System()
    for m in atoms.get_masses():
        system.addParticle(float(m))
    if periodic:
        system.setDefaultPeriodicBoxVectors(
            *(openmm.Vec3(*(v * units.ANGSTROM_TO_NM)) for v in atoms.cell.array)
        )
    attach_torch_force(system, path)
    attach_pqeq_force(system, path, ewald_error_tolerance=1e-8, solver_tolerance=1e-10)
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    ctx.setPositions(atoms.positions * units.ANGSTROM_TO_NM)
    st = ctx.getState(getEnergy=True, getForces=True)
    e_mm = st.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    f_mm = np.array(
        st.getForces(asNumpy=True).value_in_unit(
            openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
        )
    )
    assert abs(float(out["energy_pqeq"][0].detach())) > 1e-3
    assert abs(e_mm - e_eager) < 1e-5 * max(1.0, abs(e_eager))
    assert np.abs(f_mm - f_eager).max() < 1e-4 * max(1.0, np.abs(f_eager).max())


@pytest.mark.parametrize("source", ["model", "artifact"])
def test_native_d3_python_force_replaces_the_artifacts_d3(tmp_path, source):
    """TorchForce (network only) + native D3 PythonForce = TorchForce (network + D3), exactly."""
    import openmm

    pytest.importorskip("openmmtorch")
    from openmm_polarml.model import d3_native
    from openmm_polarml.openmm import attach_d3_force

    if D3 is None or not d3_native.native_available():
        pytest.skip("needs tad-dftd3 and the native D3 kernel")
    model = tiny_model("float64", d3=D3)
    atoms = _triclinic_lower(crystal(19, rattle=0.1))
    with_d3, network_only = tmp_path / "with_d3.pt", tmp_path / "network.pt"
    export_model(model, atoms, with_d3)
    meta = export_model(model, atoms, network_only, include_d3=False)
    assert meta["d3_in_artifact"] is False

    def energy_forces(artifact, native_d3):
        system = openmm.System()
        for m in atoms.get_masses():
            system.addParticle(float(m))
        system.setDefaultPeriodicBoxVectors(
            *(openmm.Vec3(*(v * units.ANGSTROM_TO_NM)) for v in atoms.cell.array)
        )
        attach_torch_force(system, artifact)
        if native_d3:
            attach_d3_force(system, model if source == "model" else artifact, atoms.numbers)
        ctx = openmm.Context(
            system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
        )
        ctx.setPositions(atoms.positions * units.ANGSTROM_TO_NM)
        st = ctx.getState(getEnergy=True, getForces=True)
        kj, nm = openmm.unit.kilojoule_per_mole, openmm.unit.nanometer
        return st.getPotentialEnergy().value_in_unit(kj), st.getForces(asNumpy=True).value_in_unit(
            kj / nm
        )

    e_ref, f_ref = energy_forces(with_d3, False)
    e_net, _ = energy_forces(network_only, False)
    e_nat, f_nat = energy_forces(network_only, True)
    assert abs(e_ref - e_net) > 1e-2  # D3 really contributes
    assert abs(e_nat - e_ref) < 1e-9 * max(1.0, abs(e_ref))
    assert np.abs(np.asarray(f_nat) - np.asarray(f_ref)).max() < 1e-8 * max(
        1.0, np.abs(np.asarray(f_ref)).max()
    )
