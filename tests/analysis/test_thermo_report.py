"""StateDataReporter CSV parsing, drift and temperature statistics, and the end-to-end report."""

import mdtraj
import numpy as np
import openmm
import openmm.app as app
import pytest

from openmm_polarml import units
from openmm_polarml.analysis import (
    analyse_md,
    energy_drift,
    format_summary,
    read_state_csv,
    temperature_stats,
)


def test_reads_openmm_state_data_reporter_output(tmp_path):
    """A real reporter file: two particles on a harmonic bond, NVE."""
    system = openmm.System()
    for _ in range(2):
        system.addParticle(12.0)
    bond = openmm.HarmonicBondForce()
    bond.addBond(0, 1, 0.15, 1000.0)
    system.addForce(bond)
    top = app.Topology()
    res = top.addResidue("X", top.addChain())
    for _ in range(2):
        top.addAtom("C", app.element.carbon, res)
    sim = app.Simulation(
        top, system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference")
    )
    sim.context.setPositions([openmm.Vec3(0, 0, 0), openmm.Vec3(0.16, 0, 0)])
    path = tmp_path / "state.csv"
    reporter = app.StateDataReporter(
        str(path),
        5,
        step=True,
        time=True,
        potentialEnergy=True,
        kineticEnergy=True,
        totalEnergy=True,
        temperature=True,
        speed=True,
    )
    sim.reporters.append(reporter)
    sim.step(50)
    sim.reporters.clear()
    del reporter
    data = read_state_csv(path)
    assert np.array_equal(data["step"], np.arange(5, 51, 5))
    assert np.allclose(data["time_ps"], data["step"] * 0.001)
    assert np.allclose(
        data["total_kj_mol"], data["potential_kj_mol"] + data["kinetic_kj_mol"], atol=1e-6
    )
    assert np.all(data["temperature_k"] > 0) and "speed_ns_day" in data
    drift = energy_drift(data["time_ps"], data["total_kj_mol"], 2)
    assert abs(drift["drift_mev_per_atom_per_ps"]) < 50.0  # 0.1 kJ/mol bond, tiny drift


def test_energy_drift_and_temperature_stats_of_synthetic_series():
    t = np.linspace(0.0, 2.0, 201)  # ps
    n_atoms = 10
    slope = 3.0  # meV/atom/ps
    e = (-500.0 + slope * 1e-3 * n_atoms * t) * units.EV_TO_KJ_PER_MOL  # kJ/mol
    e = e + 1e-3 * n_atoms * units.EV_TO_KJ_PER_MOL * 0.5 * np.sin(40 * t)  # ±0.5 meV/atom
    d = energy_drift(t, e, n_atoms)
    assert d["drift_mev_per_atom_per_ps"] == pytest.approx(slope, abs=0.05)
    assert d["fluctuation_mev_per_atom"] == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
    temps = np.concatenate([np.full(10, 1000.0), 300.0 + 10.0 * np.array([1, -1] * 45)])
    s = temperature_stats(temps, skip_fraction=0.1)
    assert s["mean_k"] == pytest.approx(300.0) and s["std_k"] == pytest.approx(10.0)
    assert s["max_k"] == 310.0


def _write_run(tmp_path, n_frames=40):
    """A vibrating + drifting NaCl 2x2x2 'run': PDB, DCD, CSV and charges with known answers."""
    from ase.build import bulk

    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)
    top = mdtraj.Topology()
    chain = top.add_chain()
    for s in atoms.get_chemical_symbols():
        top.add_atom(s.upper(), mdtraj.element.get_by_symbol(s), top.add_residue(s.upper(), chain))
    rng = np.random.default_rng(0)
    x = atoms.positions / 10 + 0.0005 * rng.normal(size=(n_frames, len(atoms), 3))  # nm
    sodium = np.array(atoms.get_chemical_symbols()) == "Na"
    x[:, sodium] += 0.001 * np.arange(n_frames)[:, None, None] * np.array([1.0, 0.0, 0.0])
    traj = mdtraj.Trajectory(x.astype(np.float32), top)
    traj.unitcell_vectors = np.repeat(atoms.cell.array[None] / 10, n_frames, axis=0)
    traj[0].save_pdb(str(tmp_path / "top.pdb"))
    traj.save_dcd(str(tmp_path / "traj.dcd"))
    time = 0.01 * np.arange(1, n_frames + 1)  # ps
    temp = 300.0 + 5.0 * np.sin(time * 50)
    total = -1000.0 + 0.0 * time
    rows = [
        '#"Step","Time (ps)","Potential Energy (kJ/mole)","Total Energy (kJ/mole)",'
        '"Temperature (K)"'
    ]
    rows += [
        f"{10 * (k + 1)},{t},{e - 50.0},{e},{tk}"
        for k, (t, e, tk) in enumerate(zip(time, total, temp, strict=True))
    ]
    (tmp_path / "state.csv").write_text("\n".join(rows) + "\n")
    q = np.where(sodium, 0.9, -0.9)[None] + 0.01 * rng.normal(size=(n_frames, len(atoms)))
    np.savez(tmp_path / "charges.npz", time_ps=time, charges=q)
    return tmp_path


def test_analyse_md_end_to_end(tmp_path):
    run = _write_run(tmp_path)
    s = analyse_md(
        run / "traj.dcd",
        run / "top.pdb",
        run / "state.csv",
        charges=run / "charges.npz",
        figure=run / "md.png",
        equilibration_csv=run / "state.csv",
        frame_interval_ps=0.01,
    )
    assert s["n_atoms"] == 64 and s["n_frames"] == 40
    assert s["rdf_first_peaks"]["Cl-Na"]["r_angstrom"] == pytest.approx(2.82, abs=0.1)
    assert s["rdf_first_peaks"]["Cl-Cl"]["r_angstrom"] == pytest.approx(3.99, abs=0.1)
    assert s["temperature"]["mean_k"] == pytest.approx(300.0, abs=1.0)
    assert abs(s["energy"]["drift_mev_per_atom_per_ps"]) < 1e-9
    # Na drifts 0.01 Å per frame; the mass-weighted COM moves with it, so relative to the COM
    # Na moves 0.01 m_Cl / (m_Na + m_Cl) Å per frame (equal numbers of Na and Cl)
    m_na, m_cl = 22.98977, 35.453
    v_na = 0.01 * m_cl / (m_na + m_cl)  # Å per frame
    assert s["msd_angstrom2"]["Na"] == pytest.approx((20 * v_na) ** 2, rel=0.05)
    assert s["charges_e"]["Na"]["mean"] == pytest.approx(0.9, abs=0.01)
    assert (run / "md.png").stat().st_size > 10_000
    table = format_summary(s)
    assert "Cl-Na" in table and "meV/atom/ps" in table
