"""Study: proton transfer in the protonated water dimer H₅O₂⁺ at a stretched O–O distance.

Reaction coordinate δ = d(O₁–H*) − d(O₂–H*) for the shared proton H*, with the O–O distance
held at ``--oo`` (2.6 Å by default, where the transfer has a small double-well barrier):

1. relaxed scans E(δ) (all other coordinates minimised at fixed δ and O–O, ASE
   ``FixInternals``, BFGS to 0.01 eV/Å) by the model (``gfn2`` head, total charge +1) and by
   GFN2-xTB itself (tblite 0.8.0 in the label interpreter ``.venv-labels``), from the same start;
2. the model's free-energy profile F(δ) at 300 K from well-tempered metadynamics in OpenMM
   (``openmm.app.Metadynamics``, Langevin 1/ps, 0.5 fs; the O–O distance restrained
   harmonically at the same value), resumable: the bias files and an MD checkpoint live in
   ``--out``, and rerunning continues.

Barriers come from :func:`openmm_polarml.analysis.free_energy.profile_barrier`. Outputs in
``--out`` (default ``runs/studies/proton_transfer``): ``proton_transfer.json`` and
``proton_transfer.png``; ``--publish DIR`` copies both.

Run: ``python examples/study_proton_transfer.py [--ps 20] [--oo 2.6]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DELTAS_A = np.round(np.arange(-0.8, 0.801, 0.1), 3)
O1, SHARED, O2 = 0, 1, 4  # atom indices in zundel(): O1 H* H H O2 H H (molecule order)


def zundel(oo: float, delta: float = -0.6):
    """Staggered H₅O₂⁺ (D2d without H*) along x with H* on the O–O axis at ``delta`` (Å);
    charge +1 in ``info``. The S4 axis along x maps δ to −δ, so E(δ) = E(−δ)."""
    from ase import Atoms

    half = oo / 2
    positions = [
        (-half, 0, 0), (delta / 2, 0.0, 0.0),
        (-half - 0.33, 0.91, 0.0), (-half - 0.33, -0.91, 0.0),
        (half, 0, 0), (half + 0.33, 0.0, 0.91), (half + 0.33, 0.0, -0.91),
    ]  # fmt: skip
    atoms = Atoms("OH3OH2", positions=positions)
    atoms.info["charge"] = 1.0
    return atoms


def relaxed_scan(calc, oo: float, structures: list | None = None) -> list[float]:
    """Energies (eV) of the relaxed scan over :data:`DELTAS_A`: each point relaxed from the
    staggered start with H* placed at its δ (no walking, so no conformer hysteresis); the
    relaxed structures are appended to ``structures`` when given."""
    from ase.constraints import FixInternals
    from ase.optimize import BFGS

    energies = []
    for delta in DELTAS_A:
        atoms = zundel(oo, float(delta))
        atoms.set_constraint(FixInternals(
            bonds=[[oo, [O1, O2]]],
            bondcombos=[[float(delta), [[O1, SHARED, 1.0], [O2, SHARED, -1.0]]]],
        ))  # fmt: skip
        atoms.calc = calc
        if not BFGS(atoms, logfile=None).run(fmax=0.01, steps=400):
            raise RuntimeError(f"relaxation at delta {delta:+.2f} A not converged")
        energies.append(float(atoms.get_potential_energy()))
        if structures is not None:
            structures.append(atoms.copy())
    return energies


def gfn2_scan(oo: float, out: Path) -> list[float]:
    """GFN2-xTB's relaxed scan, from this script in the label interpreter."""
    from openmm_polarml.data.teachers import label_python

    target = out / "gfn2_scan.json"
    if not target.exists():
        cmd = [str(label_python()), __file__, "--worker", str(target), "--oo", str(oo)]
        subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), check=True)
    return json.loads(target.read_text())


def metadynamics(args, out: Path, start) -> dict:
    """Well-tempered metadynamics of δ with the model from ``start`` (ase.Atoms, the model's
    relaxed structure at δ = −0.4 Å); F(δ) in kJ/mol on a grid (resumable)."""
    import openmm
    import openmm.app as app
    import openmm.unit as u

    from openmm_polarml.openmm import PolarMLPotential
    from openmm_polarml.openmm.resumable import ResumableRun, load_progress, run_resumable
    from openmm_polarml.openmm.topology import topologyFromAtoms
    from openmm_polarml.units import ANGSTROM_TO_NM

    atoms = start
    topology = topologyFromAtoms(atoms)
    positions = atoms.positions * ANGSTROM_TO_NM
    system = PolarMLPotential(args.model, head="gfn2").createSystem(
        topology, totalCharge=1, positions=positions
    )
    restraint = openmm.CustomBondForce("0.5*k_oo*(r-r_oo)^2")
    restraint.addGlobalParameter("k_oo", 2.0e5)  # kJ/mol/nm²
    restraint.addGlobalParameter("r_oo", args.oo * ANGSTROM_TO_NM)
    restraint.addBond(O1, O2)
    system.addForce(restraint)
    cv = openmm.CustomCompoundBondForce(3, "distance(p1,p3)-distance(p2,p3)")  # nm
    cv.addBond([O1, O2, SHARED])
    bias = app.BiasVariable(cv, -0.1, 0.1, 0.005, gridWidth=201)
    bias_dir = out / "bias"
    bias_dir.mkdir(parents=True, exist_ok=True)
    meta = app.Metadynamics(system, [bias], 300 * u.kelvin, 6.0, 0.4 * u.kilojoule_per_mole,
                            100, saveFrequency=1000, biasDir=str(bias_dir))  # fmt: skip
    integrator = openmm.LangevinMiddleIntegrator(300, 1.0, 0.0005)
    integrator.setRandomNumberSeed(args.seed)
    sim = app.Simulation(topology, system, integrator, openmm.Platform.getPlatformByName("CPU"),
                         {"Threads": "1"})  # fmt: skip
    sim.context.setPositions(positions)
    if load_progress(out / "md")["frames"] == 0:  # a fresh start from the relaxed structure
        sim.context.setVelocitiesToTemperature(300, args.seed)
    steps = int(round(args.ps * 1000 / 0.5))
    run = ResumableRun(sim, out / "md", steps, 1000, "H5O2+ metadynamics",
                       advance=lambda n: meta.step(sim, n))  # fmt: skip
    progress = run_resumable(run)
    failure = check_complex(out / "md", topology, args.oo)
    if failure:
        return {"failure": failure, "simulated_ps": progress["steps"] * 0.5e-3}
    grid = np.linspace(-1.0, 1.0, 201)  # Å
    free = np.asarray(meta.getFreeEnergy().value_in_unit(u.kilojoule_per_mole))
    return {"delta_A": grid.tolist(), "free_energy_kj_mol": (free - free.min()).tolist(),
            "simulated_ps": progress["steps"] * 0.5e-3, "ns_per_day": progress.get("ns_per_day")}  # fmt: skip


def check_complex(folder: Path, topology, oo: float) -> str | None:
    """Why the MD is not a proton-transfer trajectory (None when it is): every other hydrogen
    within 1.3 Å of an oxygen, the shared one within O–O/2 + 0.3 Å (it passes the midpoint),
    and δ inside the bias range (±1 Å), in every frame."""
    import mdtraj

    traj = mdtraj.load_dcd(str(folder / "trajectory.dcd"),
                           top=mdtraj.Topology.from_openmm(topology))  # fmt: skip
    x = traj.xyz * 10.0  # Å, [frames, atoms, 3]
    hydrogens = [a.index for a in traj.topology.atoms if a.element.symbol == "H"]
    to_o = np.minimum(np.linalg.norm(x[:, hydrogens] - x[:, [O1]], axis=-1),
                      np.linalg.norm(x[:, hydrogens] - x[:, [O2]], axis=-1))  # fmt: skip
    limit = np.array([oo / 2 + 0.3 if h == SHARED else 1.3 for h in hydrogens])
    broken = to_o > limit  # [frames, hydrogens]
    if broken.any():
        frame = int(np.argmax(broken.any(axis=1)))  # the first frame that breaks
        k = int(np.argmax(broken[frame]))
        return (f"hydrogen {hydrogens[k]} left the complex ({to_o[frame, k]:.2f} Å from both O) "
                f"at frame {frame}")  # fmt: skip
    delta = np.linalg.norm(x[:, SHARED] - x[:, O1], axis=-1) - np.linalg.norm(
        x[:, SHARED] - x[:, O2], axis=-1
    )
    if np.abs(delta).max() > 1.0:
        return f"δ left the bias range (|δ| up to {np.abs(delta).max():.2f} Å)"
    return None


def plot(summary: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    from openmm_polarml.units import EV_TO_KJ_PER_MOL

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for key, label in (
        ("gfn2_scan_eV", "GFN2-xTB relaxed scan"),
        ("model_scan_eV", "model relaxed scan"),
    ):
        e = np.array(summary[key]) * EV_TO_KJ_PER_MOL
        ax.plot(DELTAS_A, e - e.min(), "o-", label=label)
    md = summary.get("metadynamics")
    if md and "failure" not in md:
        ax.plot(md["delta_A"], md["free_energy_kj_mol"], "-", label=f"model F(δ), 300 K ({md['simulated_ps']:.0f} ps)")  # fmt: skip
    ax.set(xlabel="δ = d(O₁H*) − d(O₂H*) / Å", ylabel="kJ/mol", ylim=(-2, 60),
           title=f"H₅O₂⁺ proton transfer, O–O {summary['oo_A']} Å")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--oo", type=float, default=2.6, help="O–O distance (Å)")
    p.add_argument("--ps", type=float, default=20.0, help="metadynamics length (ps); 0 skips it")
    p.add_argument("--model", default="foundation")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "runs/studies/proton_transfer"))
    p.add_argument("--publish", default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:  # label interpreter: GFN2-xTB
        from tblite.ase import TBLite

        calc = TBLite(method="GFN2-xTB", charge=1.0, verbosity=0)
        Path(args.worker).write_text(json.dumps(relaxed_scan(calc, args.oo)))
        return 0
    import torch

    from openmm_polarml.analysis.free_energy import profile_barrier
    from openmm_polarml.calculators import PolarMLCalculator
    from openmm_polarml.units import EV_TO_KJ_PER_MOL

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gfn2 = gfn2_scan(args.oo, out)
    structures: list = []
    calc = PolarMLCalculator(args.model, head="gfn2", dtype="float64")
    model = relaxed_scan(calc, args.oo, structures)
    summary = {"oo_A": args.oo, "delta_A": DELTAS_A.tolist(), "gfn2_scan_eV": gfn2,
               "model_scan_eV": model, "model": args.model, "head": "gfn2"}  # fmt: skip
    for key in ("gfn2_scan_eV", "model_scan_eV"):
        e = np.array(summary[key]) * EV_TO_KJ_PER_MOL
        summary[key.replace("_eV", "_barrier_kj_mol")] = profile_barrier(DELTAS_A, e - e.min())
    if args.ps > 0:
        start = structures[int(np.argmin(np.abs(DELTAS_A + 0.4)))]
        start.set_constraint()
        summary["metadynamics"] = md = metadynamics(args, out, start)
    if args.ps > 0 and "failure" in md:
        print(f"[proton transfer] metadynamics failed: {md['failure']}")
    elif args.ps > 0:
        window = np.abs(np.array(md["delta_A"])) <= 0.8
        summary["metadynamics_barrier_kj_mol"] = profile_barrier(
            np.array(md["delta_A"])[window], np.array(md["free_energy_kj_mol"])[window]
        )
    for key in (
        "gfn2_scan_barrier_kj_mol",
        "model_scan_barrier_kj_mol",
        "metadynamics_barrier_kj_mol",
    ):
        if key in summary:
            b = summary[key]
            print(f"{key:30s} forward {b['forward']:6.2f}  reverse {b['reverse']:6.2f} kJ/mol  "
                  f"minima at {b['left_min']:+.2f} / {b['right_min']:+.2f} Å")  # fmt: skip
    (out / "proton_transfer.json").write_text(json.dumps(summary, indent=1))
    plot(summary, out / "proton_transfer.png")
    if args.publish:
        Path(args.publish).mkdir(parents=True, exist_ok=True)
        for name in ("proton_transfer.json", "proton_transfer.png"):
            shutil.copyfile(out / name, Path(args.publish) / name)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
