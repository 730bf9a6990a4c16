"""PQEqForce on OpenMM's CUDA platform: parity with the Reference platform in single, mixed and double
precision (marker ``gpu``; skipped where there is no CUDA platform, device or PQEq CUDA plugin), and a
CPU-only serial emulation of the CUDA kernels (marker ``slow``: builds csrc/ with CMake)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import openmm as mm
import pytest
from omm_helpers import energy_forces, make_force, nacl_rocksalt, water_cluster

import openmm_polarml.openmm as po

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL = {  # (relative energy, force relative to the largest force, charge in e)
    "double": (1e-8, 1e-6, 1e-6),
    "mixed": (3e-4, 1e-2, 2e-3),
    "single": (3e-4, 1e-2, 2e-3),
}


def _cuda_platform():
    try:
        return mm.Platform.getPlatformByName("CUDA")
    except Exception:
        return None


def _context(force, positions, box, platform, precision=None):
    system = mm.System()
    for _ in range(len(positions)):
        system.addParticle(1.0)
    if box is not None:
        system.setDefaultPeriodicBoxVectors(*[mm.Vec3(*row) for row in box])
    system.addForce(force)
    props = {"Precision": precision} if precision else {}
    try:
        ctx = mm.Context(
            system, mm.VerletIntegrator(1e-3), mm.Platform.getPlatformByName(platform), props
        )
    except Exception as exc:  # no device, or the PQEq CUDA kernels are not registered
        if platform == "CUDA":
            pytest.skip(f"CUDA context unavailable: {exc}")
        raise
    ctx.setPositions(positions)
    return ctx


def _case(name):
    """(force factory, positions, box) of a named test system; a System owns its force, so each
    Context gets a fresh one."""
    if name.startswith("water"):
        sym, pos = water_cluster(4, seed=1)
        frags = [(range(3 * m, 3 * m + 3), 0.0) for m in range(4)]
        if name == "water-nocutoff":
            return (
                (lambda: make_force(sym, po.PQEqForce.NoCutoff, tol=1e-8, fragments=frags)),
                pos,
                None,
            )
        return (lambda: make_force(sym, po.PQEqForce.TaperNonPeriodic, tol=1e-8)), pos, None
    if name == "nacl8-taper":
        s, p, box = nacl_rocksalt(reps=1, jitter=0.01, seed=4)
        return (lambda: make_force(s, po.PQEqForce.Taper, tol=1e-8)), p, box
    s, p, box = nacl_rocksalt(reps=2, jitter=0.01, seed=3)
    method = po.PQEqForce.Ewald if name == "nacl64-ewald" else po.PQEqForce.PME
    return (lambda: make_force(s, method, tol=1e-8, cutoff=0.5)), p, box


CASES = ["water-nocutoff", "water-taper", "nacl8-taper", "nacl64-ewald", "nacl64-pme"]
# split charge transfer: the charged water + Na+ cluster and the 64-atom rocksalt box (>= 2 x 0.5 nm)
SPLIT_CASES = ["split-water-na-nocutoff", "split-nacl64-ewald", "split-nacl64-pme"]


def _split_case(name):
    """(force factory, positions, box) of a split-charge system (bond cutoff 0.5 nm, default hardness)."""
    if name == "split-water-na-nocutoff":
        sym, pos = water_cluster(4, seed=1)
        sym = [*sym, "Na"]
        pos = np.vstack([pos, pos.mean(0) + 0.12])
        frags = [*[(range(3 * m, 3 * m + 3), 0.0) for m in range(4)], ([12], 1.0)]
        method, kw, box = po.PQEqForce.NoCutoff, {"fragments": frags}, None
    else:
        sym, pos, box = nacl_rocksalt(reps=2, jitter=0.01, seed=3)
        method = po.PQEqForce.Ewald if name == "split-nacl64-ewald" else po.PQEqForce.PME
        kw = {"cutoff": 0.5}

    def make_split():
        force = make_force(sym, method, tol=1e-8, **kw)
        force.setChargeTransfer(po.PQEqForce.Split)
        force.setSplitCutoff(0.5)
        return force

    return make_split, pos, box


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["single", "mixed", "double"])
@pytest.mark.parametrize("case", CASES + SPLIT_CASES)
def test_cuda_matches_reference(case, precision):
    if _cuda_platform() is None:
        pytest.skip("no CUDA platform (install the openmm-cuda wheel matching openmm)")
    make, pos, box = _split_case(case) if case.startswith("split") else _case(case)
    field = (40.0, -20.0, 10.0)  # kJ/mol/nm/e
    results = []
    for platform, prec in (("Reference", None), ("CUDA", precision)):
        force = make()
        ctx = _context(force, pos, box, platform, prec)
        for name, value in zip(po.FIELD_PARAMETERS, field, strict=True):
            ctx.setParameter(name, value)
        E, F = energy_forces(ctx)
        results.append((E, F, np.array(force.getCharges(ctx))))
        del ctx
    (E0, F0, q0), (E1, F1, q1) = results
    tol_e, tol_f, tol_q = TOL[precision]
    assert abs(E1 - E0) <= tol_e * max(1.0, abs(E0))
    assert np.abs(F1 - F0).max() <= tol_f * max(1.0, np.abs(F0).max())
    assert np.abs(q1 - q0).max() <= tol_q


@pytest.mark.gpu
def test_cuda_plugin_loaded_without_failures():
    if _cuda_platform() is None:
        pytest.skip("no CUDA platform")
    assert not [f for f in po.PLUGIN_LOAD_FAILURES if "CUDA" in f]


@pytest.mark.slow
def test_cuda_kernels_serial_emulation(tmp_path):
    """The CUDA kernels compiled as C++ (serial emulation) agree with the Reference calculator."""
    if shutil.which("cmake") is None and not os.path.exists(
        os.path.join(os.path.dirname(sys.executable), "cmake")
    ):
        pytest.skip("cmake not available")
    build = tmp_path / "build"
    cfg = [
        "cmake",
        "-S",
        os.path.join(ROOT, "csrc"),
        "-B",
        str(build),
        f"-DPython3_EXECUTABLE={sys.executable}",
        "-DPOLARML_BUILD_CUDA=OFF",
        "-DPOLARML_CUDA_EMULATION_CHECK=ON",
    ]
    if shutil.which("ninja"):
        cfg += ["-G", "Ninja"]
    subprocess.run(cfg, check=True, capture_output=True)
    subprocess.run(
        ["cmake", "--build", str(build), "--target", "PolarMLPQEqCudaEmulationCheck"],
        check=True,
        capture_output=True,
    )
    exe = build / "platforms" / "cuda" / "PolarMLPQEqCudaEmulationCheck"
    out = subprocess.run([str(exe)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
