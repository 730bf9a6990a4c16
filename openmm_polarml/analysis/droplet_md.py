"""Droplet MD with ASE, the same protocol for the model and for its reference method.

Gas-phase droplets (:data:`SYSTEMS`: 24 waters, Na⁺ or Cl⁻ + 24 waters, seeded packing) run
Langevin NVT at 300 K (friction 0.01 fs⁻¹, 1 fs, H mass 2 amu, centre of mass fixed) from a
Maxwell–Boltzmann start; a frame every 5 fs goes to an ASE trajectory, and a run resumes from
its last stored frame. :func:`run_md` imports only numpy and ase, so the label interpreter runs
it with GFN2-xTB (tblite); :func:`run_system` runs the model here and GFN2-xTB there, then
:func:`openmm_polarml.analysis.droplet_rdf.analyse` takes the first peaks. Distances in Å.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import Trajectory, read, write

__all__ = [
    "WATERS",
    "SYSTEMS",
    "TEMPERATURE_K",
    "TIMESTEP_FS",
    "FRICTION_PER_FS",
    "H_MASS_AMU",
    "FRAME_EVERY",
    "EQUILIBRATION_PS",
    "gfn2_calculator",
    "run_md",
    "build_droplet",
    "run_system",
    "model_record",
]

#: waters per droplet; system -> None (water) or (ion, charge in e)
WATERS = 24

SYSTEMS = {"water24": None, "na_water24": ("Na", 1), "cl_water24": ("Cl", -1)}

#: K, fs, 1/fs, amu; a frame every FRAME_EVERY steps; the first EQUILIBRATION_PS ps dropped
TEMPERATURE_K, TIMESTEP_FS, FRICTION_PER_FS, H_MASS_AMU = 300.0, 1.0, 0.01, 2.0

FRAME_EVERY, EQUILIBRATION_PS = 5, 0.5


def gfn2_calculator(charge: int):
    """tblite's GFN2-xTB ASE calculator for a closed-shell droplet of ``charge`` (e)."""
    from tblite.ase import TBLite

    # closed-shell droplets (water, Na⁺ or Cl⁻ in water): singlet
    return TBLite(method="GFN2-xTB", charge=charge, multiplicity=1, verbosity=0)


def run_md(initial: Path, calc, traj_path: Path, steps: int, seed: int) -> None:
    """Langevin NVT from ``initial`` (or the last frame of ``traj_path``) until ``steps``."""
    import ase.units as u
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    done = len(Trajectory(str(traj_path))) - 1 if traj_path.exists() else -1
    atoms = read(str(traj_path), index=-1) if done >= 0 else read(str(initial))
    masses = atoms.get_masses()
    masses[atoms.numbers == 1] = H_MASS_AMU
    atoms.set_masses(masses)
    if done < 0:
        thermalize_momenta(atoms, TEMPERATURE_K, rng=np.random.default_rng(seed))
        Stationary(atoms)  # no centre-of-mass drift: the droplet stays put
        done = 0
    atoms.info["charge"] = int(read(str(initial)).info.get("charge", 0))
    atoms.set_constraint(FixCom())
    atoms.calc = calc
    remaining = steps - done * FRAME_EVERY
    if remaining <= 0:
        return
    dyn = Langevin(atoms, TIMESTEP_FS * u.fs, temperature_K=TEMPERATURE_K, fixcm=False,
                   friction=FRICTION_PER_FS / u.fs, rng=np.random.default_rng(seed + done))  # fmt: skip
    dyn.nsteps = done * FRAME_EVERY  # resumed: the stored last frame is not written again
    with Trajectory(str(traj_path), "a", atoms) as traj:
        dyn.attach(traj.write, interval=FRAME_EVERY)
        dyn.attach(lambda: _report(traj_path, dyn, steps), interval=250)
        dyn.run(remaining)


def _report(traj_path: Path, dyn, steps: int) -> None:
    """One progress line: system, engine, step and temperature (K)."""
    step, t = dyn.nsteps, dyn.atoms.get_temperature()
    print(f"{traj_path.parent.name:12s} {traj_path.stem:6s} step {step:6d}/{steps}  T {t:6.1f} K",
          flush=True)  # fmt: skip


def build_droplet(system: str, seed: int):
    """The seeded droplet of ``system`` (Å, ``info["charge"]`` in e)."""
    from openmm_polarml.data.molecules import WATER, _sphere_radius, pack

    ion = SYSTEMS[system]
    molecules = ([] if ion is None else [Atoms(ion[0])]) + [WATER] * WATERS
    droplet = pack(molecules, np.random.default_rng(seed), radius=_sphere_radius(len(molecules)))
    if droplet is None:
        raise RuntimeError(f"could not pack {system} (seed {seed}): try another --seed")
    droplet.info["charge"] = 0 if ion is None else ion[1]
    return droplet


def run_system(
    system: str, out: Path, steps: int, seed: int, threads: int, worker_script: str | Path
) -> dict:
    """Both engines' MD of ``system`` in ``out/<system>/`` (resumable) and their first peaks.

    The model runs here (``threads`` − 1 torch threads); GFN2-xTB runs at the same time in the
    label interpreter as ``worker_script --worker <folder> --steps <steps> --seed <seed>``,
    which calls :func:`run_md` with :func:`gfn2_calculator`. Returns
    ``{"model": peaks, "gfn2": peaks}`` (:func:`~openmm_polarml.analysis.droplet_rdf.analyse`).
    """
    import torch

    from openmm_polarml.analysis.droplet_rdf import analyse
    from openmm_polarml.calculators import PolarMLCalculator
    from openmm_polarml.data.teachers import label_python

    folder = out / system
    folder.mkdir(parents=True, exist_ok=True)
    initial = folder / "initial.extxyz"
    if not initial.exists():
        write(str(initial), build_droplet(system, seed))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    worker = subprocess.Popen([str(label_python()), str(worker_script), "--worker", str(folder),
                               "--steps", str(steps), "--seed", str(seed)], env=env)  # fmt: skip
    torch.set_num_threads(max(1, threads - 1))
    run_md(
        initial, PolarMLCalculator("foundation", head="gfn2"), folder / "model.traj", steps, seed
    )
    if worker.wait() != 0:
        raise RuntimeError(f"the GFN2-xTB run of {system} failed (exit {worker.returncode})")
    return {engine: analyse(folder / f"{engine}.traj") for engine in ("model", "gfn2")}


def model_record() -> dict:
    """The shipped model as these runs used it (the card keeps only runs of its own model file)."""
    from openmm_polarml.calculators import PolarMLCalculator
    from openmm_polarml.openmm.artifacts import model_fingerprint

    model = PolarMLCalculator("foundation", head="gfn2").model
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    return {"model_sha256": model_fingerprint(model), "head": "gfn2", "dtype": dtype}
