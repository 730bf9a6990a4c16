"""Teacher labels: candidates go to :mod:`label_worker` in the label interpreter, labels come back.

The label interpreter is ``.venv-labels/bin/python`` (``bash tools/label_env.sh``) or
``$POLARML_LABEL_PYTHON``. Each call is one subprocess over one shard's candidates, so a killed
build loses at most that shard. Frames that fail (SCF not converged, teacher error) are dropped
and counted; every kept frame carries its provenance in ``atoms.info``:

``level`` (head: ``pbe`` for SevenNet-0, whose training set MPtrj is PBE/PBE+U; ``gfn2``),
``label_method``, ``label_code`` (package versions), ``label_kind`` (``teacher``),
``license`` (of the labels' source), ``generator`` (how the geometry was made), ``charge`` (e),
``external_field`` (V/Å, when applied).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from ase import Atoms

from openmm_polarml.data.shards import write_frames

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("label_worker.py")
TEACHERS = {
    "sevenn": {
        "level": "pbe",
        "method": "SevenNet-0 (7net-0) teacher of PBE/PBE+U (MPtrj)",
        "license": "MIT (SevenNet-0 weights); generated labels CC-BY-4.0",
    },
    "sevenn-l3i5": {
        "level": "pbe",
        "method": "SevenNet-l3i5 (7net-l3i5) teacher of PBE/PBE+U (MPtrj)",
        "license": "MIT (SevenNet-l3i5 weights, sevenn 0.13.0); generated labels CC-BY-4.0",
    },
    "gfn2": {
        "level": "gfn2",
        "method": "GFN2-xTB (tblite)",
        "license": "LGPL-3.0 (tblite); generated labels CC-BY-4.0",
    },
}


class TeacherUnavailableError(RuntimeError):
    """The label interpreter is missing or lacks the teacher package."""


def label_python() -> Path:
    """The label interpreter; :class:`TeacherUnavailableError` with the set-up command if absent."""
    path = Path(os.environ.get("POLARML_LABEL_PYTHON", ROOT / ".venv-labels" / "bin" / "python"))
    if not path.exists():
        raise TeacherUnavailableError(
            f"teacher labels need the label environment at {path}: run `bash tools/label_env.sh` "
            "(or set POLARML_LABEL_PYTHON to an interpreter with sevenn 0.13.0 and tblite 0.8.0)"
        )
    return path


def run_label_script(
    worker: Path, candidates: list[Atoms], args=("{in}", "{out}"), threads: int = 1
) -> dict:
    """Run a worker script in the label interpreter on ``candidates``; its JSON output.

    ``args`` are the script's arguments, with ``{in}``/``{out}`` standing for the candidates'
    extxyz file and the JSON file the worker writes."""
    with tempfile.TemporaryDirectory(prefix="polarml-label-") as tmp:
        source = Path(tmp) / "in.extxyz.gz"
        target = Path(tmp) / "out.json"
        write_frames(source, candidates)
        env = dict(os.environ, POLARML_LABEL_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        paths = {"{in}": str(source), "{out}": str(target)}
        cmd = [str(label_python()), str(worker)] + [paths.get(a, a) for a in args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not target.exists():
            raise RuntimeError(
                f"label worker {Path(worker).name} failed with exit code {proc.returncode}:\n"
                f"{proc.stderr[-3000:]}"
            )
        return json.loads(target.read_text())


def run_worker(teacher: str, candidates: list[Atoms], threads: int = 1) -> dict:
    """Raw worker output (``results``, ``settings``, ``versions``, ``seconds``) for candidates."""
    return run_label_script(WORKER, candidates, (teacher, "{in}", "{out}"), threads)


def labelled_frames(teacher: str, candidates: list[Atoms], output: dict) -> tuple[list, int]:
    """Candidates with the worker's labels attached; returns (frames, number dropped)."""
    spec = TEACHERS[teacher]
    code = " ".join(f"{k}={v}" for k, v in sorted(output["versions"].items()))
    frames, dropped = [], 0
    for result in output["results"]:
        if not result["ok"]:
            dropped += 1
            continue
        seed = candidates[result["input"]]
        positions = result.get("positions", seed.positions)
        atoms = Atoms(seed.numbers, positions=positions, cell=seed.cell, pbc=seed.pbc)
        atoms.arrays["forces"] = np.asarray(result["forces"], dtype=np.float64)
        if "charges" in result:
            atoms.arrays["teacher_charges"] = np.asarray(result["charges"], dtype=np.float64)
        info = {k: v for k, v in seed.info.items() if k != "relax_steps"}
        info.update(
            energy=float(result["energy"]),
            level=spec["level"],
            label_method=spec["method"],
            label_code=code,
            label_kind="teacher",
            license=spec["license"],
        )
        if "stress" in result:
            info["stress"] = np.asarray(result["stress"], dtype=np.float64)
        if "dipole" in result and float(seed.info.get("charge", 0)) == 0.0:
            info["dipole"] = np.asarray(result["dipole"], dtype=np.float64)
        atoms.info = info
        frames.append(atoms)
    return frames, dropped


def label(teacher: str, candidates: list[Atoms], threads: int = 1) -> tuple[list, dict]:
    """Label candidates with ``teacher``; returns (frames, run record for the manifest)."""
    output = run_worker(teacher, candidates, threads)
    frames, dropped = labelled_frames(teacher, candidates, output)
    record = {
        "candidates": len(candidates),
        "frames": len(frames),
        "dropped": dropped,
        "seconds": round(float(output["seconds"]), 1),
        "settings": output["settings"],
        "versions": output["versions"],
    }
    return frames, record
