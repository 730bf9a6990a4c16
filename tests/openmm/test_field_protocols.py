"""FieldProtocol: the Context field follows the protocol, changes the dynamics, and dE/dF = −μ."""

from __future__ import annotations

import math

import numpy as np
import openmm as mm
import openmm.app as app
import pytest

import openmm_polarml.openmm as po
from openmm_polarml import units
from openmm_polarml.openmm.field_protocols import FieldDipoleRecorder, FieldProtocol, pe_loop
from tests.openmm.omm_helpers import water_cluster

KJ = units.V_PER_NM_TO_KJ_PER_MOL_NM_E  # kJ/mol/nm/e per V/nm
DT = 0.0005  # ps
BOX = 1.2  # nm


def _simulation(method="NoCutoff", n_water=2, ions=True, seed=11):
    _, water = water_cluster(n_water, seed=2)
    top = app.Topology()
    chain = top.addChain()
    for _ in range(n_water):
        res = top.addResidue("HOH", chain)
        o = top.addAtom("O", app.element.oxygen, res)
        for name in ("H1", "H2"):
            top.addBond(o, top.addAtom(name, app.element.hydrogen, res))
    pos = water + 0.3
    if ions:
        for name, el in (("NA", app.element.sodium), ("CL", app.element.chlorine)):
            top.addAtom(name, el, top.addResidue(name, chain))
        pos = np.vstack([pos, [[0.85, 0.85, 0.85], [0.3, 0.8, 0.35]]])
    periodic = method in ("Ewald", "PME")
    force = po.createPQEqForce(
        top, nonbondedMethod=method, cutoff=0.55 if periodic else None, solverTolerance=1e-10
    )
    system = mm.System()
    for atom in top.atoms():
        system.addParticle(atom.element.mass)
    if periodic:
        system.setDefaultPeriodicBoxVectors(*(mm.Vec3(*r) for r in np.eye(3) * BOX))
    system.addForce(force)
    bonds = mm.HarmonicBondForce()
    for a, b in top.bonds():
        bonds.addBond(a.index, b.index, 0.0957, 4e5)
    system.addForce(bonds)
    integrator = mm.LangevinMiddleIntegrator(300.0, 5.0, DT)
    integrator.setRandomNumberSeed(seed)
    sim = app.Simulation(top, system, integrator, mm.Platform.getPlatformByName("Reference"))
    sim.context.setPositions(pos)
    sim.context.setVelocitiesToTemperature(300.0, seed)
    return sim, force


def _field(context):
    return np.array([context.getParameter(p) for p in po.FIELD_PARAMETERS])


def test_protocol_values():
    a = np.array([0.2, -0.4, 1.0])
    ramp = FieldProtocol("ramp", a, rampTime=0.01)
    np.testing.assert_array_equal(ramp.fieldAt(0.0), 0.0 * a)
    np.testing.assert_array_equal(ramp.fieldAt(0.005), 0.5 * a)
    np.testing.assert_array_equal(ramp.fieldAt(0.02), a)
    sine = FieldProtocol("sinusoid", 2.0, direction=(0, 0, 3), period=0.04, phase=0.5)
    assert sine.fieldAt(0.01)[2] == pytest.approx(2.0 * math.sin(math.pi / 2 + 0.5), rel=1e-15)
    assert sine.fieldAt(0.01)[0] == 0.0
    step = FieldProtocol("step", a, stepTime=0.003)
    np.testing.assert_array_equal(step.fieldAt(0.0029), 0 * a)
    np.testing.assert_array_equal(step.fieldAt(0.003), a)
    custom = FieldProtocol(lambda t: t * 10.0, (0, 1, 0))
    np.testing.assert_allclose(custom.fieldAt(0.2), [0, 2.0, 0], rtol=1e-15)
    custom3 = FieldProtocol(lambda t: (t, 2 * t, 3 * t))
    np.testing.assert_array_equal(custom3.fieldAt(1.0), [1, 2, 3])
    with pytest.raises(ValueError, match="period"):
        FieldProtocol("sinusoid", a)
    with pytest.raises(ValueError, match="direction"):
        FieldProtocol("ramp", 1.0, rampTime=1.0)
    with pytest.raises(ValueError, match="kind"):
        FieldProtocol("square", a, period=1.0)


@pytest.mark.parametrize("interval", [1, 4])
def test_context_follows_protocol(interval):
    sim, _ = _simulation(n_water=1, ions=False)
    amplitude = np.array([0.0, 0.5, 1.0])  # V/nm
    ramp_time = 40 * DT
    sim.reporters.append(FieldProtocol("ramp", amplitude, rampTime=ramp_time, interval=interval))
    for n in (1, 2, 8, 12, 20, 41, 60):
        sim.step(n - sim.currentStep)
        last = (n // interval) * interval  # the field was set at the last multiple of interval
        expected = amplitude * min(last * DT / ramp_time, 1.0) * KJ  # kJ/mol/nm/e
        np.testing.assert_allclose(_field(sim.context), expected, rtol=1e-13, atol=1e-13)


def test_sinusoid_in_context_and_pe_loop():
    sim, force = _simulation()
    period = 20 * DT
    loop = pe_loop(sim, 0.8, period, cycles=1.0, direction=(0, 0, 1), interval=2)
    assert sim.reporters == []
    n = loop["time"].shape[0]
    assert n == 10
    np.testing.assert_allclose(loop["time"], DT * 2 * np.arange(1, 11), rtol=1e-12)
    expected = 0.8 * np.sin(2 * np.pi * loop["time"] / period)
    np.testing.assert_allclose(loop["field"][:, 2], expected, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(loop["field"][:, :2], 0.0)
    # each record pairs the field just set with its dipole: the induced z-dipole follows the field
    slope = np.polyfit(loop["field"][:, 2], loop["dipole"][:, 2], 1)[0]
    assert slope > 0
    np.testing.assert_allclose(loop["dipole"][-1], force.getDipole(sim.context), rtol=1e-10)


def test_recorder_snippet_periodic():
    sim, force = _simulation(method="PME")
    protocol = FieldProtocol("sinusoid", 0.5, direction=(0, 0, 1), period=8 * DT, interval=2)
    recorder = FieldDipoleRecorder(2)
    sim.reporters += [protocol, recorder]
    sim.step(8)
    loop = recorder.arrays()
    assert loop["dipole"].shape == loop["field"].shape == (4, 3)
    np.testing.assert_allclose(loop["polarization"], loop["dipole"] / BOX**3, rtol=1e-12)
    np.testing.assert_allclose(loop["polarization_si"], loop["polarization"] * 0.1602176634)
    np.testing.assert_allclose(
        loop["field"][:, 2], 0.5 * np.sin(np.pi * np.arange(1, 5) / 2), atol=1e-13
    )


def test_field_change_mid_run_changes_dynamics():
    switch = 10
    runs = []
    for amplitude in (0.0, 2.0):
        sim, _ = _simulation()
        sim.reporters.append(
            FieldProtocol("step", amplitude, direction=(1, 1, 0), stepTime=switch * DT)
        )
        frames = []
        for _ in range(switch + 3):
            sim.step(1)
            frames.append(sim.context.getState(getPositions=True).getPositions(asNumpy=True)._value)
        runs.append(np.array(frames))
    same, changed = runs  # frames[k]: positions after step k + 1
    # the field set at step `switch` (t = stepTime) first moves atoms in step switch + 1
    np.testing.assert_array_equal(same[:switch], changed[:switch])
    first = np.abs(same[switch] - changed[switch]).max()
    assert first > 1e-9
    assert np.abs(same[-1] - changed[-1]).max() > first


@pytest.mark.parametrize("method", ["NoCutoff", "PME"])
def test_energy_field_derivative_is_minus_dipole(method):
    sim, force = _simulation(method=method)
    ctx = sim.context
    base = np.array([0.1, -0.2, 0.3]) * KJ  # kJ/mol/nm/e
    for name, value in zip(po.FIELD_PARAMETERS, base, strict=True):
        ctx.setParameter(name, value)
    dipole = np.array(force.getDipole(ctx))  # e nm

    def central(h):
        grad = np.zeros(3)
        for c, name in enumerate(po.FIELD_PARAMETERS):
            energies = []
            for sign in (1, -1):
                ctx.setParameter(name, base[c] + sign * h)
                energies.append(ctx.getState(getEnergy=True).getPotentialEnergy()._value)
            ctx.setParameter(name, base[c])
            grad[c] = (energies[0] - energies[1]) / (2 * h)  # kJ/mol per kJ/mol/nm/e = e nm
        return grad

    # E(F) is not quadratic (the shells' Gaussian kernels are nonlinear in d): the O(h²) error of
    # central differences (~1e-8 e nm at 0.05 V/nm) is removed by one Richardson step
    h = 0.05 * KJ  # kJ/mol/nm/e
    grad = (4.0 * central(h / 2) - central(h)) / 3.0
    np.testing.assert_allclose(grad, -dipole, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(central(h / 10), -dipole, rtol=0, atol=1e-9 * np.abs(dipole).max())
