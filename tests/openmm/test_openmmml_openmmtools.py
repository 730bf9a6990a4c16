"""openmm-ml registration (``MLPotential('polarml')``) and openmmtools on a PolarML System."""

from __future__ import annotations

import numpy as np
import openmm
import pytest

from openmm_polarml.model.serialization import save_model
from openmm_polarml.openmm import PolarMLPotential
from tests.model.helpers import tiny_model
from tests.openmm.test_mixed import build, context, energy, mm_system

PQEQ = {"long_range": "direct", "tolerance": 1e-10}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model(tiny_model("float64", pqeq=PQEQ), path)
    return path


def test_mlpotential_polarml_equals_polarml_potential(model_file, tmp_path):
    openmmml = pytest.importorskip("openmmml")
    top, pos = build([("HOH", 0.0), ("NA", [0.45, 0.1, 0.0]), ("HOH", [-0.3, 0.2, 0.1])])
    kwargs = {"totalCharge": 1.0, "solverTolerance": 1e-10}
    ours = PolarMLPotential(model_file, cacheDir=tmp_path).createSystem(top, **kwargs)
    theirs = openmmml.MLPotential("polarml", modelPath=model_file, cacheDir=tmp_path)
    system = theirs.createSystem(top, **kwargs)
    assert abs(energy(context(system, pos)) - energy(context(ours, pos))) < 1e-9


def test_openmmml_mixed_system_is_mechanical_embedding(model_file, tmp_path):
    openmmml = pytest.importorskip("openmmml")
    top, pos = build([("HOH", 0.0), ("NA", [0.45, 0.1, 0.0]), ("CL", [-0.4, 0.3, 0.2])])
    mm = mm_system(top)
    theirs = openmmml.MLPotential("polarml", modelPath=model_file, cacheDir=tmp_path)
    mixed = theirs.createMixedSystem(top, mm, [0, 1, 2])
    ours = PolarMLPotential(model_file, cacheDir=tmp_path).createMixedSystem(
        top, mm, [0, 1, 2], embedding="mechanical"
    )
    assert abs(energy(context(mixed, pos)) - energy(context(ours, pos))) < 1e-8


def test_openmmml_electrostatic_embedding_is_ours(model_file, tmp_path):
    """openmm-ml >= 1.8 asks the potential for its own embeddings: ``'electrostatic'`` is the
    polarizable embedding of :meth:`PolarMLPotential.createMixedSystem`."""
    openmmml = pytest.importorskip("openmmml")
    theirs = openmmml.MLPotential("polarml", modelPath=model_file, cacheDir=tmp_path)
    if not hasattr(openmmml.mlpotential.MLPotentialImpl, "getSupportedEmbeddings"):
        pytest.skip("openmm-ml < 1.8 has no potential-specific embeddings")
    assert "electrostatic" in theirs.getSupportedEmbeddings()
    assert theirs._impl.getMLLongRange() is True  # PQEq sums periodic images
    top, pos = build([("HOH", 0.0), ("NA", [0.45, 0.1, 0.0]), ("CL", [-0.4, 0.3, 0.2])])
    mm = mm_system(top)
    mixed = theirs.createMixedSystem(top, mm, [0, 1, 2], embedding="electrostatic", forceGroup=4)
    ours = PolarMLPotential(model_file, cacheDir=tmp_path).createMixedSystem(top, mm, [0, 1, 2])
    assert abs(energy(context(mixed, pos)) - energy(context(ours, pos))) < 1e-8
    assert any(f.getForceGroup() == 4 for f in mixed.getForces())
    names = [type(f).__name__ for f in mixed.getForces()]
    assert "PythonForce" in names and "TorchForce" not in names  # the default backend
    with pytest.raises(ValueError, match="interpolate"):
        theirs.createMixedSystem(top, mm, [0, 1, 2], embedding="electrostatic", interpolate=True)


@pytest.mark.parametrize("backend", ["python", "torch"])
def test_openmmtools_thermodynamic_state_and_replica_exchange(model_file, tmp_path, backend):
    pytest.importorskip("openmmtools")
    from openmmtools import cache, mcmc, multistate, states

    if backend == "torch":
        pytest.importorskip("openmmtorch")
        from openmm_polarml.openmm.torch_force import torch_force_xml_blocker

        if torch_force_xml_blocker() is not None:
            pytest.skip(f"upstream crash: {torch_force_xml_blocker()}")
    unit = openmm.unit
    top, pos = build([("HOH", 0.0), ("HOH", [0.3, 0.0, 0.05])])
    system = PolarMLPotential(model_file, cacheDir=tmp_path).createSystem(top, backend=backend)
    thermo = [states.ThermodynamicState(system, T * unit.kelvin) for T in (300.0, 330.0)]
    assert thermo[1].temperature == 330.0 * unit.kelvin
    context_cache = cache.ContextCache(platform=openmm.Platform.getPlatformByName("Reference"))
    ctx, _ = context_cache.get_context(thermo[0])
    ctx.setPositions(pos)
    e_state = (
        ctx.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    )
    assert abs(e_state - energy(context(system, pos))) < 1e-6  # the System survived the copy
    sampler_states = [states.SamplerState(pos * unit.nanometer) for _ in thermo]
    move = mcmc.LangevinDynamicsMove(timestep=0.25 * unit.femtosecond, n_steps=5)
    sampler = multistate.ReplicaExchangeSampler(mcmc_moves=move, number_of_iterations=2)
    sampler.energy_context_cache = cache.ContextCache(
        platform=openmm.Platform.getPlatformByName("Reference")
    )
    sampler.sampler_context_cache = context_cache
    reporter = multistate.MultiStateReporter(str(tmp_path / "rex.nc"), checkpoint_interval=1)
    sampler.create(thermo, sampler_states, reporter)
    sampler.run()
    energies, _, _ = reporter.read_energies()
    assert energies.shape[0] == 3 and np.isfinite(energies).all()
    reporter.close()


def test_openmmml_periodic_mechanical_embedding_removes_mm_ml_lattice_sum(tmp_path):
    """The model is long-ranged (PQEq sums images): openmm-ml >= 1.8's mechanical embedding
    subtracts the MM charges' ML–ML PME energy (a ``CustomCVForce``) in a periodic System."""
    openmmml = pytest.importorskip("openmmml")
    if not hasattr(openmmml.mlpotential.MLPotentialImpl, "getMLLongRange"):
        pytest.skip("openmm-ml < 1.8 does not ask the potential")
    path = tmp_path / "tiny_ewald.pt"
    save_model(tiny_model("float64", pqeq={"long_range": "ewald", "tolerance": 1e-10}), path)
    molecules = [("HOH", [0.2, 0.2, 0.2]), ("NA", [0.65, 0.3, 0.2]), ("CL", [0.3, 0.75, 0.5])]
    top, pos = build(molecules + [("HOH", [0.7, 0.8, 0.9])], box=1.3)
    theirs = openmmml.MLPotential("polarml", modelPath=path, cacheDir=tmp_path)
    mixed = theirs.createMixedSystem(top, mm_system(top, periodic=True), [0, 1, 2])
    names = [type(f).__name__ for f in mixed.getForces()]
    assert {"CustomCVForce", "PythonForce", "PQEqForce"} <= set(names)
    assert np.isfinite(energy(context(mixed, pos)))
