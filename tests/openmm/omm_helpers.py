"""Shared helpers for the PQEqForce tests: small systems and a central finite-difference check."""

from __future__ import annotations

import numpy as np
import openmm as mm

import openmm_polarml.openmm as po

WATER = np.array([[0.0, 0.0, 0.0], [0.09572, 0.0, 0.0], [-0.02399, 0.09266, 0.0]])  # nm


def water_cluster(n: int = 2, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """n water molecules on a jittered grid (nm)."""
    rng = np.random.default_rng(seed)
    symbols, pos = [], []
    side = int(np.ceil(n ** (1 / 3)))
    k = 0
    for i in range(side):
        for j in range(side):
            for m in range(side):
                if k == n:
                    break
                shift = np.array([i, j, m]) * 0.31 + rng.normal(scale=0.01, size=3)
                rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
                pos.extend(WATER @ rot.T + shift)
                symbols += ["O", "H", "H"]
                k += 1
    return symbols, np.array(pos)


def nacl_rocksalt(a: float = 0.564, reps: int = 1, jitter: float = 0.0, seed: int = 0):
    """Rock-salt NaCl, conventional cell repeated reps^3 times; returns symbols, positions, box (nm)."""
    rng = np.random.default_rng(seed)
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    symbols, pos = [], []
    for i in range(reps):
        for j in range(reps):
            for k in range(reps):
                off = np.array([i, j, k])
                for b in base:
                    symbols.append("Na")
                    pos.append((b + off) * a)
                for b in base:
                    symbols.append("Cl")
                    pos.append((b + [0.5, 0, 0] + off) * a)
    pos = np.array(pos) + rng.normal(scale=jitter, size=(len(pos), 3))
    return symbols, pos, np.eye(3) * a * reps


def make_force(symbols, method=None, tol=1e-10, fragments=None, polarizable=True, **kw):
    table = po.load_element_table()
    f = po.PQEqForce()
    for s in symbols:
        p = table[s]
        f.addParticle(
            p["chi"],
            p["eta"],
            p["radius"],
            p["springK"],
            p["shellCharge"],
            bool(p["polarizable"] and polarizable),
        )
    if method is not None:
        f.setNonbondedMethod(method)
    f.setSolverTolerance(tol)
    for atoms, q in fragments or []:
        f.addFragment(list(atoms), q)
    if "cutoff" in kw:
        f.setCutoffDistance(kw["cutoff"])
    if "ewald_tol" in kw:
        f.setEwaldErrorTolerance(kw["ewald_tol"])
    return f


def make_system(force, n, box=None, extra_forces=()):
    system = mm.System()
    for _ in range(n):
        system.addParticle(1.0)
    if box is not None:
        system.setDefaultPeriodicBoxVectors(*[mm.Vec3(*row) for row in box])
    system.addForce(force)
    for f in extra_forces:
        system.addForce(f)
    return system


def make_context(force, positions, box=None, platform="Reference", extra_forces=()):
    system = mm.System()
    for _ in range(len(positions)):
        system.addParticle(1.0)
    if box is not None:
        system.setDefaultPeriodicBoxVectors(*[mm.Vec3(*row) for row in box])
    system.addForce(force)
    for f in extra_forces:
        system.addForce(f)
    props = {"Precision": "double"} if platform in ("CUDA", "OpenCL") else {}
    ctx = mm.Context(
        system, mm.VerletIntegrator(1e-3), mm.Platform.getPlatformByName(platform), props
    )
    if box is not None:
        ctx.setPeriodicBoxVectors(*[mm.Vec3(*row) for row in box])
    ctx.setPositions(positions)
    return ctx


def energy_forces(ctx):
    st = ctx.getState(getEnergy=True, getForces=True)
    return (st.getPotentialEnergy()._value, st.getForces(asNumpy=True)._value.copy())


def finite_difference_forces(ctx, positions, atoms, h=1e-5):
    """Central differences -dE/dx (kJ/mol/nm) for the given atoms, through the Context."""
    positions = np.array(positions, dtype=float)
    out = np.zeros((len(atoms), 3))
    for n, i in enumerate(atoms):
        for c in range(3):
            e = []
            for s in (+1, -1):
                p = positions.copy()
                p[i, c] += s * h
                ctx.setPositions(p)
                e.append(ctx.getState(getEnergy=True).getPotentialEnergy()._value)
            out[n, c] = -(e[0] - e[1]) / (2 * h)
    ctx.setPositions(positions)
    return out
