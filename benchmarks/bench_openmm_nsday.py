"""ns/day on the OpenMM CPU platform: NaCl(aq) boxes, our model beside MACE-small and AMOEBA.

Boxes: ``openmm.app.Modeller.addSolvent`` (amber14 TIP3P, Na+/Cl- at ``--molar``, neutral) in a
cube sized for about ``--sizes`` atoms (≈ 650, 3,000, 12,000 by default); the same geometry
(written once as a PDB) goes to every row. Rows, each advanced with a ``VerletIntegrator`` of
``--timestep`` fs from 300 K velocities, all atoms flexible, no constraints:

- ``polarml torch``: ``PolarMLPotential(model).createSystem(topology, backend='torch')``
  (network as an openmm-torch ``TorchForce``, native ``PQEqForce``, native D3 as a
  ``PythonForce``), shipped model ``--model``;
- ``polarml python``: the same with ``backend='python'`` (network as an ``openmm.PythonForce``);
- ``PQEq`` / ``D3``: the torch-backend System stepped with the integrator restricted to that
  term's force group (``setIntegrationForceGroups``), i.e. the cost of the term alone in a step;
  ``network`` is the rest of the full step (full − PQEq − D3, integration included);
- ``AMOEBA``: ``amoeba2018.xml``, PME (real-space 0.7 nm, vdW 0.9 nm), mutual induction to 1e-5;
- ``MACE-small``: openmm-ml 1.7 ``MLPotential('mace', modelPath=...)`` with a random-weight
  ``ScaleShiftMACE`` of MACE-MP-0 small size (see :func:`build_mace_model`), run in a subprocess of
  the separate interpreter ``.venv-bench`` (``bash benchmarks/mace_env.sh``; mace-torch pins
  e3nn 0.4.4, this package needs e3nn 0.6).

In-process rows step in turn, one step each per round (load changes hit them alike); median ms
per step over ``--steps`` rounds after ``--warmup`` rounds. ns/day = ``timestep`` × steps per day.
If a row's dynamics blow up (NaN or an OpenMM exception), it is timed instead by energy + force
evaluations (``getState``) on the Modeller geometry and the table marks it ``E+F``.

    python benchmarks/bench_openmm_nsday.py [--sizes 650 3000 12000] [--threads 2] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WATER_ATOMS_PER_NM3 = 93.8  # atoms per nm³ of what Modeller.addSolvent packs (TIP3P, ~1 M NaCl)
MACE_SMALL = {
    # MACE-MP-0 "small" hyperparameters (mace-torch foundation model card / training script)
    "r_max": 6.0,
    "num_bessel": 8,
    "num_polynomial_cutoff": 5,
    "max_ell": 3,
    "num_interactions": 2,
    "hidden_irreps": "128x0e",
    "MLP_irreps": "16x0e",
    "correlation": 3,
    "radial_MLP": [64, 64, 64],
    "avg_num_neighbors": 61.96,
    "num_elements": 89,  # Z = 1..89
}


# -- geometry -------------------------------------------------------------------------------------
def build_box(n_target: int, molar: float, pdb: Path):
    """A cubic NaCl(aq) box of about ``n_target`` atoms written to ``pdb``; returns (topology,
    positions nm [n, 3])."""
    import openmm.app as app
    import openmm.unit as u
    from openmm import Vec3

    side = (n_target / WATER_ATOMS_PER_NM3) ** (1.0 / 3.0)
    forcefield = app.ForceField("amber14-all.xml", "amber14/tip3p.xml")
    modeller = app.Modeller(app.Topology(), [])
    modeller.addSolvent(
        forcefield,
        model="tip3p",
        boxSize=Vec3(side, side, side) * u.nanometer,
        positiveIon="Na+",
        negativeIon="Cl-",
        ionicStrength=molar * u.molar,
        neutralize=True,
    )
    with open(pdb, "w") as handle:
        app.PDBFile.writeFile(modeller.topology, modeller.positions, handle)
    return modeller.topology, np.asarray(modeller.positions.value_in_unit(u.nanometer))


def composition(topology) -> dict:
    residues = [r.name for r in topology.residues()]
    return {name: residues.count(name) for name in sorted(set(residues))}


# -- systems --------------------------------------------------------------------------------------
def polarml_system(topology, positions, backend: str, model: str, dtype: str, pqeq_method: str):
    """Our System for ``topology`` (the one place to change how it is built)."""
    from openmm_polarml.openmm import PolarMLPotential

    potential = PolarMLPotential(model, dtype=dtype)
    system = potential.createSystem(
        topology, backend=backend, pqeqMethod=pqeq_method, positions=positions
    )
    return system


def amoeba_system(topology):
    """amoeba2018 with Tinker's cutoffs (PME real space 0.7 nm, vdW 0.9 nm; both at most 0.49
    of the box edge for tiny test boxes)."""
    import openmm.app as app
    import openmm.unit as u

    edge = float(topology.getUnitCellDimensions()[0].value_in_unit(u.nanometer))
    forcefield = app.ForceField("amoeba2018.xml")
    return forcefield.createSystem(
        topology,
        nonbondedMethod=app.PME,
        nonbondedCutoff=min(0.7, 0.49 * edge) * u.nanometer,
        vdwCutoff=min(0.9, 0.49 * edge) * u.nanometer,
        polarization="mutual",
        mutualInducedTargetEpsilon=1e-5,
        constraints=None,
        rigidWater=False,
    )


class Run:
    """One Context on the CPU platform, stepped with a VerletIntegrator (optionally restricted to
    some force groups); falls back to energy + force evaluations when the dynamics blow up."""

    def __init__(self, system, positions, threads, timestep_fs, groups=None, seed=1):
        import openmm as mm

        self.positions = positions
        self.integrator = mm.VerletIntegrator(timestep_fs * 1e-3)
        if groups is not None:
            self.integrator.setIntegrationForceGroups(set(groups))
        self.groups = groups
        platform = mm.Platform.getPlatformByName("CPU")
        self.context = mm.Context(system, self.integrator, platform, {"Threads": str(threads)})
        self.context.setPositions(positions)
        self.context.setVelocitiesToTemperature(300.0, seed)
        self.mode = "MD"
        self.times: list[float] = []

    def _evaluate(self) -> None:
        kwargs = {} if self.groups is None else {"groups": set(self.groups)}
        self.context.getState(getEnergy=True, getForces=True, **kwargs)

    def step(self, record: bool) -> None:
        import openmm as mm

        t0 = time.perf_counter()
        if self.mode == "MD":
            try:
                self.integrator.step(1)
            except mm.OpenMMException:
                self._fall_back()
                return
        else:
            self._evaluate()
        if record:
            self.times.append(time.perf_counter() - t0)

    def _fall_back(self) -> None:
        self.mode = "E+F"
        self.times.clear()
        self.context.setPositions(self.positions)

    def check(self) -> None:
        """After the timed rounds: NaN positions or energy mean the dynamics blew up."""
        if self.mode != "MD":
            return
        state = self.context.getState(getPositions=True, getEnergy=True)
        energy = state.getPotentialEnergy()._value
        if not (np.isfinite(energy) and np.isfinite(state.getPositions(asNumpy=True)._value).all()):
            self._fall_back()

    def median_ms(self) -> float:
        return 1e3 * float(np.median(self.times))


def timed(runs: dict, warmup: int, steps: int) -> None:
    for round_ in range(warmup + steps):
        for run in runs.values():
            run.step(record=round_ >= warmup)
    for run in runs.values():
        run.check()
    redo = {k: r for k, r in runs.items() if r.mode == "E+F" and len(r.times) < steps}
    for round_ in range(warmup + steps if redo else 0):
        for run in redo.values():
            run.step(record=round_ >= warmup)


# -- MACE (runs inside .venv-bench) ---------------------------------------------------------------
def build_mace_model(path: Path, dtype: str) -> None:
    """A random-weight ScaleShiftMACE with MACE-MP-0 small hyperparameters, saved as openmm-ml
    loads it (``torch.save`` of the module)."""
    import torch
    from e3nn import o3
    from mace.modules import interaction_classes
    from mace.modules.models import ScaleShiftMACE

    torch.manual_seed(0)
    torch.set_default_dtype(torch.float64 if dtype == "float64" else torch.float32)
    hp = MACE_SMALL
    block = interaction_classes["RealAgnosticResidualInteractionBlock"]
    model = ScaleShiftMACE(
        r_max=hp["r_max"],
        num_bessel=hp["num_bessel"],
        num_polynomial_cutoff=hp["num_polynomial_cutoff"],
        max_ell=hp["max_ell"],
        interaction_cls=block,
        interaction_cls_first=block,
        num_interactions=hp["num_interactions"],
        num_elements=hp["num_elements"],
        hidden_irreps=o3.Irreps(hp["hidden_irreps"]),
        MLP_irreps=o3.Irreps(hp["MLP_irreps"]),
        atomic_energies=np.zeros(hp["num_elements"]),
        avg_num_neighbors=hp["avg_num_neighbors"],
        atomic_numbers=list(range(1, hp["num_elements"] + 1)),
        correlation=hp["correlation"],
        gate=torch.nn.functional.silu,
        radial_MLP=hp["radial_MLP"],
        atomic_inter_scale=1.0,
        atomic_inter_shift=0.0,
    )
    torch.save(model, path)


def mace_worker(args) -> None:
    """Time MACE MD steps on the PDB box; prints one JSON line."""
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # openmm-ml 1.7's torch.load
    import openmm.app as app
    import openmmml
    import torch

    torch.set_num_threads(args.threads)
    path = Path(args.mace_model)
    if not path.exists():
        build_mace_model(path, args.dtype)
    pdb = app.PDBFile(args.mace_worker)
    t0 = time.perf_counter()
    system = openmmml.MLPotential("mace", modelPath=str(path)).createSystem(pdb.topology)
    setup = time.perf_counter() - t0
    n_params = sum(p.numel() for p in torch.load(path, weights_only=False).parameters())
    positions = np.asarray(pdb.positions._value)
    run = Run(system, positions, args.threads, args.timestep)
    timed({"mace": run}, args.warmup, args.steps)
    print(
        json.dumps(
            {
                "ms": run.median_ms(),
                "mode": run.mode,
                "setup_s": setup,
                "parameters": n_params,
                "mace": __import__("mace").__version__,
                "torch": torch.__version__,
            }
        ),
        flush=True,
    )


def worker_failure(returncode: int, stderr: str) -> str:
    """What ended a worker: the signal (a negative code; -9 is usually the OOM killer) or the last
    stderr line that is not a warning."""
    import signal

    if returncode < 0:
        name = signal.Signals(-returncode).name
        hint = " (out of memory?)" if returncode == -signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    lines = [ln for ln in (stderr or "").strip().splitlines() if "warn" not in ln.lower()]
    lines = [ln for ln in lines if not ln.startswith(" ")] or lines
    return lines[-1] if lines else f"exit code {returncode}"


def mace_row(args, pdb: Path, steps: int, warmup: int, workdir: Path) -> dict:
    python = Path(args.mace_python)
    if not python.exists():
        return {"error": f"{python} missing: run bash benchmarks/mace_env.sh"}
    model = Path(args.mace_model) if args.mace_model else workdir / f"mace_small_{args.dtype}.model"
    cmd = [
        str(python), str(Path(__file__).resolve()), "--mace-worker", str(pdb),
        "--mace-model", str(model), "--threads", str(args.threads), "--dtype", args.dtype,
        "--timestep", str(args.timestep), "--warmup", str(warmup), "--steps", str(steps),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.mace_timeout)
    if done.returncode != 0:
        return {"error": worker_failure(done.returncode, done.stderr)}
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- driver ---------------------------------------------------------------------------------------
def ns_per_day(ms: float | None, timestep_fs: float) -> float | None:
    return None if ms is None else timestep_fs * 1e-6 * 86400e3 / ms


def bench_size(n_target: int, args, workdir: Path) -> dict:
    import torch

    from openmm_polarml.openmm import FORCE_GROUPS

    steps = args.steps if n_target < args.large else min(args.steps, args.large_steps)
    pdb = workdir / f"box_{n_target}.pdb"
    topology, positions = build_box(n_target, args.molar, pdb)
    row = {
        "n_target": n_target,
        "n_atoms": topology.getNumAtoms(),
        "box_nm": float(topology.getUnitCellDimensions()[0]._value),
        "residues": composition(topology),
        "threads": args.threads,
        "steps": steps,
        "warmup": args.warmup,
        "load_before": os.getloadavg(),
    }
    runs, setup = {}, {}
    for backend in ("torch", "python"):
        if backend in args.skip:
            continue
        t0 = time.perf_counter()
        system = polarml_system(
            topology, positions, backend, args.model, args.dtype, args.pqeq_method
        )
        setup[backend] = time.perf_counter() - t0
        runs[f"polarml_{backend}"] = Run(system, positions, args.threads, args.timestep)
        if backend == "torch" and "split" not in args.skip:
            for term, group in FORCE_GROUPS.items():
                if term != "network" and any(
                    f.getForceGroup() == group for f in system.getForces()
                ):
                    runs[term] = Run(system, positions, args.threads, args.timestep, {group})
    if "amoeba" not in args.skip:
        runs["amoeba"] = Run(amoeba_system(topology), positions, args.threads, args.timestep)
    torch.set_num_threads(args.threads)
    timed(runs, args.warmup, steps)
    for key, run in runs.items():
        row[f"{key}_ms"] = run.median_ms()
        row[f"{key}_mode"] = run.mode
    row["setup_s"] = setup
    if "mace" not in args.skip:
        large = n_target >= args.large
        mace_steps = args.mace_large_steps if large else min(steps, args.mace_steps)
        mace = mace_row(args, pdb, mace_steps, 0 if large else args.warmup, workdir)
        mace["steps"], mace["warmup"] = mace_steps, 0 if large else args.warmup
        row.update({f"mace_{k}": v for k, v in mace.items()})
    full = row.get("polarml_torch_ms")
    if full and "pqeq_ms" in row:
        row["network_ms"] = full - row["pqeq_ms"] - row.get("d3_ms", 0.0)
        row["network_mode"] = "difference"
    if full:
        for term in FORCE_GROUPS:
            if f"{term}_ms" in row:
                row[f"{term}_fraction"] = row[f"{term}_ms"] / full
        if "pqeq_fraction" in row:
            row["target_pqeq_below_30pct"] = row["pqeq_fraction"] < 0.30
        if row.get("mace_ms"):
            row["target_faster_than_mace"] = full < row["mace_ms"]
    for key in [k for k in row if k.endswith("_ms")]:
        row[key.replace("_ms", "_ns_per_day")] = ns_per_day(row[key], args.timestep)
    row["load_after"] = os.getloadavg()
    return row


def _cell(row, key, width=10, fmt="{:.0f}"):
    value = row.get(f"{key}_ms")
    if value is None:
        return f"{'-':>{width}}"
    mark = "*" if row.get(f"{key}_mode") == "E+F" else ""
    return f"{fmt.format(value) + mark:>{width}}"


def print_header() -> None:
    print(
        f"{'N':>7}{'ours-T':>10}{'ours-Py':>10}{'MACE-s':>10}{'AMOEBA':>10}"
        f"{'net':>9}{'PQEq':>9}{'D3':>9}{'PQEq %':>8}{'<30%':>6}{'<MACE':>7}"
        f"{'ns/d ours':>11}{'ns/d MACE':>11}{'ns/d AMB':>10}{'load':>6}"
        "   (ms per MD step; * = energy+forces, dynamics blew up)"
    )


def print_row(r: dict) -> None:
    def ns(key):
        v = r.get(f"{key}_ns_per_day")
        return "-" if v is None else f"{v:.3f}"

    def flag(key):
        v = r.get(key)
        return "-" if v is None else ("yes" if v else "NO")

    frac = r.get("pqeq_fraction")
    print(
        f"{r['n_atoms']:>7}{_cell(r, 'polarml_torch')}{_cell(r, 'polarml_python')}"
        f"{_cell(r, 'mace')}{_cell(r, 'amoeba')}{_cell(r, 'network', 9)}{_cell(r, 'pqeq', 9)}"
        f"{_cell(r, 'd3', 9)}{'-' if frac is None else f'{100 * frac:.1f}':>8}"
        f"{flag('target_pqeq_below_30pct'):>6}{flag('target_faster_than_mace'):>7}"
        f"{ns('polarml_torch'):>11}{ns('mace'):>11}{ns('amoeba'):>10}"
        f"{r['load_after'][0]:>6.1f}",
        flush=True,
    )
    if "mace_error" in r:
        print(f"        MACE: {r['mace_error']}")


def write_json(path: Path, payload: dict) -> None:
    """Atomic: a temporary file in the same folder, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[650, 3000, 12000])
    parser.add_argument("--threads", type=int, default=2, help="torch threads and CPU Threads")
    parser.add_argument("--steps", type=int, default=3, help="timed rounds per size")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--large", type=int, default=6000, help="sizes from here use --large-steps")
    parser.add_argument("--large-steps", type=int, default=2)
    parser.add_argument("--mace-steps", type=int, default=2, help="MACE timed steps (small)")
    parser.add_argument("--mace-large-steps", type=int, default=1, help="MACE steps from --large")
    parser.add_argument("--timestep", type=float, default=0.5, help="fs")
    parser.add_argument("--molar", type=float, default=1.0, help="NaCl concentration")
    parser.add_argument("--model", default="foundation", help="shipped model name or file")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--pqeq-method", default="pme")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["torch", "python", "split", "amoeba", "mace"]
    )
    parser.add_argument("--mace-python", default=str(ROOT / ".venv-bench/bin/python"))
    parser.add_argument("--mace-model", default=None, help="model file (built when missing)")
    parser.add_argument("--mace-timeout", type=float, default=3600.0)
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/openmm_nsday.json"))
    parser.add_argument("--mace-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mace_worker:
        mace_worker(args)
        return

    import openmm
    import torch

    torch.set_num_threads(args.threads)
    meta = {
        "torch": torch.__version__,
        "openmm": openmm.__version__,
        "threads": args.threads,
        "timestep_fs": args.timestep,
        "model": args.model,
        "dtype": args.dtype,
        "pqeq_method": args.pqeq_method,
        "molar": args.molar,
        "cpu_count": os.cpu_count(),
        "mace_hyperparameters": MACE_SMALL,
        "amoeba": "amoeba2018.xml, PME 0.7 nm, vdW 0.9 nm, mutual 1e-5",
    }
    print_header()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            try:
                rows.append(bench_size(n, args, Path(tmp)))
            except Exception as err:  # one size failing (e.g. export parity) keeps the others
                print(f"{n:>7}  failed: {type(err).__name__}: {err}", flush=True)
                rows.append({"n_target": n, "error": f"{type(err).__name__}: {err}"})
                continue
            print_row(rows[-1])
            write_json(Path(args.output), {**meta, "rows": rows})


if __name__ == "__main__":
    main()
