"""Polarizable ML/MM (electrostatic embedding) against independent references."""

from __future__ import annotations

import numpy as np
import openmm
import openmm.app as app
import pytest
import torch

from openmm_polarml import units
from openmm_polarml.openmm import FORCE_GROUPS, PolarMLPotential
from tests.model.helpers import tiny_model

KJ, NM = units.EV_TO_KJ_PER_MOL, units.ANGSTROM_TO_NM
KJ_MOL = openmm.unit.kilojoule_per_mole
WATER = np.array([[0.0, 0.0, 0.0], [0.09572, 0.0, 0.0], [-0.02399, 0.09266, 0.0]])  # nm


@pytest.fixture(scope="module")
def model():
    return tiny_model("float64", pqeq={"long_range": "direct", "tolerance": 1e-10})


@pytest.fixture()
def potential(model, tmp_path):
    return PolarMLPotential(model, cacheDir=tmp_path)


def build(molecules, box=None):
    """Topology + positions (nm) of ``[("HOH", origin), ("NA", position), ...]``."""
    top = app.Topology()
    chain = top.addChain()
    positions = []
    for name, where in molecules:
        res = top.addResidue(name, chain)
        if name == "HOH":
            o = top.addAtom("O", app.element.oxygen, res)
            for h in ("H1", "H2"):
                top.addBond(o, top.addAtom(h, app.element.hydrogen, res))
            positions.extend(WATER + where)
        else:
            element = {"NA": app.element.sodium, "CL": app.element.chlorine}[name]
            top.addAtom(name, element, res)
            positions.append(np.asarray(where, dtype=float))
    if box is not None:
        top.setPeriodicBoxVectors(np.eye(3) * box)
    return top, np.array(positions)


def mm_system(topology, periodic=False):
    ff = app.ForceField("amber14/tip3p.xml")
    method = app.PME if periodic else app.NoCutoff
    kwargs = {"nonbondedCutoff": 0.6} if periodic else {}
    return ff.createSystem(
        topology, nonbondedMethod=method, constraints=None, rigidWater=False, **kwargs
    )


def context(system, positions):
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(1e-4), openmm.Platform.getPlatformByName("Reference")
    )
    ctx.setPositions(positions)
    return ctx


def energy(ctx, groups=-1):
    return ctx.getState(getEnergy=True, groups=groups).getPotentialEnergy().value_in_unit(KJ_MOL)


def pqeq_of(system):
    from openmm_polarml.openmm import PQEqForce

    (f,) = [f for f in system.getForces() if f.getForceGroup() == FORCE_GROUPS["pqeq"]]
    return f if isinstance(f, PQEqForce) else PQEqForce.cast(f)


def ml_dipole(system, ctx, atoms, positions):
    """Dipole (e·nm) of the ML atoms: Σ q_i r_i − Σ Z_i d_i from the solved charges and shells."""
    force = pqeq_of(system)
    q = np.asarray(force.getCharges(ctx))
    d = np.asarray([list(v) for v in force.getShellDisplacements(ctx)])
    mu = np.zeros(3)
    for i in atoms:
        shell_charge = force.getParticleParameters(i)[4]
        mu += q[i] * positions[i] + shell_charge * d[i]
    return mu


def test_far_mm_sites_leave_ml_energy_unchanged(potential):
    """(i) ML water with every MM site ≥ 10 nm away: E_mixed − E_MM = E_isolated within the
    dipole–dipole bound 3kμ₁μ₂/r³."""
    top, pos = build([("HOH", 0.0), ("HOH", [10.0, 0, 0]), ("HOH", [0, 10.5, 0])])
    mm = mm_system(top)
    mixed = potential.createMixedSystem(top, mm, [0, 1, 2], solverTolerance=1e-10)
    iso_top, iso_pos = build([("HOH", 0.0)])
    iso = potential.createSystem(iso_top, solverTolerance=1e-10, removeCMMotion=False)
    iso_ctx = context(iso, iso_pos)
    e_iso = energy(iso_ctx)
    mm_only = mm_system(build([("HOH", [10.0, 0, 0]), ("HOH", [0, 10.5, 0])])[0])
    e_mm = energy(context(mm_only, pos[3:]))
    mixed_ctx = context(mixed, pos)
    mu_ml = np.linalg.norm(ml_dipole(iso, iso_ctx, range(3), iso_pos))
    mu_mm = 0.0490  # TIP3P dipole (e·nm)
    bound = 2 * 3 * units.COULOMB_KJ_PER_MOL_NM * mu_ml * mu_mm / 10.0**3
    assert abs(energy(mixed_ctx) - e_mm - e_iso) < bound
    assert bound < 1e-3


def _ion_scan(potential, distances):
    """Mixed energies, PQEq energies and ML dipoles with an MM Na+ at ``distances`` (nm)."""
    out = []
    for r in distances:
        top, pos = build([("HOH", 0.0), ("NA", [-r, 0.0, 0.0])])
        pos[1:3] += [0.0, 0.0, 0.0]
        mixed = potential.createMixedSystem(top, mm_system(top), [0, 1, 2], mmRadii="pqeq")
        ctx = context(mixed, pos)
        out.append(
            (
                energy(ctx),
                energy(ctx, {FORCE_GROUPS["pqeq"]}),
                ml_dipole(mixed, ctx, range(3), pos),
                pos,
            )
        )
    return out


def test_mm_ion_polarises_ml_water_like_all_pqeq(model, potential):
    """(ii) An MM Na+ approaching along −x: the water's induced dipole grows along the
    ion→water direction and the energy drops; both match the engine with Na+ as a
    non-polarisable +1 fragment of the same Gaussian charge."""
    distances = [1.2, 0.8, 0.6]  # beyond the overlap of the Na+ Gaussian (R = 0.21 nm)
    scan = _ion_scan(potential, distances)
    engine = model.pqeq
    polarizable = engine.element_parameters.polarizable.clone()
    engine.element_parameters.polarizable[11] = False
    try:
        ref = []
        for _, _, _, pos in scan:
            out = engine(
                torch.tensor(pos / NM),
                torch.tensor([8, 1, 1, 11]),
                fragments=[[0, 1, 2], [3]],
                fragment_charges=[0.0, 1.0],
                compute_forces=False,
            )
            q = out["charges"].detach().numpy()
            shells = out.get("shell_displacements", out.get("shells"))
            mu = (q[:3, None] * pos[:3]).sum(0)
            if shells is not None:
                mu = mu - (shells.detach().numpy()[:3] * NM).sum(0)  # Z = 1 per element
            ref.append((float(out["energy"].detach()) * KJ, mu))
    finally:
        engine.element_parameters.polarizable.copy_(polarizable)
    induced = [s[2] - scan[0][2] for s in scan]
    assert 0 < induced[1][0] < induced[2][0]  # along +x: away from the ion, with its field
    assert scan[2][0] < scan[1][0] < scan[0][0]  # the total energy drops as the ion approaches
    for k in (1, 2):
        d_mixed = scan[k][1] - scan[0][1]
        d_ref = ref[k][0] - ref[0][0]
        assert abs(d_mixed - d_ref) < 1e-6 * abs(d_ref)
        np.testing.assert_allclose(
            scan[k][2] - scan[0][2], ref[k][1] - ref[0][1], rtol=1e-6, atol=1e-10
        )


def test_mixed_energy_is_the_sum_of_its_parts(model, potential):
    """(iii) E_mixed = E_network(ML, eager) + E_PQEq(engine, Na+ fixed) + E_MM without charges."""
    top, pos = build([("HOH", 0.0), ("NA", [-0.4, 0.05, 0.0]), ("CL", [0.5, 0.3, 0.1])])
    mm = mm_system(top)
    mixed = potential.createMixedSystem(top, mm, [0, 1, 2], mmRadii="pqeq")
    e_mixed = energy(context(mixed, pos))
    from ase import Atoms

    from openmm_polarml.data_io import atoms_to_frame, collate

    water = Atoms("OH2", positions=pos[:3] / NM)
    net = model(collate([atoms_to_frame(water)]), compute_forces=False, include_pqeq=False)
    e_net = float(net["energy"][0].detach()) * KJ
    neutral = mm_system(top)
    nb = [f for f in neutral.getForces() if isinstance(f, openmm.NonbondedForce)][0]
    for i in range(nb.getNumParticles()):
        q, s, e = nb.getParticleParameters(i)
        nb.setParticleParameters(i, 0.0, s, e)  # Lennard-Jones only (ML–ML pairs are bonded)
    for k in range(nb.getNumExceptions()):
        i, j, qq, s, e = nb.getExceptionParameters(k)
        nb.setExceptionParameters(k, i, j, 0.0, s, 0.0 if {i, j} <= {0, 1, 2} else e)
    for k in reversed(range(neutral.getNumForces())):
        if not isinstance(neutral.getForce(k), openmm.NonbondedForce):
            neutral.removeForce(k)
    e_lj = energy(context(neutral, pos))
    engine = model.pqeq
    polarizable = engine.element_parameters.polarizable.clone()
    engine.element_parameters.polarizable[[11, 17]] = False
    try:
        out = engine(
            torch.tensor(pos / NM),
            torch.tensor([8, 1, 1, 11, 17]),
            fragments=[[0, 1, 2], [3], [4]],
            fragment_charges=[0.0, 1.0, -1.0],
            compute_forces=False,
        )
        params = engine.element_parameters.per_atom(torch.tensor([11, 17]))
    finally:
        engine.element_parameters.polarizable.copy_(polarizable)
    # the engine counts the fixed ions' own χq + ½ηq² (eV), which fixed-charge sites do not
    self_terms = sum(
        float(params["chi"][k]) * q + 0.5 * float(params["eta"][k]) * q * q
        for k, q in enumerate([1.0, -1.0])
    )
    e_pqeq = (float(out["energy"].detach()) - self_terms) * KJ
    assert abs(e_mixed - (e_net + e_pqeq + e_lj)) < 1e-6 * max(1.0, abs(e_mixed))


@pytest.mark.parametrize("periodic", [False, True])
def test_mixed_forces_are_energy_gradients(potential, periodic):
    """(iv) Central finite differences on ML and MM atoms through the Context."""
    molecules = [("HOH", [0.2, 0.2, 0.2]), ("NA", [0.65, 0.3, 0.2]), ("CL", [0.3, 0.75, 0.5])]
    if periodic:
        molecules.append(("HOH", [0.7, 0.8, 0.9]))
    top, pos = build(molecules, box=1.3 if periodic else None)
    mixed = potential.createMixedSystem(
        top, mm_system(top, periodic), [0, 1, 2], solverTolerance=1e-10, ewaldErrorTolerance=1e-8
    )
    ctx = context(mixed, pos)
    forces = (
        ctx.getState(getForces=True)
        .getForces(asNumpy=True)
        .value_in_unit(KJ_MOL / openmm.unit.nanometer)
    )
    h = 1e-5
    for i in (0, 1, 3, 4) if not periodic else (0, 2, 3, 6):
        for c in range(3):
            values = []
            for s in (-1, 1):
                p = pos.copy()
                p[i, c] += s * h
                ctx.setPositions(p)
                values.append(energy(ctx))
            numeric = -(values[1] - values[0]) / (2 * h)
            assert abs(numeric - forces[i][c]) < 1e-4 * max(1.0, abs(forces[i][c])), (i, c)


def test_mixed_input_errors(potential):
    top, pos = build([("HOH", 0.0), ("NA", [0.5, 0, 0])])
    mm = mm_system(top)
    with pytest.raises(ValueError, match=r"mlAtoms must be distinct particle indices in \[0, 4\)"):
        potential.createMixedSystem(top, mm, [0, 1, 7])
    with pytest.raises(ValueError, match="crosses the ML/MM boundary"):
        potential.createMixedSystem(top, mm, [0, 1])
    with pytest.raises(ValueError, match="sum to"):  # a neutral water template, +1 asked
        potential.createMixedSystem(top, mm, [0, 1, 2], totalCharge=1.0, fragments="molecules")
    box_top, _ = build([("HOH", 0.0), ("NA", [0.5, 0, 0])], box=1.3)
    with pytest.raises(ValueError, match="net charge"):
        potential.createMixedSystem(box_top, mm_system(box_top, True), [0, 1, 2])
