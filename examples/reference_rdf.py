"""First RDF peaks of the shipped model against its reference method, GFN2-xTB, by the same MD.

The 20 ps stability runs (``stability_runs.py``) compare first peaks with experiment, because
GFN2-xTB molecular dynamics of their periodic boxes is out of reach on a 2-core CPU (tblite:
16 s per force call for 64 waters). Here the model (``gfn2`` head) and GFN2-xTB itself (tblite, in
the label interpreter ``.venv-labels``) run the SAME protocol on the SAME gas-phase droplets:

- ``water24``: 24 waters; ``na_water24``: Na⁺ + 24 waters; ``cl_water24``: Cl⁻ + 24 waters,
  packed by :func:`openmm_polarml.data.molecules.pack` (seeded);
- Langevin NVT (ASE), 300 K, friction 0.01 fs⁻¹, 1 fs, H mass 2 amu, Maxwell–Boltzmann start
  (seeded); a frame every 5 fs; the first 0.5 ps is dropped.

First peaks are the maxima of the pair-distance histogram divided by r² (0.02 Å bins, Gaussian
smoothing σ = 0.04 Å), for O–O, Na–O and Cl–O; the spread is the half-difference between the
two halves of the production frames. Both engines resume from their trajectory files.

Outputs: ``<out>/<system>/{initial.extxyz, model.traj, gfn2.traj}``, ``<out>/reference_rdf.json``,
``<out>/reference_rdf.png``.

Run: ``python examples/reference_rdf.py [--ps 2.5] [--systems water24,na_water24,cl_water24]
[--out runs/reference_rdf] [--summary-to PATH]``. About 10 min per system on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import Trajectory, read, write

ROOT = Path(__file__).resolve().parents[1]
WATERS = 24
SYSTEMS = {"water24": None, "na_water24": ("Na", 1), "cl_water24": ("Cl", -1)}
PAIRS = {"O-O": ("O", "O", (2.4, 3.3)), "Na-O": ("Na", "O", (1.9, 3.4)),
         "Cl-O": ("Cl", "O", (2.7, 3.7))}  # fmt: skip
TEMPERATURE_K, TIMESTEP_FS, FRICTION_PER_FS, H_MASS_AMU = 300.0, 1.0, 0.01, 2.0
FRAME_EVERY, EQUILIBRATION_PS = 5, 0.5
BIN_A, SMOOTH_A = 0.02, 0.04


# -- MD (numpy + ase only: this part also runs in the label interpreter) -----------------------


def _gfn2_calculator(charge: int):
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
    step, t = dyn.nsteps, dyn.atoms.get_temperature()
    print(f"{traj_path.parent.name:12s} {traj_path.stem:6s} step {step:6d}/{steps}  T {t:6.1f} K",
          flush=True)  # fmt: skip


# -- orchestration and analysis (main interpreter) --------------------------------------------


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


def histogram_peak(frames, a: str, b: str, window: tuple) -> float:
    """Å, maximum of the r²-normalised, smoothed a–b distance histogram inside ``window``."""
    edges = np.arange(1.0, 6.0 + BIN_A, BIN_A)
    counts = np.zeros(len(edges) - 1)
    for atoms in frames:
        sym = np.array(atoms.get_chemical_symbols())
        ia, ib = np.flatnonzero(sym == a), np.flatnonzero(sym == b)
        d = np.linalg.norm(
            atoms.positions[ia, None] - atoms.positions[None, ib], axis=-1
        )  # [na, nb]
        d = d[np.triu(np.ones_like(d, bool), 1)] if a == b else d.ravel()
        counts += np.histogram(d, edges)[0]
    r = 0.5 * (edges[1:] + edges[:-1])
    kernel = np.exp(-0.5 * (np.arange(-4, 5) * BIN_A / SMOOTH_A) ** 2)
    g = np.convolve(counts / r**2, kernel / kernel.sum(), mode="same")
    inside = (r >= window[0]) & (r <= window[1])
    return float(r[inside][np.argmax(g[inside])])


def analyse(traj_path: Path) -> dict:
    frames = read(str(traj_path), index=":")
    start = int(round(EQUILIBRATION_PS * 1000 / (TIMESTEP_FS * FRAME_EVERY)))
    production = frames[start:]
    if len(production) < 20:
        return {}
    half = len(production) // 2
    sym = set(production[0].get_chemical_symbols())
    out = {"frames": len(production), "ps": (len(frames) - 1) * FRAME_EVERY * TIMESTEP_FS / 1e3}
    for label, (a, b, window) in PAIRS.items():
        if a in sym and b in sym:
            peaks = [histogram_peak(part, a, b, window)
                     for part in (production, production[:half], production[half:])]  # fmt: skip
            out[label] = {"peak_A": peaks[0], "halves_spread_A": abs(peaks[1] - peaks[2]) / 2}
    ions = sym & {"Na", "Cl"}
    if ions:
        out["ion"] = ion_placement(production, ions.pop())
    return out


def ion_placement(frames, ion: str) -> dict:
    """Å, means over ``frames``: the ion's nearest O and its distance from the droplet centre."""
    nearest, centre = [], []
    for atoms in frames:
        sym = np.array(atoms.get_chemical_symbols())
        k, oxygens = np.flatnonzero(sym == ion)[0], np.flatnonzero(sym == "O")
        nearest.append(np.linalg.norm(atoms.positions[oxygens] - atoms.positions[k], axis=1).min())
        centre.append(np.linalg.norm(atoms.positions[k] - atoms.get_center_of_mass()))
    return {"nearest_O_A": float(np.mean(nearest)), "from_centre_A": float(np.mean(centre))}


def run_system(system: str, out: Path, steps: int, seed: int, threads: int) -> dict:
    import torch

    from openmm_polarml.calculators import PolarMLCalculator
    from openmm_polarml.data.teachers import label_python

    folder = out / system
    folder.mkdir(parents=True, exist_ok=True)
    initial = folder / "initial.extxyz"
    if not initial.exists():
        write(str(initial), build_droplet(system, seed))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    worker = subprocess.Popen([str(label_python()), __file__, "--worker", str(folder),
                               "--steps", str(steps), "--seed", str(seed)], env=env)  # fmt: skip
    torch.set_num_threads(max(1, threads - 1))
    run_md(
        initial, PolarMLCalculator("foundation", head="gfn2"), folder / "model.traj", steps, seed
    )
    if worker.wait() != 0:
        raise RuntimeError(f"the GFN2-xTB run of {system} failed (exit {worker.returncode})")
    return {engine: analyse(folder / f"{engine}.traj") for engine in ("model", "gfn2")}


def protocol(ps: float) -> str:
    """The run and analysis settings in one sentence (for the model card)."""
    return (
        f"gas-phase droplets of {WATERS} waters, Na⁺ + {WATERS} and Cl⁻ + {WATERS} waters "
        f"(seeded packing); ASE Langevin NVT at {TEMPERATURE_K:g} K, friction "
        f"{FRICTION_PER_FS:g} fs⁻¹, {TIMESTEP_FS:g} fs, H {H_MASS_AMU:g} amu, centre of mass "
        f"fixed; {ps:g} ps per engine, the first {EQUILIBRATION_PS:g} ps dropped, a frame every "
        f"{FRAME_EVERY * TIMESTEP_FS:g} fs; first peak = maximum of the r²-normalised "
        f"pair-distance histogram ({BIN_A:g} Å bins, Gaussian smoothing σ = {SMOOTH_A:g} Å)."
    )


def _model_record() -> dict:
    """The shipped model as these runs used it (the card keeps only runs of its own model file)."""
    from openmm_polarml.calculators import PolarMLCalculator
    from openmm_polarml.openmm.artifacts import model_fingerprint

    model = PolarMLCalculator("foundation", head="gfn2").model
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    return {"model_sha256": model_fingerprint(model), "head": "gfn2", "dtype": dtype}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [(s, p) for s, r in results.items() for p in PAIRS if p in r["gfn2"]]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(len(labels))
    for shift, engine in ((-0.15, "gfn2"), (0.15, "model")):
        y = [results[s][engine][p]["peak_A"] for s, p in labels]
        e = [results[s][engine][p]["halves_spread_A"] for s, p in labels]
        ax.errorbar(
            x + shift, y, yerr=e, fmt="o", label="GFN2-xTB" if engine == "gfn2" else "model"
        )
    ax.set_xticks(x, [f"{p}\n{s}" for s, p in labels], fontsize=8)
    ax.set_ylabel("first peak (Å)")
    ax.set_title("Droplet MD, 300 K: model vs GFN2-xTB")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--ps", type=float, default=2.5, help="ps of MD per engine and system")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="one goes to the GFN2-xTB worker")
    p.add_argument("--out", default=str(ROOT / "runs/reference_rdf"))
    p.add_argument("--summary-to", default=None, help="also write the JSON summary here")
    p.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:  # label interpreter: GFN2-xTB MD of one droplet
        folder = Path(args.worker)
        charge = int(read(str(folder / "initial.extxyz")).info.get("charge", 0))
        run_md(folder / "initial.extxyz", _gfn2_calculator(charge), folder / "gfn2.traj",
               args.steps, args.seed)  # fmt: skip
        return 0
    out, steps = Path(args.out), int(round(args.ps * 1000 / TIMESTEP_FS))
    unknown = set(args.systems.split(",")) - set(SYSTEMS)
    if unknown:
        p.error(f"unknown systems {sorted(unknown)}; choose from {sorted(SYSTEMS)}")
    results = {
        s: run_system(s, out, steps, args.seed, args.threads) for s in args.systems.split(",")
    }
    print(f"\n{'system':12s} {'pair':5s} {'GFN2-xTB/A':>11s} {'model/A':>9s} {'delta/A':>8s}")
    for system, r in results.items():
        for pair in PAIRS:
            if pair in r["gfn2"] and pair in r["model"]:
                g, m = r["gfn2"][pair]["peak_A"], r["model"][pair]["peak_A"]
                print(f"{system:12s} {pair:5s} {g:11.2f} {m:9.2f} {m - g:+8.2f}")
    summary = {
        "protocol": protocol(args.ps),
        **_model_record(),
        "results": results,
    }
    (out / "reference_rdf.json").write_text(json.dumps(summary, indent=1))
    if args.summary_to:
        Path(args.summary_to).write_text(json.dumps(summary, indent=1))
    plot(results, out / "reference_rdf.png")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
