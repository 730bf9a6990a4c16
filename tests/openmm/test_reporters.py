"""PQEqReporter: NetCDF frames beside a DCD, values equal to the force's own, safe file handling."""

from __future__ import annotations

import hashlib

import numpy as np
import openmm as mm
import openmm.app as app
import pytest

import openmm_polarml.openmm as po
from openmm_polarml import units
from openmm_polarml.analysis.pqeq_report import induced_dipole, load_pqeq_report, mean_charges
from openmm_polarml.openmm.reporters import PQEQ_REPORT_UNITS, PQEqReporter
from tests.openmm.omm_helpers import water_cluster

BOX = 1.2  # nm


def _topology_positions():
    _, water = water_cluster(2, seed=1)
    top = app.Topology()
    chain = top.addChain()
    for _ in range(2):
        res = top.addResidue("HOH", chain)
        o = top.addAtom("O", app.element.oxygen, res)
        for name in ("H1", "H2"):
            top.addBond(o, top.addAtom(name, app.element.hydrogen, res))
    for name, el in (("NA", app.element.sodium), ("CL", app.element.chlorine)):
        top.addAtom(name, el, top.addResidue(name, chain))
    top.setPeriodicBoxVectors(np.eye(3) * BOX)
    pos = np.vstack([water + 0.3, [[0.85, 0.85, 0.85], [0.3, 0.8, 0.35]]])
    return top, pos


def _simulation(method="PME", field=(0.0, 0.0, 0.5)):
    top, pos = _topology_positions()
    force = po.createPQEqForce(top, nonbondedMethod=method, cutoff=0.55, solverTolerance=1e-8)
    force.setDefaultExternalField(*po.field_to_openmm(field))
    system = mm.System()
    for atom in top.atoms():
        system.addParticle(atom.element.mass)
    system.setDefaultPeriodicBoxVectors(*(mm.Vec3(*r) for r in np.eye(3) * BOX))
    system.addForce(force)
    bonds = mm.HarmonicBondForce()
    for a, b in top.bonds():
        bonds.addBond(a.index, b.index, 0.0957, 4e5)
    system.addForce(bonds)
    integrator = mm.LangevinMiddleIntegrator(300.0, 5.0, 0.0005)
    integrator.setRandomNumberSeed(7)
    sim = app.Simulation(top, system, integrator, mm.Platform.getPlatformByName("Reference"))
    sim.context.setPositions(pos)
    sim.context.setVelocitiesToTemperature(300.0, 3)
    return sim, force


class _Recorder:
    """Records what the PQEqForce returns at each report step (the oracle of the test)."""

    def __init__(self, force, interval):
        self.force, self.interval, self.rows = force, interval, []

    def describeNextReport(self, simulation):
        steps = self.interval - simulation.currentStep % self.interval
        return {"steps": steps, "periodic": False, "include": ["positions"]}

    def report(self, simulation, state):
        ctx = simulation.context
        self.rows.append(
            dict(
                step=simulation.currentStep,
                charges=np.array(self.force.getCharges(ctx)),
                shells=np.array(self.force.getShellDisplacements(ctx)),
                dipole=np.array(self.force.getDipole(ctx)),
                positions=state.getPositions(asNumpy=True)._value.copy(),
            )
        )


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pqeq_report")
    sim, force = _simulation()
    nc, dcd, pdb = folder / "run.nc", folder / "run.dcd", folder / "run.pdb"
    app.PDBFile.writeFile(
        sim.topology, sim.context.getState(getPositions=True).getPositions(), str(pdb)
    )
    recorder = _Recorder(force, 4)
    reporter = PQEqReporter(nc, 4)
    sim.reporters += [reporter, app.DCDReporter(str(dcd), 4), recorder]
    sim.step(20)
    reporter.close()
    return dict(folder=folder, nc=nc, dcd=dcd, pdb=pdb, recorder=recorder, force=force, sim=sim)


def test_frames_match_dcd_and_force(run):
    import mdtraj

    report = load_pqeq_report(run["nc"])
    traj = mdtraj.load(str(run["dcd"]), top=str(run["pdb"]))
    assert report.n_frames == traj.n_frames == 5
    np.testing.assert_array_equal(report.step, [4, 8, 12, 16, 20])
    np.testing.assert_allclose(report.time, report.step * 0.0005, rtol=1e-12)
    rows = run["recorder"].rows
    assert [r["step"] for r in rows] == list(report.step)
    for k, row in enumerate(rows):
        # the force re-solves from its previous solution on each query: equal to rounding
        np.testing.assert_allclose(report.charges[k], row["charges"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(report.shell_displacements[k], row["shells"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(report.dipole[k], row["dipole"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(traj.xyz[k], row["positions"], atol=1e-5)  # DCD float32


def test_dipole_is_charges_times_positions_plus_shells(run):
    report = load_pqeq_report(run["nc"])
    force = run["force"]
    shell_charge = np.array([force.getParticleParameters(i)[4] for i in range(8)])  # -Z_i, e
    for k, row in enumerate(run["recorder"].rows):
        mu = report.charges[k] @ row["positions"] + shell_charge @ report.shell_displacements[k]
        np.testing.assert_allclose(report.dipole[k], mu, rtol=0, atol=1e-12)
    assert np.abs(report.shell_displacements).max() > 0  # shells polarised by the field
    assert abs(report.charges.sum(axis=1)).max() < 1e-10


def test_units_and_derived_quantities(run):
    import netCDF4

    with netCDF4.Dataset(run["nc"]) as nc:
        for name, unit in PQEQ_REPORT_UNITS.items():
            assert nc[name].units == unit
        assert nc["charges"].dimensions == ("frame", "atom")
        assert nc["shell_displacements"].dimensions == ("frame", "atom", "spatial")
        assert nc.dimensions["frame"].isunlimited()
    report = load_pqeq_report(run["nc"])
    assert report.units["dipole_debye"] == "D"
    np.testing.assert_allclose(report.volume, BOX**3, rtol=1e-12)
    np.testing.assert_allclose(report.polarization, report.dipole / BOX**3, rtol=1e-12)
    np.testing.assert_allclose(
        report.polarization_si, report.polarization * 0.1602176634, rtol=1e-12
    )
    debye_per_e_nm = 10.0 / units.DEBYE_TO_E_ANGSTROM  # 48.0320...
    np.testing.assert_allclose(report.dipole_debye, report.dipole * debye_per_e_nm, rtol=1e-12)
    np.testing.assert_allclose(report.field, np.tile([0.0, 0.0, 0.5], (5, 1)), rtol=1e-12)


def test_analysis_helpers(run):
    report = load_pqeq_report(run["nc"])
    by_element = mean_charges(report, run["sim"].topology, by="element")
    assert set(by_element) == {"O", "H", "Na", "Cl"}
    assert by_element["O"][0] < 0 < by_element["H"][0]
    np.testing.assert_allclose(by_element["Na"][0], 1.0, atol=1e-8)  # fragment of its own
    by_residue = mean_charges(report, run["sim"].topology, by="residue")
    np.testing.assert_allclose(by_residue["HOH"][0], 0.0, atol=1e-10)
    time, delta = induced_dipole(report)
    assert delta.shape == (5, 3) and np.all(delta[0] == 0)
    np.testing.assert_array_equal(time, report.time)


def test_refuses_to_overwrite(run):
    path = run["nc"]
    before = _digest(path)
    with pytest.raises(FileExistsError):
        PQEqReporter(path, 4)
    assert _digest(path) == before
    with pytest.raises(ValueError):
        PQEqReporter(path, 4, overwrite=True, append=True)


def test_append_and_overwrite(tmp_path):
    path = tmp_path / "a.nc"
    sim, _ = _simulation()
    sim.reporters.append(PQEqReporter(path, 5))
    sim.step(10)
    sim.reporters[0].close()
    sim.reporters = [PQEqReporter(path, 5, append=True)]
    sim.step(10)
    sim.reporters[0].close()
    np.testing.assert_array_equal(load_pqeq_report(path).step, [5, 10, 15, 20])
    # a non-periodic System of other size cannot append: the file stays as it was
    before = _digest(path)
    other, _ = _simulation(method="NoCutoff")
    bad = PQEqReporter(path, 5, append=True)
    with pytest.raises(ValueError, match="cannot append"):
        bad.report(other, other.context.getState())
    assert _digest(path) == before
    # overwrite=True replaces the file only at the first report
    fresh = PQEqReporter(path, 5, overwrite=True)
    assert _digest(path) == before
    sim.reporters = [fresh]
    sim.step(5)
    fresh.close()
    np.testing.assert_array_equal(load_pqeq_report(path).step, [25])
