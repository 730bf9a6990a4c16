"""XML round trips keep the PQEqForce type, its parameters and its energies; ownership is single."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import numpy as np
import openmm as mm
import openmm.app as app
import pytest
from ase import Atoms

import openmm_polarml.openmm as po
from openmm_polarml.openmm.serialization import install_pqeq_downcasts
from tests.openmm.omm_helpers import water_cluster

BOX = 1.3  # nm
METHODS = ["NoCutoff", "Ewald", "PME", "Taper", "TaperNonPeriodic"]


def _topology():
    symbols, water = water_cluster(2, seed=3)
    top = app.Topology()
    chain = top.addChain()
    for _k in range(2):
        res = top.addResidue("HOH", chain)
        o = top.addAtom("O", app.element.oxygen, res)
        h1 = top.addAtom("H1", app.element.hydrogen, res)
        h2 = top.addAtom("H2", app.element.hydrogen, res)
        top.addBond(o, h1)
        top.addBond(o, h2)
    for name, el in (("NA", app.element.sodium), ("CL", app.element.chlorine)):
        res = top.addResidue(name, chain)
        top.addAtom(name, el, res)
    pos = np.vstack([water + 0.35, [[0.95, 0.9, 0.9], [0.9, 0.6, 0.35]]])
    return top, pos


def _system(method: str):
    top, pos = _topology()
    periodic = method in ("Ewald", "PME", "Taper")
    force = po.createPQEqForce(
        top,
        nonbondedMethod=method,
        cutoff=0.6 if method in ("Ewald", "PME") else None,
        solverTolerance=1e-10,
        fixedCharges={6: 1.0},  # Na+ as a fixed point charge (polarises, not equilibrated)
        exclusions=[(1, 2)],
    )
    force.setDefaultExternalField(*po.field_to_openmm((0.2, -0.1, 0.3)))
    force.setForceGroup(3)
    system = mm.System()
    for atom in top.atoms():
        system.addParticle(atom.element.mass)
    if periodic:
        system.setDefaultPeriodicBoxVectors(*(mm.Vec3(*r) for r in np.eye(3) * BOX))
    system.addForce(force)
    bond = mm.HarmonicBondForce()
    bond.addBond(0, 1, 0.0957, 4e5)
    system.addForce(bond)
    system.addForce(mm.CMMotionRemover())
    return system, pos


def _evaluate(system, pos):
    ctx = mm.Context(system, mm.VerletIntegrator(1e-3), mm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(pos)
    st = ctx.getState(getEnergy=True, getForces=True)
    pqeq = next(f for f in system.getForces() if isinstance(f, po.PQEqForce))
    out = (
        st.getPotentialEnergy()._value,
        st.getForces(asNumpy=True)._value.copy(),
        np.array(pqeq.getCharges(ctx)),
        np.array(pqeq.getDipole(ctx)),
    )
    del ctx
    return out


def _parameters(f):
    n = f.getNumParticles()
    particles = [
        f.getFixedChargeParticleParameters(i)
        if f.isFixedChargeParticle(i)
        else f.getParticleParameters(i)
        for i in range(n)
    ]
    return dict(
        particles=particles,
        fragments=[f.getFragmentParameters(k) for k in range(f.getNumFragments())],
        exclusions=[f.getExclusionParticles(k) for k in range(f.getNumExclusions())],
        scalars=(
            f.getNonbondedMethod(),
            f.getCutoffDistance(),
            f.getEwaldErrorTolerance(),
            f.getSolverTolerance(),
            f.getSolverMaxIterations(),
            f.getTotalCharge(),
            tuple(f.getDefaultExternalField()),
            f.getForceGroup(),
        ),
    )


def test_install_is_idempotent():
    before = mm.XmlSerializer.__dict__["_deserializeForce"].__func__, mm.System.getForce
    install_pqeq_downcasts()
    install_pqeq_downcasts()
    assert mm.XmlSerializer.__dict__["_deserializeForce"].__func__ is before[0]
    assert mm.System.getForce is before[1]


def test_force_round_trip_keeps_type_and_parameters():
    system, _ = _system("PME")
    force = system.getForce(0)
    assert isinstance(force, po.PQEqForce)
    back = mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(force))
    assert type(back) is po.PQEqForce and back.thisown
    assert _parameters(back) == _parameters(force)
    clones = (mm.XmlSerializer.clone(force), copy.deepcopy(force), copy.copy(back))
    for clone in clones + (pickle.loads(pickle.dumps(force)),):
        assert type(clone) is po.PQEqForce and clone.thisown
        assert _parameters(clone) == _parameters(force)


@pytest.mark.parametrize("method", METHODS)
def test_system_round_trip_same_energy(method):
    system, pos = _system(method)
    ref = _evaluate(system, pos)
    copies = {
        "xml": mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(system)),
        "clone": mm.XmlSerializer.clone(system),
        "deepcopy": copy.deepcopy(system),
    }
    for label, other in copies.items():
        types = [type(f) for f in other.getForces()]
        assert types == [po.PQEqForce, mm.HarmonicBondForce, mm.CMMotionRemover], label
        assert _parameters(other.getForce(0)) == _parameters(system.getForce(0)), label
        got = _evaluate(other, pos)
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-12, atol=0, err_msg=label)
        for a, b in zip(got[1:], ref[1:], strict=True):
            scale = np.abs(b).max()
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * scale, err_msg=label)


def test_get_force_of_other_types_unchanged():
    system, _ = _system("NoCutoff")
    system.addForce(mm.NonbondedForce())
    system.addForce(mm.CustomExternalForce("x"))
    back = mm.XmlSerializer.deserialize(mm.XmlSerializer.serialize(system))
    names = [type(f).__name__ for f in back.getForces()]
    assert names == [
        "PQEqForce",
        "HarmonicBondForce",
        "CMMotionRemover",
        "NonbondedForce",
        "CustomExternalForce",
    ]
    # a reference from getForce does not own the System's object
    assert not back.getForce(0).thisown


_OWNERSHIP_SCRIPT = r"""
import ctypes, gc
import openmm as mm
import openmm_polarml.openmm as po

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2

def heap_mib():
    # bytes malloc has handed out and not got back (exact, unlike RSS)
    info = libc.mallinfo2()
    return (info.uordblks + info.hblkhd) / 2**20

f = po.PQEqForce()
for i in range(20000):
    f.addParticle(1.0, 1.0, 0.1, 1.0, -1.0, True)
xml = mm.XmlSerializer.serialize(f)
s = mm.System()
for i in range(20000):
    s.addParticle(1.0)
s.addForce(f)
sxml = mm.XmlSerializer.serialize(s)
def cycle():
    g = mm.XmlSerializer.deserialize(xml)
    c = mm.XmlSerializer.clone(g)
    d = mm.XmlSerializer.deserialize(sxml)
    h = d.getForce(0)
    assert type(g) is type(c) is type(h) is po.PQEqForce
    del g, c, h, d
    gc.collect()
for _ in range(3):
    cycle()
start = heap_mib()
for _ in range(25):
    cycle()
grown = heap_mib() - start
print("grown", grown)
assert grown < 5, grown  # 25 leaked forces (one per cycle) grow it by ~27 MiB
"""


def test_ownership_no_double_free_no_leak():
    run = subprocess.run(
        [sys.executable, "-c", _OWNERSHIP_SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr


def _torch_blocker():
    from openmm_polarml.openmm.torch_force import torch_force_xml_blocker

    return torch_force_xml_blocker()


@pytest.mark.parametrize("backend", [None, "python", "torch"])
def test_system_reloads_in_a_fresh_process_after_importing_the_package(tmp_path, backend):
    """A System with the network (PythonForce by default, or TorchForce), PQEq and D3, saved by
    this process, runs in a new process that imports only openmm_polarml, with the same energy."""
    import openmm

    from openmm_polarml.openmm import DEFAULT_BACKEND, PolarMLPotential
    from openmm_polarml.openmm.topology import topologyFromAtoms

    assert DEFAULT_BACKEND == "python"  # the backend openmm-ml 1.8 uses (openmm.PythonForce)
    if backend == "torch":
        pytest.importorskip("openmmtorch")
        if _torch_blocker() is not None:
            pytest.skip(f"upstream crash: {_torch_blocker()}")
    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    kwargs = {} if backend is None else {"backend": backend}
    system = PolarMLPotential("small_demo", cacheDir=tmp_path).createSystem(
        topologyFromAtoms(water), **kwargs
    )
    xml = tmp_path / "system.xml"
    xml.write_text(openmm.XmlSerializer.serialize(system))
    text = xml.read_text()
    network = "TorchForce" if backend == "torch" else "PythonForce"
    assert f'type="{network}"' in text and 'type="PQEqForce"' in text  # both need proxies
    positions = np.asarray(water.positions) * 0.1
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    context.setPositions(positions)
    here = context.getState(getEnergy=True).getPotentialEnergy()._value
    script = (
        "import numpy as np, openmm_polarml, openmm\n"
        f"s = openmm.XmlSerializer.deserialize(open({str(xml)!r}).read())\n"
        "c = openmm.Context(s, openmm.VerletIntegrator(1e-3), "
        "openmm.Platform.getPlatformByName('Reference'))\n"
        f"c.setPositions(np.array({positions.tolist()}))\n"
        "print(repr(c.getState(getEnergy=True).getPotentialEnergy()._value))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    assert float(out.stdout.strip().splitlines()[-1]) == here
    assert "simtk" not in out.stderr


_TORCH_COPY_SCRIPT = r"""
import copy, pickle, sys
import torch, openmm, openmmtorch
import openmm_polarml

class Square(torch.nn.Module):
    def forward(self, positions):
        return (positions**2).sum()

torch.jit.script(Square()).save(sys.argv[1])
force = openmmtorch.TorchForce(sys.argv[1])
system = openmm.System()
system.addParticle(1.0)
system.addForce(force)
xml = openmm.XmlSerializer.serialize(system)
calls = {
    "deserialize": lambda: openmm.XmlSerializer.deserialize(xml),
    "clone": lambda: openmm.XmlSerializer.clone(system),
    "deepcopy": lambda: copy.deepcopy(system),
    "pickle": lambda: pickle.loads(pickle.dumps(system)),
    "force": lambda: openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(force)),
    "force clone": lambda: openmm.XmlSerializer.clone(force),
}
for label, call in calls.items():
    try:
        call()
        print(label, "copied")
    except RuntimeError as err:
        assert "TorchForceProxy::deserialize" in str(err), err
        print(label, "refused")
"""


def test_torch_force_copies_refuse_instead_of_crashing(tmp_path):
    """Where deserialising a TorchForce segfaults (openmm >= 8.6, openmmtorch 1.5), every copy
    path raises a RuntimeError naming the upstream crash; elsewhere every copy works."""
    pytest.importorskip("openmmtorch")
    script = tmp_path / "copies.py"  # a file: torch.jit.script reads the module's source
    script.write_text(_TORCH_COPY_SCRIPT)
    run = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "square.pt")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr  # a segfault is -11
    lines = run.stdout.strip().splitlines()
    expected = "refused" if _torch_blocker() is not None else "copied"
    assert len(lines) == 6 and all(line.endswith(expected) for line in lines), lines


def test_torch_backend_warns_when_not_xml_copyable(tmp_path):
    pytest.importorskip("openmmtorch")
    if _torch_blocker() is None:
        pytest.skip("TorchForce deserialises with this openmm/openmmtorch")
    from openmm_polarml.openmm import PolarMLPotential
    from openmm_polarml.openmm.topology import topologyFromAtoms

    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    potential = PolarMLPotential("small_demo", cacheDir=tmp_path)
    with pytest.warns(RuntimeWarning, match="TorchForceProxy::deserialize"):
        potential.createSystem(topologyFromAtoms(water), backend="torch")
