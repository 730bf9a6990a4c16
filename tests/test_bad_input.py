"""Bad input gets a clear error that names the input, the limit and the fix (one module, by
interface: ASE calculators, the PQEq engine, PQEqForce, OpenMM createSystem)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from tests.model.helpers import tiny_model

# ---- ASE calculators --------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["He", "Fe", "Xe"])
def test_full_model_calculator_refuses_elements_its_head_never_saw(symbol):
    from openmm_polarml.calculators import PolarMLCalculator

    atoms = Atoms(symbol + "H", positions=[[0, 0, 0], [0, 0, 1.6]])
    atoms.calc = PolarMLCalculator()  # the shipped model, head gfn2 (19 elements)
    with pytest.raises(ValueError, match=rf"no parameters for element\(s\) {symbol}.*head="):
        atoms.get_potential_energy()


def test_small_demo_refuses_argon_and_names_no_head():
    from openmm_polarml.calculators import PolarMLCalculator

    atoms = Atoms("Ar2", positions=[[0, 0, 0], [0, 0, 3.5]])
    atoms.calc = PolarMLCalculator("small_demo")
    with pytest.raises(ValueError, match=r"element\(s\) Ar .*use a model trained on them"):
        atoms.get_potential_energy()


def test_atomic_numbers_beyond_the_tables_are_named():
    from openmm_polarml.model.elements import check_elements

    model = tiny_model("float64")
    with pytest.raises(ValueError, match=r"atomic number\(s\) \[150\] are not elements"):
        check_elements(model, [1, 150])


def test_fragment_mode_of_the_calculator_is_checked():
    from openmm_polarml.calculators import PolarMLCalculator

    with pytest.raises(ValueError, match="fragments must be 'none' or 'molecules'"):
        PolarMLCalculator(tiny_model("float64"), fragments="residue")


# ---- PQEq engine ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tolerance": 0.0}, "tolerance must be positive and finite"),
        ({"tolerance": -1.0}, "tolerance must be positive and finite"),
        ({"tolerance": float("nan")}, "tolerance must be positive and finite"),
        ({"accuracy": 0.0}, r"accuracy .* must lie in \(0, 1\)"),
        ({"max_iterations": 0}, "max_iterations must be at least 1"),
    ],
)
def test_engine_and_calculator_refuse_unusable_solver_settings(kwargs, message):
    from openmm_polarml.calculators import PQEqCalculator
    from openmm_polarml.pqeq import PQEq

    with pytest.raises(ValueError, match=message):
        PQEq(**kwargs)
    if "tolerance" in kwargs:
        with pytest.raises(ValueError, match=message):
            PQEqCalculator(tolerance=kwargs["tolerance"]).get_potential_energy(
                Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
            )


# ---- PQEqForce --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setter, value, message",
    [
        ("setSolverMaxIterations", -1, "iteration limit must be at least 1"),
        ("setSolverMaxIterations", 0, "iteration limit must be at least 1"),
        ("setSolverTolerance", 0.0, "solver tolerance must be positive and finite"),
        ("setSolverTolerance", -1e-6, "solver tolerance must be positive and finite"),
        ("setEwaldErrorTolerance", 0.0, r"Ewald error tolerance must lie in \(0, 1\)"),
    ],
)
def test_pqeq_force_refuses_settings_that_cannot_converge(setter, value, message):
    pytest.importorskip("openmm")
    import openmm

    from openmm_polarml.openmm import PQEqForce

    force = PQEqForce()
    before = {
        "setSolverMaxIterations": force.getSolverMaxIterations,
        "setSolverTolerance": force.getSolverTolerance,
        "setEwaldErrorTolerance": force.getEwaldErrorTolerance,
    }[setter]()
    with pytest.raises(openmm.OpenMMException, match=message):
        getattr(force, setter)(value)
    after = {
        "setSolverMaxIterations": force.getSolverMaxIterations,
        "setSolverTolerance": force.getSolverTolerance,
        "setEwaldErrorTolerance": force.getEwaldErrorTolerance,
    }[setter]()
    assert after == before  # the force keeps its valid setting


# ---- OpenMM createSystem ----------------------------------------------------------------------


def _water_and_potential(tmp_path):
    """One water (Å) and a PolarMLPotential of a tiny cluster model."""
    pytest.importorskip("openmm")
    from openmm_polarml.openmm import PolarMLPotential

    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    model = tiny_model("float64", pqeq={"long_range": "direct"})
    return water, PolarMLPotential(model, cacheDir=tmp_path)


def test_create_system_refuses_a_bondless_topology_under_molecules(tmp_path):
    from openmm_polarml.openmm.topology import topologyFromAtoms

    water, potential = _water_and_potential(tmp_path)
    with pytest.raises(ValueError, match=r"no bonds.*createStandardBonds.*positions=.*'none'"):
        potential.createSystem(topologyFromAtoms(water, bondScale=0), fragments="molecules")
    system = potential.createSystem(
        topologyFromAtoms(water, bondScale=0),
        fragments="molecules",
        positions=np.asarray(water.positions) * 0.1,
    )
    assert system.getNumParticles() == 3


# ---- PQEqForce: positions -------------------------------------------------------------------


def _pqeq_context(symbols, positions, box=None, exclusions=()):
    from openmm_polarml.openmm import PQEqForce
    from tests.openmm.omm_helpers import make_context, make_force

    force = make_force(symbols, method=PQEqForce.PME if box is not None else None)
    for i, j in exclusions:
        force.addExclusion(i, j)
    return make_context(force, positions, box=box)


def test_pqeq_force_refuses_overlapping_atoms_on_every_side_of_the_box():
    pytest.importorskip("openmm")
    import openmm

    from tests.openmm.omm_helpers import nacl_rocksalt, water_cluster

    symbols, positions = water_cluster(2)
    positions = np.array(positions)
    positions[3] = positions[0] + [0.001, 0.0, 0.0]
    with pytest.raises(openmm.OpenMMException, match=r"particles 0 and 3 are 0.001 nm apart"):
        _pqeq_context(symbols, positions).getState(getEnergy=True)
    symbols, positions, box = nacl_rocksalt(reps=2)
    positions = np.array(positions)
    positions[5] = positions[0] - [0.02, 0.0, 0.0]  # the image across the boundary
    with pytest.raises(openmm.OpenMMException, match=r"particles 0 and 5 .* closer than 0.05 nm"):
        _pqeq_context(symbols, positions, box).getState(getEnergy=True)


def test_pqeq_force_overlap_rule_spares_excluded_and_merely_close_pairs():
    pytest.importorskip("openmm")
    symbols = ["Na", "Cl", "O"]
    positions = np.array([[0.0, 0.0, 0.0], [0.001, 0.0, 0.0], [0.5, 0.0, 0.0]])
    energy = _pqeq_context(symbols, positions, exclusions=[(0, 1)]).getState(getEnergy=True)
    assert np.isfinite(energy.getPotentialEnergy()._value)
    positions[1] = [0.06, 0.0, 0.0]  # above the 0.05 nm limit: computed
    energy = _pqeq_context(symbols, positions).getState(getEnergy=True)
    assert np.isfinite(energy.getPotentialEnergy()._value)


def test_pqeq_force_refuses_nan_positions():
    pytest.importorskip("openmm")
    import openmm

    from tests.openmm.omm_helpers import water_cluster

    symbols, positions = water_cluster(2)
    positions = np.array(positions)
    positions[2, 1] = np.nan
    with pytest.raises(openmm.OpenMMException, match="particle 2 has a non-finite position"):
        _pqeq_context(symbols, positions).getState(getEnergy=True)


# ---- smaller rows: background, unknown keywords, NaN weights, fragment indices, resume --------


def test_calculator_takes_neutralizing_background_and_refuses_unknown_keywords():
    from openmm_polarml.calculators import PolarMLCalculator
    from openmm_polarml.pqeq import NonNeutralCellError
    from tests.model.helpers import crystal

    model = tiny_model("float64", pqeq={"long_range": "ewald"})
    atoms = crystal(3)
    atoms.info["charge"] = 1
    atoms.calc = PolarMLCalculator(model, warm_start=False)
    with pytest.raises(NonNeutralCellError, match="neutralizing_background=True"):
        atoms.get_potential_energy()
    atoms.calc = PolarMLCalculator(model, warm_start=False, neutralizing_background=True)
    assert np.isfinite(atoms.get_potential_energy())
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['neutralising_background'\]"):
        PolarMLCalculator(model, neutralising_background=True)


def test_model_file_with_nan_weights_is_refused(tmp_path):
    import torch

    from openmm_polarml.model.serialization import ModelFormatError, load_model, save_model

    model = tiny_model("float64")
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    save_model(model, tmp_path / "bad.pt")
    with pytest.raises(ModelFormatError, match="NaN or infinity.*best.pt"):
        load_model(tmp_path / "bad.pt")


def test_fragment_index_outside_the_topology_is_named(tmp_path):
    from openmm_polarml.openmm.topology import topologyFromAtoms

    water, potential = _water_and_potential(tmp_path)
    with pytest.raises(ValueError, match=r"particle index\(es\) \[99\].*3 atoms"):
        potential.createSystem(topologyFromAtoms(water), fragments=[[0, 1, 99]])


def test_resuming_into_a_folder_of_another_architecture_says_so(tmp_path):
    from openmm_polarml.training import Trainer
    from tests.training.helpers import emt_frames, tiny_config, write_frames

    path = write_frames(tmp_path / "d.extxyz", emt_frames(4))
    Trainer(tiny_config(path, tmp_path / "out", epochs=1)).fit()
    wider = tiny_config(path, tmp_path / "out", epochs=2)
    wider["model"]["network"]["hidden_irreps"] = "12x0e+4x1o"
    with pytest.raises(ValueError, match="another model architecture.*output_dir"):
        Trainer(wider).fit()


# ---- row 6: fields beyond the limit, the same on every interface --------------------------------


def test_fields_beyond_the_limit_are_refused_by_every_interface(tmp_path):
    from openmm_polarml.calculators import PolarMLCalculator, PQEqCalculator
    from openmm_polarml.pqeq import PQEqError

    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    for calc in (
        PQEqCalculator(external_field=[0.0, 0.0, 50.0]),
        PolarMLCalculator(
            tiny_model("float64", pqeq={"long_range": "direct"}), external_field=[0, 0, 50.0]
        ),
    ):
        with pytest.raises(PQEqError, match=r"50 V/Å exceeds the limit of 5.0 V/Å"):
            calc.get_potential_energy(water.copy())
    pytest.importorskip("openmm")
    import openmm

    from openmm_polarml.openmm import set_external_field
    from openmm_polarml.openmm.fields import FIELD_PARAMETERS
    from tests.openmm.omm_helpers import make_context, make_force

    ctx = make_context(make_force(["O", "H", "H"]), water.positions * 0.1)
    with pytest.raises(ValueError, match="exceeds the limit of 5.0 V/Å"):
        set_external_field(ctx, (0.0, 0.0, 50.0), "V/A")
    ctx.setParameter(FIELD_PARAMETERS[2], 500.0 * 96.4853)  # 50 V/Å set around the helper
    with pytest.raises(openmm.OpenMMException, match="exceeds the limit of 5 V/Angstrom"):
        ctx.getState(getEnergy=True)


def test_atoms_that_lost_their_bonds_are_refused_under_molecules(tmp_path):
    pytest.importorskip("openmm")
    from openmm_polarml.openmm import PolarMLPotential
    from openmm_polarml.openmm.topology import topologyFromAtoms

    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    methanol_without_bonds = Atoms(
        "COH", positions=[[3.0, 0, 0], [4.4, 0, 0], [4.7, 0.9, 0]]
    )  # a ligand whose bonds were dropped
    topology = topologyFromAtoms(water + methanol_without_bonds)
    kept = [b for b in topology.bonds() if b[0].index < 3 and b[1].index < 3]
    topology._bonds = kept  # what a reader without templates leaves: the ligand's bonds gone
    potential = PolarMLPotential(
        tiny_model("float64", pqeq={"long_range": "direct"}), cacheDir=tmp_path
    )
    with pytest.raises(ValueError, match=r"3 atom\(s\) have no bonds.*particle 3 \(C"):
        potential.createSystem(topology, fragments="molecules")
    assert potential.createSystem(topology, fragments="none").getNumParticles() == 6


def test_born_charges_of_a_cell_wide_fragment_are_refused_and_per_ion_ones_computed():
    from ase.build import bulk

    from openmm_polarml.data_io import atoms_to_frame, collate

    model = tiny_model("float64", pqeq={"long_range": "ewald"})
    crystal = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    with pytest.raises(ValueError, match=r"frame 0 is periodic .*\(one fragment\)"):
        model.born_charges(collate([atoms_to_frame(crystal)]))
    born = model.born_charges(collate([atoms_to_frame(crystal, "molecules")]), step=1e-3)
    trace = born.diagonal(dim1=1, dim2=2).mean(dim=1).numpy()  # [N] isotropic part
    sodium = trace[crystal.numbers == 11]
    assert np.ptp(sodium) < 1e-6 and abs(born.sum(0).numpy()).max() < 1e-6  # equal, sum rule


def test_last_solver_iterations_survive_a_charge_query():
    pytest.importorskip("openmm")
    from tests.openmm.omm_helpers import make_context, make_force, water_cluster

    symbols, positions = water_cluster(3)
    force = make_force(symbols)
    context = make_context(force, positions)
    context.getState(getEnergy=True)
    solved = force.getLastSolverIterations(context)
    assert solved > 0
    force.getCharges(context)  # re-solves from the converged state: no new iterations
    assert force.getLastSolverIterations(context) == solved
