"""Resumable NVT stability runs of the shipped model, with RDF first peaks against references.

Systems: ``water64`` (64 waters, 1.0 g/cm³), ``nacl_aq`` (1 M NaCl(aq), 1.6 nm box),
``alanine_dipeptide_aq`` (ACE-ALA-NME in a 1.6 nm water box), ``nacl_crystal`` (rocksalt 2x2x2,
a = 5.64 Å) and ``baTiO3`` (cubic perovskite 3x3x3, a = 4.00 Å). Liquid boxes come from
``openmm.app.Modeller``, relaxed with AMBER14/TIP3P (Modeller leaves ~1.3 Å O–H contacts at the
periodic seams). ``PolarMLPotential(model, head).createSystem(topology)``, a short minimisation,
then Langevin NVT at 300 K (1/ps) up to ``--ps``: 1 fs with hydrogens at 2 amu (mass repartitioned from
the bonded heavy atom; 0.5 fs with ``--hydrogen-mass 0``), 2 fs without H; the network in float32
(``--dtype``); PQEq's lattice sum by smooth PME (``--pqeq-method``; runs recorded without the
setting used explicit-k Ewald, the same sum to the same error tolerance). Every report
writes ``trajectory.dcd`` and ``state.csv``, checks the structure and saves ``checkpoint.chk``
atomically; re-running the same command continues from the checkpoint.

Integrity checks (:mod:`openmm_polarml.analysis.integrity`; a system stops at the first
failure; its step and reason are recorded):

- no bond broken: every Topology bond shorter than 1.3x its initial length (water O–H: 0.13 nm);
- no atoms fused: every pair that is not 1-2 or 1-3 bonded farther apart (minimum image) than
  0.6x the sum of the covalent radii (``ase.data.covalent_radii``);
- no H···H contact: hydrogens that are not 1-2 or 1-3 bonded at least 1.3 Å apart;
- temperature below 1000 K and a finite potential energy.

``--analyse-only --recheck`` replays a stored trajectory through these checks and records the
first failing frame (for runs made before a criterion existed).

At the end, RDF first peaks (first 20 % of the frames dropped) are compared with
:data:`REFERENCE_PEAKS`. These are EXPERIMENTAL / STRUCTURAL references (X-ray and neutron
scattering of the liquids, experimental lattice constants of the crystals), NOT RDFs from GFN2
or PBE molecular dynamics. In the fixed NVT cells the crystal peaks mostly check that the lattice
neither melts nor reconstructs.

Outputs: ``<out>/<system>/`` (``topology.pdb``, ``initial.npy``, ``trajectory.dcd``,
``state.csv``, ``checkpoint.chk``, ``progress.json``, ``rdf.npz``, ``failure.pdb`` on failure),
``<out>/summary.json`` and ``<out>/rdfs.png``.

Run: ``python examples/stability_runs.py [--systems water64,nacl_crystal] [--ps 20]
[--model foundation] [--threads 1] [--out runs/stability] [--summary-to PATH] [--fresh]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import time
from pathlib import Path

import mdtraj
import numpy as np
import openmm
import openmm.app as app
import openmm.unit as u
import torch
from ase import Atoms
from ase.build import bulk
from openmm.app.dcdfile import DCDFile

from openmm_polarml import units
from openmm_polarml.analysis import compute_rdfs, element_pairs, first_peak, load_trajectory
from openmm_polarml.analysis.integrity import IntegrityChecker
from openmm_polarml.openmm import PolarMLPotential
from openmm_polarml.openmm.artifacts import model_fingerprint
from openmm_polarml.openmm.topology import topologyFromAtoms

_OR = "Ohtaki & Radnai, Chem. Rev. 93, 1157 (1993)"
_KWEI = "Kwei et al., J. Phys. Chem. 97, 2368 (1993)"
#: RDF label -> (experimental first-peak position in Å, citation)
REFERENCE_PEAKS = {
    "O-O": (2.80, "liquid water, X-ray: Skinner et al., J. Chem. Phys. 138, 074506 (2013)"),
    "O-H inter": (1.85, "liquid water O...H, X-ray+neutron: Soper, ISRN Phys. Chem. 279463 (2013)"),
    "Na-O": (2.41, f"Na+ hydration shell, 2.38-2.45 A: {_OR}"),
    "Cl-O": (3.18, f"Cl- hydration shell, 3.16-3.20 A: {_OR}"),
    "Na-Cl": (2.82, "rocksalt NaCl, a/2 with the experimental a = 5.64 A (room temperature)"),
    "Ti-O": (2.00, f"cubic BaTiO3, a/2 with a = 4.00 A: {_KWEI}"),
    "Ba-O": (2.83, f"cubic BaTiO3, a/sqrt(2) with a = 4.00 A: {_KWEI}"),
}
EQUILIBRATION_FRACTION = 0.2


# -- systems: builders return (topology, positions [n, 3] nm, {label: (A, B, intermolecular)}) --
def mm_relax(topology, positions, forcefield=None, iterations: int = 500) -> np.ndarray:
    """Positions (nm) minimised with AMBER14/TIP3P (rigid water, PME, 0.55 nm cutoff)."""
    ff = forcefield or app.ForceField("amber14/tip3p.xml")
    system = ff.createSystem(topology, nonbondedMethod=app.PME, nonbondedCutoff=0.55 * u.nanometer)
    platform = openmm.Platform.getPlatformByName("Reference")
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), platform)
    context.setPositions(positions)
    openmm.LocalEnergyMinimizer.minimize(context, 1.0, iterations)
    state = context.getState(getPositions=True)
    return np.asarray(state.getPositions(asNumpy=True).value_in_unit(u.nanometer))


def _solvate(modeller, box_nm: float, forcefield=None, molar: float = 0.0):
    ff = forcefield or app.ForceField("amber14/tip3p.xml")
    size = (box_nm, box_nm, box_nm) * u.nanometer
    modeller.addSolvent(ff, boxSize=size, ionicStrength=molar * u.molar)  # Na+ / Cl-
    pos = np.asarray(modeller.positions.value_in_unit(u.nanometer))
    return modeller.topology, mm_relax(modeller.topology, pos, ff)


def water64(n_waters: int = 64, density_g_cm3: float = 1.0):
    """``n_waters`` waters in a periodic cube at ``density_g_cm3`` (Modeller's, compressed)."""
    modeller = app.Modeller(app.Topology(), [])
    modeller.addSolvent(app.ForceField("amber14/tip3p.xml"), numAdded=n_waters)
    topology = modeller.topology
    assert topology.getNumResidues() == n_waters
    pos = np.asarray(modeller.positions.value_in_unit(u.nanometer))  # [3n, 3] nm
    old = topology.getPeriodicBoxVectors()[0][0].value_in_unit(u.nanometer)
    side = (n_waters * 18.015 / 6.02214076e23 / density_g_cm3) ** (1 / 3) * 1e7  # cm -> nm
    for residue in topology.residues():
        idx = [a.index for a in residue.atoms()]
        pos[idx] += (side / old - 1.0) * pos[idx[0]]  # move each molecule rigidly with its O
    topology.setUnitCellDimensions((side, side, side) * u.nanometer)
    return topology, mm_relax(topology, pos), {"O-O": ("O", "O", 0), "O-H inter": ("O", "H", 1)}


def nacl_aq(box_nm: float = 1.6, molar: float = 1.0):
    """NaCl(aq) at ``molar`` (mol/L) in a cubic water box of ``box_nm`` (nm)."""
    topology, pos = _solvate(app.Modeller(app.Topology(), []), box_nm, molar=molar)
    return topology, pos, {k: (*k.split("-"), 0) for k in ("Na-O", "Cl-O", "O-O")}


def alanine_dipeptide_aq(box_nm: float = 1.6):
    """ACE-ALA-NME (openmmtools' PDB) in a cubic TIP3P box of ``box_nm`` (nm)."""
    spec = importlib.util.find_spec("openmmtools")
    if spec is None:
        raise ImportError("alanine_dipeptide_aq reads openmmtools' PDB: pip install openmmtools")
    folder = Path(spec.submodule_search_locations[0]) / "data" / "alanine-dipeptide-gbsa"
    pdb = app.PDBFile(str(folder / "alanine-dipeptide.pdb"))
    ff = app.ForceField("amber14-all.xml", "amber14/tip3p.xml")
    topology, pos = _solvate(app.Modeller(pdb.topology, pdb.positions), box_nm, ff)
    return topology, pos, {"O-O": ("O", "O", 0)}  # includes the 2 peptide O (of ~110)


def _crystal(atoms, pairs):
    return topologyFromAtoms(atoms, bondScale=0), atoms.positions * units.ANGSTROM_TO_NM, pairs


def nacl_crystal(a: float = 5.64, repeat: int = 2):
    """Rocksalt NaCl, ``repeat``³ conventional cells of lattice constant ``a`` (Å)."""
    atoms = bulk("NaCl", "rocksalt", a=a, cubic=True).repeat(repeat)
    return _crystal(atoms, {"Na-Cl": ("Na", "Cl", 0)})


def baTiO3(a: float = 4.00, repeat: int = 3):
    """Cubic perovskite BaTiO3, ``repeat``³ cells of lattice constant ``a`` (Å)."""
    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    cell = Atoms("BaTiO3", scaled_positions=frac, cell=[a, a, a], pbc=True)
    return _crystal(cell.repeat(repeat), {"Ti-O": ("Ti", "O", 0), "Ba-O": ("Ba", "O", 0)})


#: name -> (builder, default head)
SYSTEMS = {
    "water64": (water64, "gfn2"),
    "nacl_aq": (nacl_aq, "gfn2"),
    "alanine_dipeptide_aq": (alanine_dipeptide_aq, "gfn2"),
    "nacl_crystal": (nacl_crystal, "pbe"),
    "baTiO3": (baTiO3, "pbe"),
}


# -- integrity -------------------------------------------------------------------------------
# -- running ---------------------------------------------------------------------------------
def _box(state_or_topology) -> np.ndarray:
    return np.array([v.value_in_unit(u.nanometer) for v in state_or_topology.getPeriodicBoxVectors()])  # fmt: skip


def _prepare(name: str, folder: Path, fresh: bool):
    """Topology (as read back from ``topology.pdb``), initial positions (nm) and RDF pairs."""
    if fresh and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "initial.npy").exists():
        topology, positions, pairs = SYSTEMS[name][0]()
        with open(folder / "topology.pdb", "w") as f:
            app.PDBFile.writeFile(topology, positions * 10.0, f, keepIds=True)  # Å
        (folder / "pairs.json").write_text(json.dumps(pairs))
        np.save(folder / "initial.npy", positions)
    pairs = {k: tuple(v) for k, v in json.loads((folder / "pairs.json").read_text()).items()}
    topology = app.PDBFile(str(folder / "topology.pdb")).topology
    return topology, np.load(folder / "initial.npy"), pairs


#: settings of runs recorded before the setting existed
LEGACY_SETTINGS = {"pqeq_method": "ewald"}


def _check_resume(name: str, progress: dict, settings: dict) -> None:
    """Refuse to continue a run with other settings (model weights, head, dtype, time step,
    masses, PQEq lattice sum) than it started with: the trajectory would mix two simulations."""
    if not progress["steps"]:
        return
    recorded = {k: progress.get(k, LEGACY_SETTINGS.get(k)) for k in settings}
    changed = {k: (recorded[k], v) for k, v in settings.items() if recorded[k] != v}
    if changed:
        detail = ", ".join(f"{k}: {old} -> {new}" for k, (old, new) in changed.items())
        raise SystemExit(
            f"{name}: the run on disk used other settings ({detail}); rerun with --fresh to "
            "start it anew, or with the settings it was started with"
        )


def run_system(name: str, args) -> dict:
    """Run (or continue) one system up to ``args.ps``; returns its ``progress.json`` record."""
    folder = Path(args.out) / name
    topology, initial, pairs = _prepare(name, folder, args.fresh)
    path = folder / "progress.json"
    progress = json.loads(path.read_text()) if path.exists() else {
        "system": name, "atoms": topology.getNumAtoms(), "steps": 0, "wall_s": 0.0,
        "failure": None, "failure_step": None, "min_distance_A": None, "max_bond_stretch": 1.0,
        "T_sum": 0.0, "T_count": 0,
    }  # fmt: skip
    has_h = any(a.element.symbol == "H" for a in topology.atoms())
    hydrogen_mass = (args.hydrogen_mass or None) if has_h else None
    dt_fs = args.dt_fs or ((1.0 if hydrogen_mass else 0.5) if has_h else 2.0)
    target = int(round(args.ps * 1000.0 / dt_fs))
    head = args.head or SYSTEMS[name][1]
    potential = PolarMLPotential(args.model, head=head, dtype=args.dtype)
    settings = {
        "model": str(args.model), "model_sha256": model_fingerprint(potential.model),
        "head": head, "dtype": args.dtype, "dt_fs": dt_fs, "hydrogen_mass_amu": hydrogen_mass,
        "pqeq_method": args.pqeq_method,
    }  # fmt: skip
    _check_resume(name, progress, settings)
    progress.update(settings, target_ps=args.ps)
    print(f"{name}: {topology.getNumAtoms()} atoms, head {head}, {args.dtype} network, "
          f"{dt_fs} fs, H mass {hydrogen_mass} amu, PQEq {args.pqeq_method}, {target} steps")  # fmt: skip
    if args.recheck and progress["failure"] is None and (folder / "trajectory.dcd").exists():
        recheck(folder, progress, IntegrityChecker(topology, initial, _box(topology)))
    if progress["failure"] is None and progress["steps"] < target and not args.analyse_only:
        system = potential.createSystem(  # the model's own charge model (as in its training)
            topology, backend=args.backend, hydrogenMass=hydrogen_mass,
            pqeqMethod=args.pqeq_method, positions=initial,
        )  # fmt: skip
        integrator = openmm.LangevinMiddleIntegrator(300.0, 1.0, dt_fs * 1e-3)  # K, 1/ps, ps
        integrator.setRandomNumberSeed(args.seed)
        platform = openmm.Platform.getPlatformByName("CPU")
        sim = app.Simulation(topology, system, integrator, platform, {"Threads": str(args.threads)})
        sim.context.setPositions(initial)
        resumed = (folder / "checkpoint.chk").exists()
        if resumed:
            # OpenMM 8.5: a fresh Context with a PythonForce segfaults when it loads a checkpoint
            # before its first evaluation, so evaluate once at the initial geometry first
            sim.context.getState(getEnergy=True)
            sim.loadCheckpoint(str(folder / "checkpoint.chk"))
        else:
            sim.minimizeEnergy(maxIterations=args.min_iterations)
            sim.context.setVelocitiesToTemperature(300 * u.kelvin, args.seed)
        interval = args.report_every or max(1, int(round(args.report_fs / dt_fs)))
        checker = IntegrityChecker(topology, initial, _box(topology))
        _simulate(sim, folder, progress, target, interval, checker, resumed)
    progress["ps_done"] = progress["steps"] * dt_fs * 1e-3
    if (folder / "trajectory.dcd").exists():
        progress["rdf"] = analyse(folder, pairs)
    path.write_text(json.dumps(progress, indent=1))
    return progress


def _simulate(sim, folder: Path, progress: dict, target: int, interval: int, checker, resumed):
    """Step in chunks of ``interval``; report, check and checkpoint after each chunk."""
    n_dof = 3 * sim.system.getNumParticles() - sim.system.getNumConstraints() - 3  # CM removed
    kB = u.MOLAR_GAS_CONSTANT_R.value_in_unit(u.kilojoule_per_mole / u.kelvin)
    dt_ps = sim.integrator.getStepSize().value_in_unit(u.picosecond)
    with (
        open(folder / "trajectory.dcd", "r+b" if resumed else "wb") as dcd_file,
        open(folder / "state.csv", "a" if resumed else "w") as csv_file,
    ):
        dcd = DCDFile(dcd_file, sim.topology, dt_ps, sim.currentStep, interval, append=resumed)
        csv = app.StateDataReporter(csv_file, interval, step=True, time=True, temperature=True,
                                    potentialEnergy=True, speed=True, append=resumed)  # fmt: skip
        start = last = time.perf_counter()
        step0 = sim.currentStep
        while True:
            step = sim.currentStep
            state = sim.context.getState(getPositions=True, getEnergy=True)
            energy = state.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
            kinetic = state.getKineticEnergy().value_in_unit(u.kilojoule_per_mole)
            temperature = 2 * kinetic / (n_dof * kB)
            positions = state.getPositions(asNumpy=True).value_in_unit(u.nanometer)
            reason, stats = checker.check(positions, _box(state), temperature, energy)
            _track_extremes(progress, stats)
            if reason is not None:
                progress.update(failure=reason, failure_step=step)
                with open(folder / "failure.pdb", "w") as f:
                    app.PDBFile.writeFile(sim.topology, positions * 10.0, f, keepIds=True)
                print(f"  FAILED at step {step}: {reason}", flush=True)
                return
            new = step > progress["steps"]
            if new or (step == 0 and not resumed):
                box = state.getPeriodicBoxVectors()
                dcd.writeModel(state.getPositions(), periodicBoxVectors=box)
                csv.report(sim, state)
                progress["T_sum"] += temperature * new
                progress["T_count"] += int(new)
            now = time.perf_counter()
            progress["wall_s"] += (now - last) * new
            progress["steps"], last = max(step, progress["steps"]), now
            ns_day = (step - step0) * dt_ps * 1e-3 / max(now - start, 1e-9) * 86400
            print(f"  step {step:7d}  {step * dt_ps:8.3f} ps  T {temperature:6.1f} K  "
                  f"E_pot {energy:13.1f} kJ/mol  {ns_day:7.4f} ns/day  "
                  f"min d {stats['min_distance_A']:.2f} A", flush=True)  # fmt: skip
            dcd_file.flush()
            csv_file.flush()
            sim.saveCheckpoint(str(folder / "checkpoint.chk.tmp"))
            os.replace(folder / "checkpoint.chk.tmp", folder / "checkpoint.chk")
            (folder / "progress.json").write_text(json.dumps(progress, indent=1))
            if step >= target:
                return
            try:
                sim.step(min(interval - step % interval, target - step))
            except openmm.OpenMMException as err:
                progress.update(failure=f"OpenMM error: {err}", failure_step=sim.currentStep)
                print(f"  FAILED: {err}", flush=True)
                return


def _track_extremes(progress: dict, stats: dict) -> None:
    """Keep the run's closest contacts and largest bond stretch in ``progress``."""
    for key, pick in (("min_distance_A", min), ("min_hh_A", min), ("max_bond_stretch", max)):
        if stats.get(key) is not None:
            previous = progress.get(key)
            progress[key] = stats[key] if previous is None else pick(stats[key], previous)


def recheck(folder: Path, progress: dict, checker) -> None:
    """Replay ``trajectory.dcd`` through ``checker``; record the first failing frame (its step
    from ``state.csv``, written with the same frames) and the run's extremes."""
    traj = mdtraj.load_dcd(str(folder / "trajectory.dcd"), top=str(folder / "topology.pdb"))
    steps = np.loadtxt(folder / "state.csv", delimiter=",", usecols=0, ndmin=1).astype(int)
    boxes = traj.unitcell_vectors  # [m, 3, 3] nm
    for k, (positions, box) in enumerate(zip(traj.xyz, boxes, strict=True)):
        reason, stats = checker.check(positions, box)
        _track_extremes(progress, stats)
        if reason is not None and progress["failure"] is None:
            step = int(steps[k]) if k < len(steps) else None
            progress.update(failure=f"{reason} (found on recheck)", failure_step=step)
            print(f"  recheck: frame {k} (step {step}) fails: {reason}", flush=True)


# -- analysis --------------------------------------------------------------------------------
def analyse(folder: Path, pairs: dict) -> dict:
    """RDF first peaks (Å) per label against :data:`REFERENCE_PEAKS` (first 20 % dropped)."""
    traj = load_trajectory(folder / "trajectory.dcd", folder / "topology.pdb")
    traj = traj[int(EQUILIBRATION_FRACTION * traj.n_frames) :]
    out, curves = {}, {}
    for label, (a, b, intermolecular) in pairs.items():
        if intermolecular:
            idx = element_pairs(traj.topology, a, b)
            residue = np.array([atom.residue.index for atom in traj.topology.atoms])
            idx = idx[residue[idx[:, 0]] != residue[idx[:, 1]]]
            r_max = 0.5 * float(np.min(traj.unitcell_lengths[0]))
            r, g = mdtraj.compute_rdf(traj, idx, r_range=(0.0, r_max), bin_width=0.005)
        else:
            r, g = compute_rdfs(traj, [(a, b)])[f"{a}-{b}"]
        peak, height = first_peak(r * 10.0, g)
        ref, cite = REFERENCE_PEAKS[label]
        out[label] = {"model_A": peak, "g_peak": height, "reference_A": ref,
                      "delta_A": peak - ref, "reference": cite, "frames": traj.n_frames}  # fmt: skip
        curves[f"{label}/r"], curves[f"{label}/g"] = r * 10.0, g
    np.savez(folder / "rdf.npz", **curves)
    return out


def _entry(p: dict) -> dict:
    ps_done = p.get("ps_done", 0.0)
    done = ps_done >= p["target_ps"] - 1e-9
    status = "failed" if p["failure"] else ("passed" if done else "incomplete")
    return {
        "atoms": p["atoms"], "model": p["model"], "model_sha256": p.get("model_sha256"),
        "head": p["head"], "dtype": p.get("dtype", "float64"), "dt_fs": p["dt_fs"],
        "hydrogen_mass_amu": p.get("hydrogen_mass_amu"),
        "pqeq_method": p.get("pqeq_method", LEGACY_SETTINGS["pqeq_method"]),
        "ps_done": ps_done, "target_ps": p["target_ps"], "status": status,
        "passed": status == "passed", "failure": p["failure"], "failure_step": p["failure_step"],
        "min_distance_A": p["min_distance_A"], "min_hh_A": p.get("min_hh_A"),
        "max_bond_stretch": p["max_bond_stretch"],
        "mean_T_K": p["T_sum"] / p["T_count"] if p["T_count"] else None,
        "ns_per_day": ps_done * 1e-3 / p["wall_s"] * 86400 if p["wall_s"] > 0 else None,
        "ms_per_step": 1e3 * p["wall_s"] / p["steps"] if p["steps"] else None,
        "rdf_first_peaks": p.get("rdf", {}),
    }  # fmt: skip


def summarise(out: Path, summary_to: str | None = None) -> dict:
    """Gather every ``<out>/<system>/progress.json`` into ``summary.json``; print; plot RDFs."""
    summary = {}
    for name in SYSTEMS:
        if (out / name / "progress.json").exists():
            summary[name] = _entry(json.loads((out / name / "progress.json").read_text()))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    if summary_to:
        Path(summary_to).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "summary.json", summary_to)
    print(f"\n{'system':21s} {'atoms':>5s} {'ps done':>12s} {'status':>10s} {'min d/A':>7s} "
          f"{'stretch':>7s} {'<T>/K':>6s} {'ms/step':>7s}  RDF first peak model/ref (A)")  # fmt: skip
    fmt = lambda x, spec: "-" if x is None else format(x, spec)  # noqa: E731
    for name, s in summary.items():
        peaks = "  ".join(f"{k} {v['model_A']:.2f}/{v['reference_A']:.2f}"
                          for k, v in s["rdf_first_peaks"].items())  # fmt: skip
        print(f"{name:21s} {s['atoms']:5d} {s['ps_done']:5.2f}/{s['target_ps']:<6g} "
              f"{s['status']:>10s} {fmt(s['min_distance_A'], '7.2f')} {s['max_bond_stretch']:7.3f} "
              f"{fmt(s['mean_T_K'], '6.0f')} {fmt(s['ms_per_step'], '7.1f')}  {peaks}")  # fmt: skip
        if s["failure"]:
            print(f"{'':21s} failed at step {s['failure_step']}: {s['failure']}")
    plot_rdfs(out, summary)
    return summary


def plot_rdfs(out: Path, summary: dict) -> None:
    """``rdfs.png``: one panel per system, model g(r) with the reference first peaks dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in summary if (out / n / "rdf.npz").exists()]
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        data = np.load(out / name / "rdf.npz")
        for k, label in enumerate(summary[name]["rdf_first_peaks"]):
            ax.plot(data[f"{label}/r"], data[f"{label}/g"], color=f"C{k}", label=label)
            ax.axvline(REFERENCE_PEAKS[label][0], color=f"C{k}", ls="--", lw=0.8)
        ax.set(title=f"{name} ({summary[name]['ps_done']:.2f} ps)", xlabel="r (Å)", ylabel="g(r)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "rdfs.png", dpi=120)
    plt.close(fig)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated system names")
    p.add_argument("--ps", type=float, default=20.0, help="target simulated time (ps)")
    p.add_argument("--model", default="foundation", help="shipped model name or model file")
    p.add_argument("--head", default=None, help="head (default: gfn2 liquids, pbe crystals)")
    p.add_argument("--backend", default="python", choices=("python", "torch"))
    p.add_argument(
        "--dt-fs", type=float, default=None,
        help="time step (fs); default 1 with H (0.5 with --hydrogen-mass 0), 2 without",
    )  # fmt: skip
    p.add_argument(
        "--hydrogen-mass", type=float, default=2.0,
        help="hydrogen mass (amu) by repartitioning from the bonded heavy atom; 0 keeps 1.008",
    )  # fmt: skip
    p.add_argument(
        "--dtype", default="float32", choices=("float32", "float64"),
        help="network precision in MD (PQEq and D3 are always double)",
    )  # fmt: skip
    p.add_argument(
        "--pqeq-method", default="pme", choices=("pme", "ewald"),
        help="PQEq lattice sum of periodic systems: smooth PME (default; 3x faster than explicit "
        "k-vectors at 379 atoms) or Ewald; both to the same error tolerance",
    )  # fmt: skip
    p.add_argument("--report-fs", type=float, default=25.0, help="report/check interval (fs)")
    p.add_argument("--report-every", type=int, default=None, help="report interval (steps)")
    p.add_argument("--min-iterations", type=int, default=50, help="minimiser iterations")
    p.add_argument("--threads", type=int, default=1, help="OpenMM CPU and torch threads")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="runs/stability")
    p.add_argument("--fresh", action="store_true", help="discard earlier runs of these systems")
    p.add_argument(
        "--analyse-only", action="store_true",
        help="no new steps: analyse what is on disk (RDFs of a stopped run) and summarise",
    )  # fmt: skip
    p.add_argument(
        "--recheck", action="store_true",
        help="replay each stored trajectory through the integrity checks first (a criterion "
        "added after the run); the first failing frame is recorded",
    )  # fmt: skip
    p.add_argument("--summary-to", default=None, help="also copy summary.json here")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    """Run (or continue) the systems of ``argv``; returns the summary (also ``summary.json``)."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SYSTEMS))
    if unknown:
        raise SystemExit(f"unknown system(s) {unknown}; choose from {list(SYSTEMS)}")
    for name in names:
        run_system(name, args)
    return summarise(Path(args.out), args.summary_to)


if __name__ == "__main__":
    main()
