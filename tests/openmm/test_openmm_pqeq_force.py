"""PQEqForce (native OpenMM plugin) on the Reference and CPU platforms, double precision."""

from __future__ import annotations

import copy
import os

import numpy as np
import openmm as mm
import openmm.app as app
import pytest
from omm_helpers import (
    energy_forces,
    finite_difference_forces,
    make_context,
    make_force,
    make_system,
    nacl_rocksalt,
    water_cluster,
)

import openmm_polarml.openmm as po
from openmm_polarml import units

os.environ.setdefault("OMP_NUM_THREADS", "1")
PF = po.PQEqForce
KE = units.COULOMB_KJ_PER_MOL_NM
MADELUNG_NACL = 1.747564594633


def test_plugin_loaded():
    assert issubclass(PF, mm.Force)
    assert po.PLUGIN_LOAD_FAILURES == []
    for name in ("Reference", "CPU"):
        f = make_force(["O", "H", "H"])
        ctx = make_context(f, po_water(), platform=name)
        assert np.isfinite(energy_forces(ctx)[0])


def po_water():
    return water_cluster(1)[1]


@pytest.mark.parametrize("platform", ["Reference", "CPU"])
def test_two_site_analytic(platform):
    """Two non-polarisable sites: q = -(chiA-chiB)/(etaA+etaB-2C(r)), E = -(dchi)^2/(2(...))."""
    t = po.load_element_table()
    A, B = t["Na"], t["Cl"]
    f = PF()
    for p in (A, B):
        f.addParticle(p["chi"], p["eta"], p["radius"], p["springK"], p["shellCharge"], False)
    f.setSolverTolerance(1e-12)
    r = 0.25
    ctx = make_context(f, np.array([[0, 0, 0], [r, 0, 0.0]]), platform=platform)
    E, F = energy_forces(ctx)
    lam = units.PQEQ_LAMBDA
    a1, a2 = lam / (2 * A["radius"] ** 2), lam / (2 * B["radius"] ** 2)
    aab = np.sqrt(a1 * a2 / (a1 + a2))
    from math import erf, exp, pi, sqrt

    C = KE * erf(aab * r) / r
    dchi = A["chi"] - B["chi"]
    denom = A["eta"] + B["eta"] - 2 * C
    q = -dchi / denom
    assert E == pytest.approx(-(dchi**2) / (2 * denom), rel=1e-12)
    qs = f.getCharges(ctx)
    assert qs[0] == pytest.approx(q, rel=1e-10) and qs[1] == pytest.approx(-q, rel=1e-10)
    # Hellmann-Feynman force: -q_A q_B dC/dr along x
    dC = KE * (2 * aab / sqrt(pi) * exp(-((aab * r) ** 2)) / r - erf(aab * r) / r**2)
    fx = q * q * dC  # F_B = -dE/dx_B = -(-q^2) dC/dr
    assert F[1, 0] == pytest.approx(fx, rel=1e-9)
    assert F[0, 0] == pytest.approx(-fx, rel=1e-9)


@pytest.mark.parametrize("method", [PF.Ewald, PF.PME])
def test_madelung_point_charges(method):
    symbols, pos, box = nacl_rocksalt(0.564)
    f = PF()
    f.setNonbondedMethod(method)
    tol = 1e-8 if method == PF.Ewald else 1e-7
    f.setEwaldErrorTolerance(tol)
    for s in symbols:
        f.addFixedChargeParticle(1.0 if s == "Na" else -1.0, 0.0)
    E, F = energy_forces(make_context(f, pos, box))
    M = -E / 4 * (0.564 / 2) / KE
    assert M == pytest.approx(MADELUNG_NACL, rel=3 * tol)
    assert np.abs(F).max() < 1e-5


def test_ewald_pme_agree_and_converge_to_nocutoff():
    symbols, pos = water_cluster(2)
    pos = pos - pos.mean(0)
    e_ref = energy_forces(make_context(make_force(symbols), pos))[0]
    diffs = []
    for L in (2.0, 3.0, 4.5):
        box = np.eye(3) * L
        e_ew = energy_forces(make_context(make_force(symbols, PF.Ewald), pos + L / 2, box))[0]
        if L == 2.0:
            f = make_force(symbols, PF.PME, ewald_tol=1e-5)
            e_pme = energy_forces(make_context(f, pos + L / 2, box))[0]
            assert e_pme == pytest.approx(e_ew, abs=2e-5 * abs(e_ew))
        diffs.append(abs(e_ew - e_ref))
    assert diffs[0] > diffs[1] > diffs[2]
    assert diffs[2] < 0.03  # kJ/mol; the tin-foil dipole term decays like 1/L^3


CASES = {
    "nocutoff": (PF.NoCutoff, False),
    "tapernonperiodic": (PF.TaperNonPeriodic, False),
    "ewald": (PF.Ewald, True),
    "pme": (PF.PME, True),
    "taper": (PF.Taper, True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_finite_difference_forces(case):
    method, periodic = CASES[case]
    if periodic:
        symbols, pos, box = nacl_rocksalt(0.564, jitter=0.01, seed=1)
        symbols = symbols[:6] + ["O", "H"]
        pos = pos[:8]
        # make it neutral: O-H replaces one Na and one Cl
    else:
        symbols, pos = water_cluster(2, seed=3)
        box = None
    f = make_force(symbols, method, tol=1e-11, ewald_tol=1e-4 if method == PF.PME else 1e-5)
    if periodic:
        f.setCutoffDistance(0.28)
    ctx = make_context(f, pos, box)
    E, F = energy_forces(ctx)
    atoms = [0, 4, len(symbols) - 1]
    fd = finite_difference_forces(ctx, pos, atoms, h=2e-5)
    assert np.allclose(F[atoms], fd, atol=2e-4 * max(1.0, np.abs(fd).max()))


def test_cpu_equals_reference():
    symbols, pos, box = nacl_rocksalt(0.564, jitter=0.01)
    out = {}
    for plat in ("Reference", "CPU"):
        ctx = make_context(make_force(symbols, PF.Ewald), pos, box, platform=plat)
        out[plat] = energy_forces(ctx)
    assert out["CPU"][0] == out["Reference"][0]
    assert np.array_equal(out["CPU"][1], out["Reference"][1])


def test_field_in_live_context():
    symbols, pos = water_cluster(2, seed=5)
    f = make_force(symbols, tol=1e-12)
    ctx = make_context(f, pos)
    e0 = energy_forces(ctx)[0]
    mu0 = np.array(f.getDipole(ctx))
    h = 1.0  # kJ/mol/nm/e
    grads = []
    for _c, name in enumerate(po.FIELD_PARAMETERS):
        e = []
        for s in (+1, -1):
            ctx.setParameter(name, s * h)
            e.append(energy_forces(ctx)[0])
        ctx.setParameter(name, 0.0)
        grads.append((e[0] - e[1]) / (2 * h))
    assert np.allclose(grads, -mu0, atol=1e-7)
    # helper: 0.1 V/A == 1 V/nm
    po.set_external_field(ctx, (0.0, 0.0, 0.1), unit="V/A")
    assert ctx.getParameter("PQEqFieldZ") == pytest.approx(
        units.V_PER_ANGSTROM_TO_KJ_PER_MOL_NM_E * 0.1
    )
    assert po.get_external_field(ctx, "V/nm")[2] == pytest.approx(1.0)
    e1 = energy_forces(ctx)[0]
    mu1 = np.array(f.getDipole(ctx))
    fz = ctx.getParameter("PQEqFieldZ")
    assert mu1[2] > mu0[2]  # the field polarises along +z
    assert e1 < e0 - fz * mu0[2]  # and lowers the energy below the frozen-charge estimate
    # forces still exact gradients with a field on
    fd = finite_difference_forces(ctx, pos, [0, 2], h=2e-5)
    assert np.allclose(energy_forces(ctx)[1][[0, 2]], fd, atol=2e-4)


def test_fragments_and_fixed_charges():
    symbols, pos = water_cluster(3, seed=2)
    frags = [((0, 1, 2), 0.0), ((3, 4, 5), 0.0)]
    table = po.load_element_table()
    f = PF()
    for s in symbols[:6]:
        p = table[s]
        f.addParticle(p["chi"], p["eta"], p["radius"], p["springK"], p["shellCharge"], True)
    for q in (-0.8, 0.4, 0.4):  # a fixed-charge (MM) water
        f.addFixedChargeParticle(q, 0.0)
    for atoms, q in frags:
        f.addFragment(list(atoms), q)
    f.setSolverTolerance(1e-11)
    ctx = make_context(f, pos)
    E, F = energy_forces(ctx)
    q = np.array(f.getCharges(ctx))
    assert abs(q[:3].sum()) < 1e-12 and abs(q[3:6].sum()) < 1e-12
    assert np.allclose(q[6:], [-0.8, 0.4, 0.4])
    d = np.array(f.getShellDisplacements(ctx))
    assert np.all(d[6:] == 0) and np.abs(d[:6]).max() > 0
    fd = finite_difference_forces(ctx, pos, [0, 7], h=2e-5)
    assert np.allclose(F[[0, 7]], fd, atol=2e-4)
    atoms, qf = f.getFragmentParameters(1)
    assert list(atoms) == [3, 4, 5] and qf == 0.0


def test_exclusions_ewald_matches_nocutoff_limit():
    symbols, pos = water_cluster(2, seed=4)
    pos = pos - pos.mean(0)
    res = []
    for method, box in ((PF.NoCutoff, None), (PF.Ewald, np.eye(3) * 3.0)):
        f = make_force(symbols, method)
        f.addExclusion(0, 1)
        f.addExclusion(3, 5)
        p = pos if box is None else pos + 2.0
        res.append(energy_forces(make_context(f, p, box))[0])
    assert res[1] == pytest.approx(res[0], abs=0.05)


def test_errors():
    symbols, pos = water_cluster(2)
    f = make_force(symbols, tol=1e-12)
    f.setSolverMaxIterations(2)
    with pytest.raises(mm.OpenMMException, match="did not converge"):
        energy_forces(make_context(f, pos))
    # very soft springs: polarisation catastrophe must be reported, not NaN
    table = po.load_element_table()
    g = PF()
    for s in symbols:
        p = table[s]
        g.addParticle(p["chi"], p["eta"], p["radius"], p["springK"] * 1e-4, p["shellCharge"], True)
    with pytest.raises(mm.OpenMMException, match="positive definite|ran away"):
        energy_forces(make_context(g, pos))
    # cutoff larger than half the box
    h = make_force(["Na", "Cl"], PF.Ewald)
    h.setCutoffDistance(0.5)
    with pytest.raises(mm.OpenMMException, match="CellTooSmall"):
        energy_forces(make_context(h, np.array([[0, 0, 0], [0.28, 0, 0]]), np.eye(3) * 0.8))


def test_update_parameters_in_context():
    symbols, pos = water_cluster(2)
    f = make_force(symbols)
    ctx = make_context(f, pos)
    e0 = energy_forces(ctx)[0]
    chi, eta, r, k, zs, pol = f.getParticleParameters(0)
    f.setParticleParameters(0, chi + 50.0, eta, r, k, zs, pol)
    f.updateParametersInContext(ctx)
    e1 = energy_forces(ctx)[0]
    fresh = energy_forces(make_context(copy.deepcopy(f), pos))[0]
    assert e1 != e0 and e1 == pytest.approx(fresh, rel=1e-11)


def _system_with_force():
    symbols, pos, box = nacl_rocksalt(0.564, jitter=0.01)
    f = make_force(symbols, PF.PME, tol=1e-10, ewald_tol=1e-5)
    system = make_system(f, len(pos), box)
    ctx = mm.Context(system, mm.VerletIntegrator(1e-3), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(pos)
    return system, pos, box, energy_forces(ctx)[0]


def test_xml_roundtrip_and_deepcopy():
    system, pos, box, e0 = _system_with_force()
    xml = mm.XmlSerializer.serialize(system)
    assert "PQEqForce" in xml
    for clone in (mm.XmlSerializer.deserialize(xml), copy.deepcopy(system)):
        ctx = mm.Context(
            clone, mm.VerletIntegrator(1e-3), mm.Platform.getPlatformByName("Reference")
        )
        ctx.setPositions(pos)
        assert ctx.getState(getEnergy=True).getPotentialEnergy()._value == pytest.approx(
            e0, rel=1e-12
        )
    f = [system.getForce(i) for i in range(system.getNumForces())][0]
    assert PF.isinstance(f)
    g = copy.deepcopy(PF.cast(f))
    assert g.getNumParticles() == system.getNumParticles()


def test_openmmtools_thermodynamic_state():
    states = pytest.importorskip("openmmtools.states")
    system, pos, box, e0 = _system_with_force()
    ts = states.ThermodynamicState(system, 300 * mm.unit.kelvin)
    ctx = ts.create_context(mm.VerletIntegrator(1e-3), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(pos)
    assert ctx.getState(getEnergy=True).getPotentialEnergy()._value == pytest.approx(e0, rel=1e-12)


def test_create_from_topology():
    top = app.Topology()
    chain = top.addChain()
    symbols, pos = water_cluster(2)
    for _m in range(2):
        res = top.addResidue("HOH", chain)
        o = top.addAtom("O", app.element.oxygen, res)
        h1 = top.addAtom("H1", app.element.hydrogen, res)
        h2 = top.addAtom("H2", app.element.hydrogen, res)
        top.addBond(o, h1)
        top.addBond(o, h2)
    res = top.addResidue("NA", chain)
    top.addAtom("NA", app.element.sodium, res)
    pos = np.vstack([pos, [[0.6, 0.6, 0.6]]])
    f = po.createPQEqForce(top, nonbondedMethod="NoCutoff", solverTolerance=1e-10)
    assert f.getNumFragments() == 3
    assert f.getFragmentParameters(2)[1] == 1.0
    ctx = make_context(f, pos)
    q = np.array(f.getCharges(ctx))
    assert q[6] == pytest.approx(1.0) and abs(q[:3].sum()) < 1e-12


def test_pme_md_steps_converge_and_conserve():
    """Short NVE run of a periodic water box with PME: the solver converges at every step (shells crossing
    the real-space cutoff sphere must not stall it) and the total energy is conserved."""
    symbols, pos = water_cluster(8, seed=2)
    box = np.eye(3) * 0.62
    f = make_force(symbols, PF.PME, tol=1e-8, ewald_tol=1e-5, cutoff=0.3)
    for m in range(8):
        f.addFragment([3 * m, 3 * m + 1, 3 * m + 2], 0.0)
    system = make_system(f, len(symbols), box)
    masses = {"O": 15.999, "H": 1.008}
    for i, s in enumerate(symbols):
        system.setParticleMass(i, masses[s])
    bonds = mm.HarmonicBondForce()
    for m in range(8):
        for h in (1, 2):
            bonds.addBond(3 * m, 3 * m + h, 0.09572, 4.6e5)
    system.addForce(bonds)
    integ = mm.VerletIntegrator(0.25e-3)
    ctx = mm.Context(system, integ, mm.Platform.getPlatformByName("CPU"), {"Threads": "1"})
    ctx.setPeriodicBoxVectors(*[mm.Vec3(*row) for row in box])
    ctx.setPositions(pos + 0.05)
    ctx.setVelocitiesToTemperature(300, 3)
    energies = []
    for _ in range(20):
        integ.step(10)
        st = ctx.getState(getEnergy=True)
        energies.append(st.getPotentialEnergy()._value + st.getKineticEnergy()._value)
    assert (
        np.ptp(energies) < 0.3
    )  # kJ/mol (measured 0.075): Verlet fluctuation only, no drift or jumps


def test_md_steps_reuse_solver_state_without_changing_the_answer():
    """Along MD the solver starts from extrapolated charges/shells and keeps its L-BFGS curvature memory
    and preconditioner (long charge waves of the periodic crystal): warm steps take far fewer iterations
    than the cold first solve, and reach the same solution as a fresh Context at the same positions."""
    symbols, pos, box = nacl_rocksalt(reps=3, jitter=0.01, seed=4)
    force = make_force(symbols, PF.PME, tol=1e-8, ewald_tol=1e-6)
    system = make_system(force, len(symbols), box)
    for i, s in enumerate(symbols):
        system.setParticleMass(i, 22.99 if s == "Na" else 35.45)
    integ = mm.VerletIntegrator(1.0e-3)
    ctx = mm.Context(system, integ, mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(pos)
    ctx.setVelocitiesToTemperature(600, 5)
    warm = []
    for _ in range(6):
        integ.step(1)
        warm.append(force.getLastSolverIterations(ctx))
    st = ctx.getState(getPositions=True, getEnergy=True, getForces=True)
    fresh_force = make_force(symbols, PF.PME, tol=1e-8, ewald_tol=1e-6)
    fresh = make_context(fresh_force, st.getPositions(asNumpy=True)._value, box)
    e_fresh, f_fresh = energy_forces(fresh)  # a cold solve at the same positions
    cold = fresh_force.getLastSolverIterations(fresh)
    assert cold > 10
    assert max(warm[3:]) <= cold // 2, (cold, warm)
    f_md = st.getForces(asNumpy=True)._value
    # both solves meet the 1e-8 eV/e, eV/Å residual: energies agree to ~ residual², forces to ~ residual
    assert st.getPotentialEnergy()._value == pytest.approx(e_fresh, rel=1e-10)
    assert np.abs(f_md - f_fresh).max() < 1e-5 * np.abs(f_fresh).max()
