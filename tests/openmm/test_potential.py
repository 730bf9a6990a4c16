"""PolarMLPotential.createSystem: OpenMM (Reference, CPU) ≡ ASE calculator ≡ eager model."""

from __future__ import annotations

import numpy as np
import openmm
import pytest
import torch
from ase import Atoms

from openmm_polarml import units
from openmm_polarml.calculators import PolarMLCalculator
from openmm_polarml.openmm import FORCE_GROUPS, PolarMLPotential, set_external_field
from openmm_polarml.openmm.topology import topologyFromAtoms
from tests.model.helpers import D3, crystal, tiny_model

KJ, NM = units.EV_TO_KJ_PER_MOL, units.ANGSTROM_TO_NM


@pytest.fixture(scope="module")
def model():
    """A periodic (Ewald) model; non-periodic Systems use its parameters with NoCutoff."""
    return tiny_model("float64", d3=D3, pqeq={"long_range": "ewald", "tolerance": 1e-9})


@pytest.fixture(scope="module")
def cluster_model(model):
    """The same weights with the engine's cluster setting (what the calculator needs)."""
    other = tiny_model("float64", d3=D3, pqeq={"long_range": "direct", "tolerance": 1e-9})
    other.load_state_dict(model.state_dict())
    return other


@pytest.fixture()
def potential(model, tmp_path):
    return PolarMLPotential(model, cacheDir=tmp_path)


def pqeq_force(system):
    """The System's PQEqForce (as a PQEqForce, whatever getForces returns)."""
    from openmm_polarml.openmm import PQEqForce

    (force,) = [f for f in system.getForces() if f.getForceGroup() == FORCE_GROUPS["pqeq"]]
    return force if isinstance(force, PQEqForce) else PQEqForce.cast(force)


def water_ion_cluster() -> Atoms:
    """Two waters and a Na+ (non-periodic, Å)."""
    water = np.array([[0.0, 0.0, 0.0], [0.9572, 0.0, 0.0], [-0.2399, 0.9266, 0.0]])
    positions = np.concatenate([water, water + [3.1, 0.2, 0.1], [[1.2, 3.0, 0.4]]])
    return Atoms("OH2OH2Na", positions=positions)


def context_for(system, atoms, platform="Reference"):
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(1e-4), openmm.Platform.getPlatformByName(platform)
    )
    ctx.setPositions(atoms.positions * NM)
    return ctx


def energy_forces(ctx, groups=-1):
    state = ctx.getState(getEnergy=True, getForces=True, groups=groups)
    e = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    f = state.getForces(asNumpy=True).value_in_unit(
        openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
    )
    return e, np.asarray(f)


def calculator_energy_forces(model, atoms, field_v_per_angstrom=None):
    atoms = atoms.copy()
    atoms.calc = PolarMLCalculator(model, external_field=field_v_per_angstrom, warm_start=False)
    return atoms.get_potential_energy() * KJ, atoms.get_forces() * KJ / NM


def _reduced(atoms):
    rcell, rot = atoms.cell.standard_form()
    out = atoms.copy()
    out.positions = atoms.positions @ rot.T
    out.cell = rcell
    return out


CASES = {
    "periodic": lambda: _reduced(crystal(3)),
    "cluster": water_ion_cluster,
}


@pytest.mark.parametrize("platform", ["Reference", "CPU"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("field", [None, (0.0, 0.05, -0.1)])
def test_system_matches_calculator(model, cluster_model, potential, case, platform, field):
    """Total energy and forces of createSystem equal the ASE calculator (one fragment)."""
    atoms = CASES[case]()
    charge = 1.0 if case == "cluster" else 0.0
    atoms.info["charge"] = charge
    field_nm = None if field is None else [f * 10.0 for f in field]  # V/Å -> V/nm
    system = potential.createSystem(
        topologyFromAtoms(atoms),
        totalCharge=charge,
        fragments="none",
        externalField=field_nm or (0, 0, 0),
        solverTolerance=1e-9,
        ewaldErrorTolerance=1e-8,
    )
    assert system.usesPeriodicBoundaryConditions() == (case == "periodic")
    e, f = energy_forces(context_for(system, atoms, platform))
    e_ref, f_ref = calculator_energy_forces(
        model if case == "periodic" else cluster_model, atoms, field
    )
    assert abs(e - e_ref) < 1e-6 * max(1.0, abs(e_ref))
    np.testing.assert_allclose(f, f_ref, atol=1e-5 * max(1.0, np.abs(f_ref).max()))


def test_fragments_match_engine(cluster_model, potential):
    """Per-molecule fragments (Na+ +1 by template): PQEq group ≡ the engine with fragments."""
    atoms = water_ion_cluster()
    topology = topologyFromAtoms(atoms)
    system = potential.createSystem(
        topology, totalCharge=1.0, fragments="molecules", solverTolerance=1e-10
    )
    pq = pqeq_force(system)
    assert pq.getNumFragments() == 3
    ctx = context_for(system, atoms)
    e, f = energy_forces(ctx, groups={FORCE_GROUPS["pqeq"]})
    pos = torch.tensor(atoms.positions, requires_grad=True)
    out = cluster_model.pqeq(
        pos,
        torch.tensor(atoms.numbers),
        fragments=[[0, 1, 2], [3, 4, 5], [6]],
        fragment_charges=[0.0, 0.0, 1.0],
    )
    assert abs(e - float(out["energy"].detach()) * KJ) < 1e-7 * abs(e)
    np.testing.assert_allclose(f, out["forces"].detach().numpy() * KJ / NM, atol=1e-5)
    charges = np.asarray(pq.getCharges(ctx))
    np.testing.assert_allclose(charges[6], 1.0, atol=1e-9)
    np.testing.assert_allclose(charges[:3].sum(), 0.0, atol=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_python_backend_equals_torch_backend(potential, case):
    pytest.importorskip("openmmtorch")
    atoms = CASES[case]()
    kwargs = {"totalCharge": 1.0 if case == "cluster" else 0.0, "fragments": "none"}
    results = []
    for backend in ("torch", "python"):
        system = potential.createSystem(topologyFromAtoms(atoms), backend=backend, **kwargs)
        names = [f.getName() for f in system.getForces()]
        assert ("TorchForce" in names) == (backend == "torch")
        results.append(energy_forces(context_for(system, atoms), groups={FORCE_GROUPS["network"]}))
    (e1, f1), (e2, f2) = results
    assert abs(e1 - e2) < 1e-9 * max(1.0, abs(e1))
    np.testing.assert_allclose(f1, f2, atol=1e-8)


def test_artifact_cache_reuses_exports(potential, tmp_path):
    """The torch backend exports once per atom list (the cache in ``cacheDir``)."""
    pytest.importorskip("openmmtorch")
    atoms = crystal(0)
    potential.createSystem(topologyFromAtoms(_reduced(atoms)), fragments="none", backend="torch")
    first = sorted(tmp_path.glob("*.pt"))
    potential.createSystem(
        topologyFromAtoms(_reduced(crystal(5))), fragments="none", backend="torch"
    )
    assert sorted(tmp_path.glob("*.pt")) == first  # same atom list, same artifact
    assert not list(tmp_path.glob("*.tmp"))
    potential.createSystem(topologyFromAtoms(water_ion_cluster()), totalCharge=1, backend="torch")
    assert len(list(tmp_path.glob("*.pt"))) == len(first) + 1


def test_field_parameter_and_dipole(potential):
    """externalField is the Context default; dE/dF = −μ through the Context (kJ/mol/nm/e, e·nm)."""
    atoms = water_ion_cluster()
    system = potential.createSystem(
        topologyFromAtoms(atoms), totalCharge=1, externalField=(0.1, 0, 0), solverTolerance=1e-11
    )
    ctx = context_for(system, atoms)
    assert ctx.getParameter("PQEqFieldX") == pytest.approx(0.1 * units.V_PER_NM_TO_KJ_PER_MOL_NM_E)
    dipole = np.asarray(pqeq_force(system).getDipole(ctx))  # e·nm
    h = 1.0  # kJ/mol/nm/e
    grad = []
    for name in ("PQEqFieldX", "PQEqFieldY", "PQEqFieldZ"):
        base = ctx.getParameter(name)
        values = []
        for s in (-1, 1):
            ctx.setParameter(name, base + s * h)
            values.append(energy_forces(ctx)[0])
        ctx.setParameter(name, base)
        grad.append((values[1] - values[0]) / (2 * h))
    np.testing.assert_allclose(grad, -dipole, rtol=1e-6, atol=1e-9)
    set_external_field(ctx, (0, 0, 0))
    assert ctx.getParameter("PQEqFieldX") == 0.0


def test_bad_input_is_reported(model, tmp_path):
    potential = PolarMLPotential(model, cacheDir=tmp_path)
    potential.elements.discard(18)
    argon = Atoms("Ar2", positions=[[0, 0, 0], [3, 0, 0]])
    with pytest.raises(ValueError, match="element.*Ar"):
        potential.createSystem(topologyFromAtoms(argon))
    cluster = topologyFromAtoms(water_ion_cluster())
    with pytest.raises(ValueError, match=r"sum to \+1 e but totalCharge is \+0 e.*NA"):
        potential.createSystem(cluster, fragments="molecules")
    with pytest.raises(ValueError, match="fragmentCharges has 1 entries for 3 fragments"):
        potential.createSystem(cluster, fragments="molecules", fragmentCharges=[1.0])
    charged = _reduced(crystal(0))
    del charged[0]
    with pytest.raises(ValueError, match="net charge"):
        potential.createSystem(topologyFromAtoms(charged), totalCharge=-1, fragments="none")
    with pytest.raises(ValueError, match="exceeds half the smallest box width"):
        potential.createSystem(
            topologyFromAtoms(_reduced(crystal(0))), fragments="none", cutoff=0.6
        )
    with pytest.raises(ValueError, match="lower-triangular"):
        topologyFromAtoms(crystal(0))
    with pytest.raises(ValueError, match="backend"):
        potential.createSystem(cluster, totalCharge=1, backend="jax")


def test_shipped_model_knows_its_elements():
    potential = PolarMLPotential()
    assert {1, 8, 11, 17} <= potential.elements
    with pytest.raises(ValueError, match="He"):
        potential.checkElements([2, 8])


def test_each_head_of_the_foundation_model_knows_its_own_elements():
    gfn2 = PolarMLPotential("foundation", head="gfn2")
    pbe = PolarMLPotential("foundation", head="pbe")
    assert {1, 6, 7, 8, 11, 17} <= gfn2.elements < pbe.elements
    with pytest.raises(ValueError, match="Ti.*head='pbe'"):
        gfn2.checkElements([22, 8])
    pbe.checkElements([22, 8, 56])


def test_split_charge_model_refuses_a_box_narrower_than_twice_the_bond_cutoff():
    from openmm_polarml.openmm.standard_systems import rocksalt_crystal

    potential = PolarMLPotential("foundation", head="pbe")
    assert potential.model.pqeq.charge_transfer == "split"
    small = topologyFromAtoms(rocksalt_crystal("NaF", repeat=1), bondScale=0)  # 4.45 Å cell
    with pytest.raises(ValueError, match=r"at least 10 Å wide.*4\.45 Å.*Replicate the cell"):
        potential.createSystem(small)
    large = topologyFromAtoms(rocksalt_crystal("NaF", repeat=3), bondScale=0)  # 13.35 Å
    assert potential.createSystem(large).getNumParticles() == 216


def test_hydrogen_mass_repartitioning_keeps_total_mass_and_energy(potential):
    atoms = water_ion_cluster()
    topology = topologyFromAtoms(atoms)
    plain = potential.createSystem(topology, totalCharge=1)
    heavy = potential.createSystem(topology, totalCharge=1, hydrogenMass=2.0)
    amu = openmm.unit.dalton
    m0 = np.array([plain.getParticleMass(i).value_in_unit(amu) for i in range(len(atoms))])
    m1 = np.array([heavy.getParticleMass(i).value_in_unit(amu) for i in range(len(atoms))])
    hydrogen = atoms.numbers == 1
    assert np.allclose(m1[hydrogen], 2.0)
    assert m1.sum() == pytest.approx(m0.sum(), rel=1e-12)
    oxygen = atoms.numbers == 8
    assert np.allclose(m1[oxygen], m0[oxygen] - 2 * (2.0 - m0[hydrogen][0]))  # two H per O
    assert m1[atoms.numbers == 11] == pytest.approx(m0[atoms.numbers == 11])  # no bonds
    e0, _ = energy_forces(context_for(plain, atoms))
    e1, _ = energy_forces(context_for(heavy, atoms))
    assert e1 == pytest.approx(e0, rel=1e-12)
    with pytest.raises(ValueError, match="smaller hydrogen mass"):
        potential.createSystem(topology, totalCharge=1, hydrogenMass=10.0)  # O: 16 - 2 x 9 < 0


def test_periodic_default_lattice_sum_is_pme_and_ewald_on_request(potential):
    """A model trained with explicit-k Ewald runs with PME by default; 'ewald' is honoured."""
    from openmm_polarml.openmm import PQEqForce

    topology = topologyFromAtoms(_reduced(crystal(3)))
    default = potential.createSystem(topology, fragments="none")  # kept: owns its forces
    explicit = potential.createSystem(topology, fragments="none", pqeqMethod="ewald")
    assert pqeq_force(default).getNonbondedMethod() == PQEqForce.PME
    assert pqeq_force(explicit).getNonbondedMethod() == PQEqForce.Ewald


def test_default_fragments_are_the_model_charge_model(model, tmp_path):
    """createSystem solves the charge model the model was trained with unless told otherwise."""
    atoms = water_ion_cluster()
    topology = topologyFromAtoms(atoms)
    one = PolarMLPotential(model, cacheDir=tmp_path)
    assert one.chargeModel() == "none"
    single = pqeq_force(one.createSystem(topology, totalCharge=1.0))
    assert single.getNumFragments() == 0 and single.getTotalCharge() == 1.0  # one constraint
    per_molecule = tiny_model("float64", d3=D3, pqeq={"long_range": "ewald"})
    per_molecule.config["fragments"] = "molecules"
    mol = PolarMLPotential(per_molecule, cacheDir=tmp_path / "m")
    assert mol.chargeModel() == "molecules"
    assert pqeq_force(mol.createSystem(topology, totalCharge=1.0)).getNumFragments() == 3


def test_bondless_topology_gets_the_training_molecules_or_a_clear_error(potential):
    from openmm_polarml.pqeq.charge_groups import charge_groups_of_atoms

    atoms = water_ion_cluster()
    atoms.info["charge"] = 1
    bare = topologyFromAtoms(atoms, bondScale=0)  # no bonds: every atom a residue
    with pytest.raises(ValueError, match="no bonds"):
        potential.createSystem(bare, totalCharge=1.0, fragments="molecules")
    system = potential.createSystem(
        bare, totalCharge=1.0, fragments="molecules", positions=atoms.positions * NM
    )
    pq = pqeq_force(system)
    expected = charge_groups_of_atoms(atoms)
    assert pq.getNumFragments() == len(expected.groups) == 3
    got = sorted((list(pq.getFragmentParameters(k)[0]), pq.getFragmentParameters(k)[1])
                 for k in range(pq.getNumFragments()))  # fmt: skip
    assert got == sorted(zip(expected.groups, expected.charges, strict=True))


def test_salt_without_bonds_needs_no_positions(potential):
    from tests.openmm.omm_helpers import nacl_rocksalt

    symbols, positions, box = nacl_rocksalt()
    atoms = Atoms(
        symbols, positions=np.asarray(positions) / NM, cell=np.eye(3) * box / NM, pbc=True
    )
    system = potential.createSystem(topologyFromAtoms(atoms, bondScale=0), fragments="molecules")
    pq = pqeq_force(system)
    charges = sorted(pq.getFragmentParameters(k)[1] for k in range(pq.getNumFragments()))
    assert charges == [-1.0] * 4 + [1.0] * 4


def test_topology_from_atoms_and_residue_templates_give_the_training_fragments():
    from openmm_polarml.openmm.fragments import fragment_groups
    from openmm_polarml.openmm.residue_charges import fragment_charge
    from openmm_polarml.pqeq.charge_groups import charge_groups_of_atoms

    hydroxide = Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.97]])
    perchlorate = Atoms(
        "ClO4", positions=[[0, 0, 0], [0.84, 0.84, 0.84], [0.84, -0.84, -0.84],
                           [-0.84, 0.84, -0.84], [-0.84, -0.84, 0.84]],
    )  # fmt: skip
    perchlorate.positions += [6.0, 0, 0]
    sodium = Atoms("Na2", positions=[[0, 6.0, 0], [6.0, 6.0, 0]])
    atoms = hydroxide + perchlorate + sodium
    topology = topologyFromAtoms(atoms)
    every = list(topology.atoms())
    groups = fragment_groups(topology, "molecules")
    charges = [fragment_charge([every[i] for i in g]) for g in groups]
    ours = charge_groups_of_atoms(atoms)
    assert groups == ours.groups
    assert charges == ours.charges == [-1.0, -1.0, 1.0, 1.0]
