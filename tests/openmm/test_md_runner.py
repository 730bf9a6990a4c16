"""``polarml md``: a structure file in, trajectory, charges and final structure out."""

import re

import numpy as np
import pytest
from ase import Atoms

pytest.importorskip("openmm")

from openmm_polarml.cli import main  # noqa: E402
from openmm_polarml.openmm.md_runner import MDSettings, read_structure  # noqa: E402


def _water_pair(path):
    import ase.io

    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    other = water.copy()
    other.positions += [2.9, 0.2, 0.1]
    ase.io.write(str(path), water + other)
    return water + other


def test_md_verb_writes_trajectory_charges_and_final_structure(tmp_path, capsys):
    import mdtraj

    structure = tmp_path / "dimer.xyz"
    atoms = _water_pair(structure)
    out = tmp_path / "md"
    code = main([
        "--threads", "1", "md", str(structure), "--out", str(out), "--model", "small_demo",
        "--steps", "6", "--report", "3", "--timestep", "0.5", "--field", "0", "0", "1.0",
        "--platform", "Reference", "--minimize-steps", "3",
    ])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "6 steps done" in printed and "Progress" in printed
    before, after = re.search(r"potential energy (\S+) -> (\S+) kJ/mol", printed).groups()
    assert float(after) < float(before)  # the start structure was relaxed first
    trajectory = mdtraj.load(str(out / "trajectory.dcd"), top=str(out / "final.pdb"))
    assert trajectory.n_frames == 2 and trajectory.n_atoms == len(atoms)
    import netCDF4

    with netCDF4.Dataset(str(out / "charges.nc")) as nc:
        charges = np.asarray(nc.variables["charges"][:])
    assert charges.shape == (2, len(atoms)) and abs(charges.sum(axis=1)).max() < 1e-6


def test_md_settings_and_inputs_are_checked(tmp_path):
    with pytest.raises(ValueError, match="ensemble must be one of"):
        MDSettings(ensemble="nph").check()
    with pytest.raises(ValueError, match=r"timestep must lie in \(0, 5\] fs"):
        MDSettings(timestep_fs=10.0).check()
    with pytest.raises(ValueError, match="minimisation steps must be >= 0"):
        MDSettings(minimize_steps=-1).check()
    with pytest.raises(FileNotFoundError, match="no structure file"):
        read_structure(tmp_path / "missing.pdb")
    structure = tmp_path / "dimer.xyz"
    _water_pair(structure)
    with pytest.raises(ValueError, match="NPT needs a periodic structure"):
        from openmm_polarml.openmm.md_runner import run_md

        run_md(structure, tmp_path / "o", MDSettings(ensemble="npt", model="small_demo"))
