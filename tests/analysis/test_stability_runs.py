"""Stability runs (openmm_polarml.openmm.stability, examples/stability_runs.py): the integrity
checker on hand-made geometries, and a short run."""

import json

import mdtraj
import numpy as np
import pytest

from openmm_polarml.analysis.integrity import IntegrityChecker
from openmm_polarml.openmm.stability import StabilitySettings, _box, run_stability
from openmm_polarml.openmm.standard_systems import nacl_crystal


def _run(**settings) -> dict:
    """The summary of :func:`run_stability` with ``settings`` (the command line's names)."""
    return run_stability(StabilitySettings(**settings))


def _two_waters():
    """Topology, positions (nm) and box (nm) of two waters 0.28 nm apart in a 1 nm cube."""
    import openmm.app as app
    import openmm.unit as u

    top = app.Topology()
    chain = top.addChain()
    positions = []
    for k in range(2):
        res = top.addResidue("HOH", chain)
        o = top.addAtom("O", app.Element.getBySymbol("O"), res)
        for name in ("H1", "H2"):
            top.addBond(o, top.addAtom(name, app.Element.getBySymbol("H"), res))
        origin = np.array([0.3 + 0.28 * k, 0.5, 0.5])
        positions += [origin, origin + [0.0, 0.0757, 0.0586], origin + [0.0, -0.0757, 0.0586]]
    top.setUnitCellDimensions((1.0, 1.0, 1.0) * u.nanometer)
    return top, np.array(positions), np.eye(3)


def test_integrity_checker_flags_broken_bonds_and_fused_atoms():
    top, pos, box = _two_waters()
    checker = IntegrityChecker(top, pos, box)
    reason, stats = checker.check(pos, box, 300.0, -1.0)
    assert reason is None
    assert abs(stats["min_distance_A"] - 2.80) < 1e-6  # O...O (and H...H) across the waters

    broken = pos.copy()
    broken[1] = broken[0] + [0.0, 0.0, -0.14]  # O-H 1.4 Å > 1.3 Å
    reason, stats = checker.check(broken, box)
    assert reason is not None and reason.startswith("bond broken: O0-H1")
    assert stats["max_bond_stretch"] > 1.4

    across = pos.copy()  # a bond across the periodic boundary is measured by minimum image
    across[:3, 0] -= 0.28
    across[1, 0] += 1.0  # H1 wrapped to the far side of the box
    assert checker.check(across, box)[0] is None

    fused = pos.copy()
    fused[3:6] += pos[0] + [0.03, 0.0, 0.0] - pos[3]  # second water's O 0.3 Å from the first O
    reason, stats = checker.check(fused, box)
    assert reason is not None and reason.startswith("atoms fused")
    assert stats["min_distance_A"] < 0.31

    assert checker.check(pos, box, 1500.0)[0].startswith("temperature")
    assert checker.check(pos, box, 300.0, float("nan"))[0].startswith("non-finite")


def test_integrity_checker_on_a_crystal_without_bonds():
    top, pos, _ = nacl_crystal()
    box = _box(top)
    checker = IntegrityChecker(top, pos, box)
    assert checker.check(pos, box)[0] is None
    fused = pos.copy()
    fused[1] = fused[0] + [0.05, 0.0, 0.0]
    assert checker.check(fused, box)[0].startswith("atoms fused")


def test_short_nacl_crystal_run_writes_summary(tmp_path):
    settings = dict(systems=("nacl_crystal",), ps=0.01, report_every=2, out=str(tmp_path))
    summary = _run(**settings, min_iterations=5, summary_to=str(tmp_path / "copy.json"))
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == json.loads((tmp_path / "copy.json").read_text())
    entry = on_disk["nacl_crystal"]
    for key in ("atoms", "ps_done", "target_ps", "passed", "failure", "min_distance_A",
                "max_bond_stretch", "mean_T_K", "ns_per_day", "rdf_first_peaks"):  # fmt: skip
        assert key in entry
    assert isinstance(entry["passed"], bool) and entry["atoms"] == 64
    assert entry["passed"] == summary["nacl_crystal"]["passed"]
    assert abs(entry["ps_done"] - 0.01) < 1e-9 or entry["failure"]
    assert set(entry["rdf_first_peaks"]) == {"Na-Cl"}
    for name in ("topology.pdb", "trajectory.dcd", "state.csv", "checkpoint.chk"):
        assert (tmp_path / "nacl_crystal" / name).stat().st_size > 0
    assert (tmp_path / "rdfs.png").exists()


def test_run_continues_from_its_checkpoint_and_refuses_other_settings(tmp_path):
    base = dict(systems=("nacl_crystal",), report_every=2, out=str(tmp_path), min_iterations=5)
    _run(**base, ps=0.008)
    first = json.loads((tmp_path / "nacl_crystal" / "progress.json").read_text())
    assert first["steps"] == 4 and first["dtype"] == "float32" and first["model_sha256"]
    _run(**base, ps=0.016)
    second = json.loads((tmp_path / "nacl_crystal" / "progress.json").read_text())
    assert second["steps"] == 8 and second["failure"] is None
    folder = tmp_path / "nacl_crystal"
    trajectory = mdtraj.load_dcd(str(folder / "trajectory.dcd"), top=str(folder / "topology.pdb"))
    assert trajectory.n_frames == 5  # step 0 and one frame per report, none repeated on resume
    summary = _run(**base, ps=0.05, analyse_only=True)  # a stopped run, analysed
    third = json.loads((tmp_path / "nacl_crystal" / "progress.json").read_text())
    assert third["steps"] == 8 and set(third["rdf"]) == {"Na-Cl"}
    assert summary["nacl_crystal"]["status"] == "incomplete"
    with pytest.raises(SystemExit, match="dt_fs: 2.0 -> 1.0.*--fresh"):
        _run(**base, ps=0.024, dt_fs=1.0)
    with pytest.raises(SystemExit, match="dtype: float32 -> float64"):
        _run(**base, ps=0.024, dtype="float64")
    assert third["pqeq_method"] == "pme"
    with pytest.raises(SystemExit, match="pqeq_method: pme -> ewald"):
        _run(**base, ps=0.024, pqeq_method="ewald")
    # a run recorded before the setting existed used explicit-k Ewald
    del third["pqeq_method"]
    (folder / "progress.json").write_text(json.dumps(third))
    with pytest.raises(SystemExit, match="pqeq_method: ewald -> pme"):
        _run(**base, ps=0.024)


def test_integrity_checker_flags_hydrogens_of_two_molecules_in_contact():
    from openmm_polarml.analysis.integrity import H_CONTACT_MIN_NM

    top, pos, box = _two_waters()
    checker = IntegrityChecker(top, pos, box)
    assert checker.check(pos, box)[1]["min_hh_A"] > 2.0
    frames = [pos]
    for gap in (0.14, 0.10):  # H1 of the second water `gap` nm from H1 of the first, O...O 0.35+ nm
        moved = pos.copy()
        moved[3:6] += pos[1] + [gap, 0.0, 0.0] - pos[4]
        frames.append(moved)
    reason, stats = checker.check(frames[1], box)
    assert reason is None and abs(stats["min_hh_A"] - 1.4) < 1e-9  # above the 1.3 Å limit
    reason, stats = checker.check(frames[2], box)
    assert reason == f"H...H contact: H1-H4 at 1.00 A (limit {H_CONTACT_MIN_NM * 10:.2f} A)"
    assert stats["min_distance_A"] < 1.01  # the covalent-radius test alone passes this frame
    # within one molecule the two hydrogens are 1-3 bonded: never a contact
    assert np.linalg.norm(pos[1] - pos[2]) < 0.16 and checker.hh[1, 2] == False  # noqa: E712
    assert [checker.check(f, box)[0] for f in frames] == [None, None, reason]


def test_recheck_records_the_first_frame_a_new_criterion_fails(tmp_path, monkeypatch):
    from openmm_polarml.analysis import integrity

    base = dict(systems=("nacl_crystal",), report_every=2, out=str(tmp_path), min_iterations=5,
                ps=0.008)  # fmt: skip
    assert _run(**base)["nacl_crystal"]["status"] == "passed"
    assert _run(**base, analyse_only=True, recheck=True)["nacl_crystal"]["status"] == "passed"
    # a stricter contact criterion than the run had: every Na-Cl pair (2.8 Å) is now "fused"
    monkeypatch.setattr(integrity, "FUSED_FRACTION", 2.0)
    summary = _run(**base, analyse_only=True, recheck=True)["nacl_crystal"]
    assert summary["status"] == "failed" and summary["failure_step"] == 0
    assert summary["failure"].startswith("atoms fused") and "recheck" in summary["failure"]
    assert summary["min_hh_A"] is None  # no hydrogens


def test_kcl_aq_is_two_molar_potassium_chloride_with_a_k_o_reference_peak():
    from openmm_polarml.analysis.stability import REFERENCE_PEAKS
    from openmm_polarml.openmm.standard_systems import kcl_aq

    topology, positions, pairs = kcl_aq()
    residues = [r.name for r in topology.residues()]
    n_k, n_cl, n_water = residues.count("K"), residues.count("CL"), residues.count("HOH")
    assert n_k == n_cl > 0 and "NA" not in residues
    molality = n_k / (n_water * 18.015e-3)  # mol per kg of water
    assert 1.6 < molality < 2.6  # 2 mol/L of solution, as Modeller counts it
    assert positions.shape == (topology.getNumAtoms(), 3)
    assert set(pairs) == {"K-O", "Cl-O", "O-O"} and all(k in REFERENCE_PEAKS for k in pairs)
