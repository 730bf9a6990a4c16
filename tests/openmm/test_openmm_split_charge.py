"""Split charge transfer in the native PQEqForce (Reference and CPU platforms): the same function
as the PyTorch engine's ``charge_transfer="split"`` (parity in float64), integer charges of
separated ions, forces equal to the derivatives of the native energy, XML round trips, the model's
settings copied by ``buildModelPQEqForce``, and clear errors for bad settings."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import openmm as mm
import pytest
import torch
from ase import Atoms
from omm_helpers import energy_forces, make_context, make_force

import openmm_polarml.openmm as po
from openmm_polarml import units
from openmm_polarml.pqeq import PQEq
from tests.physics_checks import central_difference_forces

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pqeq"))
import pqeq_structures as S  # noqa: E402

EV = units.EV_TO_KJ_PER_MOL  # kJ/mol per eV
F64 = torch.float64
METHOD = {"direct": po.PQEqForce.NoCutoff, "ewald": po.PQEqForce.Ewald, "pme": po.PQEqForce.PME}
FIELD = [0.02, -0.01, 0.03]  # V/Å


def water_sodium_cluster() -> tuple[Atoms, list, list]:
    """Four waters and a Na⁺ 1.2 Å off their centre along (1, 1, 1) (Å), with the fragments
    (molecules, the ion) and their charges (e)."""
    atoms = S.water_cluster(4, seed=3)
    atoms += Atoms("Na", positions=[atoms.positions.mean(0) + 1.2])
    fragments = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11], [12]]
    return atoms, fragments, [0.0, 0.0, 0.0, 0.0, 1.0]


def rattled_rocksalt() -> Atoms:
    """2×2×2 conventional cells of NaCl (11.28 Å box ≥ 2 r_c), rattled by 0.1 Å."""
    atoms = S.nacl(2)
    atoms.rattle(0.1, seed=7)
    return atoms


def split_force(engine, atoms, method, fragments=None, charges=None, **kw):
    """A split-charge PQEqForce with the element table of ``make_force`` and the engine's own
    per-atom bond hardness (eV/e² -> kJ/mol/e²) and split cutoff (Å -> nm)."""
    groups = list(zip(fragments, charges, strict=True)) if fragments else None
    force = make_force(atoms.get_chemical_symbols(), method, tol=1e-10, fragments=groups, **kw)
    force.setChargeTransfer(po.PQEqForce.Split)
    force.setSplitCutoff(engine.split_cutoff * units.ANGSTROM_TO_NM)
    kappa = engine.bond_hardness.per_atom(torch.tensor(atoms.numbers))  # [N] eV/e²
    for i, k in enumerate(kappa.tolist()):
        force.setParticleBondHardness(i, k * EV)
    return force


def _cases():
    return [
        ("water-na-direct-fragments-field", "direct", {}),
        ("nacl64-ewald-field", "ewald", {}),
        ("nacl64-pme-field", "pme", {"accuracy": 1e-4}),
    ]


@pytest.mark.parametrize("platform", ["Reference", "CPU"])
@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_parity_with_engine(case, platform):
    """Energy 1e-8 relative, forces 1e-6 kJ/mol/nm, charges and dipole of the engine."""
    torch.set_num_threads(1)
    name, lr, accuracy = case
    if lr == "direct":
        atoms, fragments, charges = water_sodium_cluster()
    else:
        atoms, fragments, charges = rattled_rocksalt(), None, None
    pos, num, cell, pbc = S.tensors(atoms)
    engine = PQEq(charge_transfer="split", long_range=lr, tolerance=1e-10, **accuracy)
    out = engine(
        pos,
        num,
        cell=cell,
        pbc=pbc,
        fragments=fragments,
        fragment_charges=charges,
        external_field=torch.tensor(FIELD, dtype=F64),
    )
    kw = {"ewald_tol": accuracy["accuracy"]} if accuracy else {}
    force = split_force(engine, atoms, METHOD[lr], fragments, charges, **kw)
    box = None if cell is None else cell.numpy() * units.ANGSTROM_TO_NM
    ctx = make_context(force, pos.numpy() * units.ANGSTROM_TO_NM, box, platform=platform)
    po.set_external_field(ctx, FIELD, unit="V/A")
    energy, forces = energy_forces(ctx)
    energy_ref = out["energy"].item() * EV  # kJ/mol
    forces_ref = out["forces"].detach().numpy() * EV / units.ANGSTROM_TO_NM  # kJ/mol/nm
    assert abs(energy - energy_ref) <= 1e-8 * abs(energy_ref)
    assert np.abs(forces - forces_ref).max() <= 1e-6
    q = np.array(force.getCharges(ctx))
    assert np.abs(q - out["charges"].numpy()).max() <= 1e-8
    mu = np.array(force.getDipole(ctx)) / units.ANGSTROM_TO_NM  # e·Å
    assert np.abs(mu - out["dipole"].numpy()).max() <= 1e-8 * max(1.0, np.abs(mu).max())


def ion_pair(distance_nm: float):
    """Na and Cl ``distance_nm`` apart (nm)."""
    return ["Na", "Cl"], np.array([[0.0, 0.0, 0.0], [distance_nm, 0.03, -0.02]])


@pytest.mark.parametrize("distance", [0.501, 0.8, 3.0])
def test_separated_ion_pair_keeps_reference_charges(distance):
    """Beyond the split cutoff (0.5 nm) no charge moves: ±1 e with one fragment per ion, 0 with
    one neutral fragment, exactly."""
    symbols, pos = ion_pair(distance)
    ions = [([0], 1.0), ([1], -1.0)]
    for fragments, expected in ((ions, [1.0, -1.0]), (None, [0.0, 0.0])):
        force = make_force(symbols, po.PQEqForce.NoCutoff, fragments=fragments)
        force.setChargeTransfer(po.PQEqForce.Split)
        ctx = make_context(force, pos)
        assert list(force.getCharges(ctx)) == expected


def test_bonded_pair_transfers_charge_and_conserves_it():
    symbols, pos = ion_pair(0.24)
    force = make_force(symbols, po.PQEqForce.NoCutoff)
    force.setChargeTransfer(po.PQEqForce.Split)
    q = np.array(force.getCharges(make_context(force, pos)))
    assert 0.1 < q[0] < 1.0
    assert abs(q.sum()) < 1e-12


def _native_energy(ctx):
    def energy(positions: torch.Tensor) -> float:
        ctx.setPositions(positions.numpy())
        return ctx.getState(getEnergy=True).getPotentialEnergy()._value

    return energy


@pytest.mark.parametrize("periodic", [False, True], ids=["cluster", "rocksalt-pme"])
def test_forces_are_central_differences_of_the_native_energy(periodic):
    """Forces of the Reference platform against 4-point central differences of its own energy
    (bond taper, field on the bond dipoles, shells)."""
    if periodic:
        atoms, fragments, charges, lr = rattled_rocksalt(), None, None, "pme"
    else:
        (atoms, fragments, charges), lr = water_sodium_cluster(), "direct"
    pos, num, cell, _ = S.tensors(atoms)
    engine = PQEq(charge_transfer="split", long_range=lr)
    force = split_force(engine, atoms, METHOD[lr], fragments, charges)
    force.setSolverTolerance(1e-11)
    box = None if cell is None else cell.numpy() * units.ANGSTROM_TO_NM
    positions = pos * units.ANGSTROM_TO_NM  # nm
    ctx = make_context(force, positions.numpy(), box)
    po.set_external_field(ctx, FIELD, unit="V/A")
    checked = [0, 1, len(atoms) - 1]
    _, forces = energy_forces(ctx)
    reference = central_difference_forces(_native_energy(ctx), positions, checked, step=1e-4)
    scale = np.abs(forces).max()
    assert np.abs(forces[checked] - reference.numpy()).max() <= 1e-7 * scale


def test_warm_start_across_bond_changes_equals_cold_start():
    """Bonds enter and leave along a trajectory (bond list kept or rebuilt, bond variables
    extrapolated): the warm-started Context gives the solution of a fresh Context at every frame."""
    symbols = ["Na", "Cl", "O", "H", "H"]
    pos = np.array(
        [
            [0.0, 0.0, 0.0],
            [0.3, 0.03, -0.02],
            [0.0, 0.28, 0.0],
            [0.09, 0.28, 0.0],
            [-0.02, 0.37, 0.0],
        ]
    )  # nm
    fragments = [([0], 1.0), ([1], -1.0), ([2, 3, 4], 0.0)]
    force = make_force(symbols, po.PQEqForce.NoCutoff, fragments=fragments)
    force.setChargeTransfer(po.PQEqForce.Split)
    ctx = make_context(force, pos)
    for step in range(20):  # steps shorter and longer than the bond list's half skin (0.025 nm)
        frame = pos.copy()
        frame[1, 0] += 0.02 * step if step < 10 else 0.2 + 0.04 * (step - 10)  # the Cl leaves
        ctx.setPositions(frame)
        warm = energy_forces(ctx)
        fresh = energy_forces(make_context(mm.XmlSerializer.clone(force), frame))
        assert abs(warm[0] - fresh[0]) <= 1e-10 * abs(fresh[0])
        assert np.abs(warm[1] - fresh[1]).max() <= 1e-7 * np.abs(fresh[1]).max()


def _settings(force):
    kappa = [force.getParticleBondHardness(i) for i in range(force.getNumParticles())]
    return force.getChargeTransfer(), force.getSplitCutoff(), kappa


def test_serialization_round_trip_keeps_split_settings():
    atoms, fragments, charges = water_sodium_cluster()
    force = make_force(atoms.get_chemical_symbols(), po.PQEqForce.NoCutoff)
    force.setChargeTransfer(po.PQEqForce.Split)
    force.setSplitCutoff(0.43)
    for i in range(force.getNumParticles()):
        force.setParticleBondHardness(i, 50.0 + i)
    back = mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(force))
    assert _settings(back) == _settings(force)
    pos = atoms.positions * units.ANGSTROM_TO_NM
    assert energy_forces(make_context(back, pos))[0] == energy_forces(make_context(force, pos))[0]


def test_old_xml_loads_as_global():
    """A version-2 file (no charge-transfer settings) loads as Global with the default hardness."""
    force = make_force(["O", "H", "H"], po.PQEqForce.NoCutoff)
    xml = mm.XmlSerializer.serialize(force)
    assert 'version="3"' in xml
    old, count = re.subn(r' (chargeTransfer|splitCutoff|kappa)="[^"]*"', "", xml)
    assert count == 5  # the force's two settings and one hardness per particle
    old = old.replace('version="3"', 'version="2"')
    back = mm.XmlSerializer.deserialize(old)
    assert back.getChargeTransfer() == po.PQEqForce.Global
    default = po.PQEqForce.defaultBondHardness()
    assert _settings(back) == (po.PQEqForce.Global, 0.5, [default] * 3)
    assert default == pytest.approx(EV, rel=1e-15)


def test_bad_settings_raise():
    force = make_force(["Na", "Cl"], po.PQEqForce.PME)
    with pytest.raises(mm.OpenMMException, match="split-charge cutoff"):
        force.setSplitCutoff(0.0)
    with pytest.raises(mm.OpenMMException, match="split-charge cutoff"):
        force.setSplitCutoff(-1.0)
    with pytest.raises(mm.OpenMMException, match="bond hardness of particle 1"):
        force.setParticleBondHardness(1, -5.0)
    force.setChargeTransfer(po.PQEqForce.Split)
    force.setSplitCutoff(0.6)  # a 1 nm box allows at most 0.5 nm
    ctx = make_context(force, np.array([[0.1, 0.1, 0.1], [0.4, 0.1, 0.1]]), np.eye(3))
    with pytest.raises(mm.OpenMMException, match=r"setSplitCutoff\(0\.5\)"):
        ctx.getState(getEnergy=True)


def test_model_system_solves_the_model_function(tmp_path):
    """createSystem of a model trained with split charges: the PQEqForce carries the model's
    charge-transfer model, split cutoff and per-element bond hardness, and its energy and forces
    are the model's PQEq term (two waters and Na⁺, per-molecule fragments)."""
    from openmm_polarml.openmm import FORCE_GROUPS, PolarMLPotential
    from openmm_polarml.openmm.topology import topologyFromAtoms
    from tests.model.helpers import tiny_model

    torch.set_num_threads(1)
    spec = {"long_range": "direct", "tolerance": 1e-10, "charge_transfer": "split"}
    model = tiny_model("float64", pqeq={**spec, "split_cutoff": 4.5, "bond_hardness": 1.3})
    water = np.array([[0.0, 0.0, 0.0], [0.9572, 0.0, 0.0], [-0.2399, 0.9266, 0.0]])
    positions = np.concatenate([water, water + [3.1, 0.2, 0.1], [[1.2, 3.0, 0.4]]])  # Å
    atoms = Atoms("OH2OH2Na", positions=positions)
    system = PolarMLPotential(model, cacheDir=tmp_path).createSystem(
        topologyFromAtoms(atoms), totalCharge=1.0, fragments="molecules", solverTolerance=1e-10
    )
    (force,) = [f for f in system.getForces() if f.getForceGroup() == FORCE_GROUPS["pqeq"]]
    force = force if isinstance(force, po.PQEqForce) else po.PQEqForce.cast(force)
    numbers = torch.tensor(atoms.numbers)
    kappa = model.pqeq.bond_hardness.per_atom(numbers) * EV  # [N] kJ/mol/e²
    assert force.getChargeTransfer() == po.PQEqForce.Split
    assert force.getSplitCutoff() == pytest.approx(0.45, rel=1e-15)
    assert [force.getParticleBondHardness(i) for i in range(len(atoms))] == kappa.tolist()
    ctx = mm.Context(system, mm.VerletIntegrator(1e-4), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(atoms.positions * units.ANGSTROM_TO_NM)
    state = ctx.getState(getEnergy=True, getForces=True, groups={FORCE_GROUPS["pqeq"]})
    energy = state.getPotentialEnergy()._value
    forces = state.getForces(asNumpy=True)._value
    out = model.pqeq(
        torch.tensor(atoms.positions),
        numbers,
        fragments=[[0, 1, 2], [3, 4, 5], [6]],
        fragment_charges=[0.0, 0.0, 1.0],
    )
    assert abs(energy - float(out["energy"].detach()) * EV) <= 1e-8 * abs(energy)
    forces_ref = out["forces"].detach().numpy() * EV / units.ANGSTROM_TO_NM
    assert np.abs(forces - forces_ref).max() <= 1e-6
    charges = np.array(force.getCharges(ctx))
    assert np.abs(charges - out["charges"].detach().numpy()).max() <= 1e-8


def test_born_charges_in_openmm_equal_the_engine_and_are_image_independent():
    """Issue 25 part 0 in OpenMM: finite-field Born charges of the native force equal the
    engine's exact ones, one isotropic value per species, sum rule, invariant to re-wrapping."""
    from openmm_polarml.pqeq.response import ResponseInput, born_charges

    atoms = S.nacl(2)  # 11.28 Å box ≥ 2 r_c
    engine = PQEq(charge_transfer="split", long_range="ewald", tolerance=1e-11, accuracy=1e-10)
    reference = born_charges(engine, ResponseInput.from_atoms(atoms)).numpy()  # [N, 3, 3]
    box = atoms.cell.array * units.ANGSTROM_TO_NM
    results = []
    for shift in (np.zeros(3), atoms.cell.array[0]):  # atom 5 stored one lattice vector away
        positions = atoms.positions.copy()
        positions[5] += shift
        force = split_force(engine, atoms, METHOD["ewald"], ewald_tol=1e-10)
        ctx = make_context(force, positions * units.ANGSTROM_TO_NM, box)
        results.append(po.born_charges_from_context(ctx, step=1e-3))
    for z in results:
        assert np.abs(z - reference).max() < 1e-5
        assert np.abs(z.sum(0)).max() < 1e-5
    assert np.abs(results[1] - results[0]).max() < 1e-6
    na = results[0][atoms.numbers == 11]
    assert np.abs(na - na[0, 0, 0] * np.eye(3)).max() < 1e-5


def test_field_energy_continuous_when_an_ion_crosses_the_boundary():
    """A Na⁺ (reference charge +1) moved across the cell face in a field: the energy with its
    position wrapped into the box equals the energy with the unwrapped position, so an MD
    trajectory that crosses the boundary sees no jump."""
    atoms = S.nacl(2)
    engine = PQEq(charge_transfer="split", long_range="ewald", tolerance=1e-10)
    fragments = [[i] for i in range(len(atoms))]
    charges = [1.0 if z == 11 else -1.0 for z in atoms.numbers]
    force = split_force(engine, atoms, METHOD["ewald"], fragments, charges)
    box = atoms.cell.array * units.ANGSTROM_TO_NM
    length = atoms.cell.array[0, 0]
    start = atoms.positions.copy()
    start[0] = [0.3, 0.2, 0.1]
    ctx = make_context(force, start * units.ANGSTROM_TO_NM, box)
    po.set_external_field(ctx, [0.05, 0.0, 0.0], unit="V/A")
    for x in (0.1, -0.1, -0.3):
        unwrapped, wrapped = start.copy(), start.copy()
        unwrapped[0, 0] = x
        wrapped[0, 0] = x % length
        energies = []
        for positions in (unwrapped, wrapped):
            ctx.setPositions(positions * units.ANGSTROM_TO_NM)
            energies.append(energy_forces(ctx)[0])
        assert abs(energies[1] - energies[0]) < 1e-8 * abs(energies[0])
