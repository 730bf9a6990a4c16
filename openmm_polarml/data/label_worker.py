"""Teacher labelling worker, run as a script by the separate label interpreter (``.venv-labels``).

It imports only numpy, ase and the teacher (sevenn or tblite), never ``openmm_polarml``, because
the label environment pins a different torch/e3nn set (``tools/label_env.sh``).

    .venv-labels/bin/python openmm_polarml/data/label_worker.py TEACHER IN.extxyz OUT.json

``TEACHER`` is ``sevenn`` (SevenNet-0, periodic crystals; the other shipped SevenNet checkpoints
are :data:`SEVENN_CHECKPOINTS`) or ``gfn2`` (GFN2-xTB through tblite:
molecules, clusters, periodic boxes; ``info["charge"]`` in e and ``info["external_field"]`` in
V/Å are honoured). ``OUT.json`` holds, per input frame in order, either ``{"ok": false,
"error": ...}`` or energy (eV), forces (eV/Å), stress (eV/Å³, ASE sign, periodic only), dipole
(e·Å, molecules) and charges (e, GFN2 Mulliken), plus the versions and settings used.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def _versions(names) -> dict:
    import importlib.metadata as md

    return {n: md.version(n) for n in names}


#: the PBE checkpoints the sevenn 0.13.0 wheel ships: teacher name -> (checkpoint, modality)
SEVENN_CHECKPOINTS = {
    "sevenn": ("7net-0", None),  # SevenNet-0 (11 Jul 2024), the teacher of the pbe head so far
    "sevenn-0-22may2024": ("7net-0_22May2024", None),
    "sevenn-l3i5": ("7net-l3i5", None),
    "sevenn-mf-0-pbe": ("7net-mf-0", "PBE"),  # SevenNet-MF-0, its PBE (MPtrj) head
}


def label_sevenn(frames, teacher: str = "sevenn") -> tuple[list, dict]:
    """Energy, forces, stress of periodic frames by one SevenNet checkpoint
    (:data:`SEVENN_CHECKPOINTS`)."""
    import torch

    torch.set_num_threads(int(os.environ.get("POLARML_LABEL_THREADS", "1")))
    from sevenn.calculator import SevenNetCalculator

    model, modal = SEVENN_CHECKPOINTS[teacher]
    calc = SevenNetCalculator(model, device="cpu", **({"modal": modal} if modal else {}))
    out = []
    for index, atoms in enumerate(frames):
        try:
            atoms.calc = calc  # raises for an element SevenNet-0 was not trained on
            energy = float(atoms.get_potential_energy())
            forces = atoms.get_forces().tolist()
            stress = atoms.get_stress(voigt=False).reshape(9).tolist()
            result = {"ok": True, "energy": energy, "forces": forces, "stress": stress}
        except Exception as err:  # noqa: BLE001 - one bad frame must not end the shard
            result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        result["input"] = index
        out.append(result)
    settings = {"model": model, "modal": modal, "device": "cpu", "dtype": "float32"}
    return out, {"settings": settings, "versions": _versions(["sevenn", "torch", "ase"])}


def _gfn2_single(atoms, accuracy: float, max_iter: int) -> dict:
    import ase.units as u
    from tblite import library
    from tblite.interface import Calculator

    charge = float(atoms.info.get("charge", 0.0))
    n_electrons = int(atoms.numbers.sum() - round(charge))
    uhf = n_electrons % 2
    periodic = bool(np.all(atoms.pbc))
    kwargs = {"charge": charge, "uhf": uhf}
    if periodic:
        kwargs["lattice"] = np.asarray(atoms.cell) / u.Bohr
        kwargs["periodic"] = np.ones(3, dtype=bool)
    calc = Calculator("GFN2-xTB", atoms.numbers, atoms.positions / u.Bohr, **kwargs)
    calc.set("verbosity", 0)
    calc.set("accuracy", accuracy)
    calc.set("max-iter", max_iter)
    field = np.asarray(atoms.info.get("external_field", np.zeros(3)), dtype=np.float64)
    if np.any(field != 0.0):
        # tblite 0.8.0 passes the field straight to C: it needs a double* (atomic units)
        field_au = np.ascontiguousarray(field * u.Bohr / u.Hartree)
        calc.add("electric-field", library.ffi.cast("double*", field_au.ctypes.data))
    res = calc.singlepoint()
    out = {
        "ok": True,
        "energy": float(res.get("energy")) * u.Hartree,
        "forces": (-np.asarray(res.get("gradient")) * u.Hartree / u.Bohr).tolist(),
        "charges": np.asarray(res.get("charges")).tolist(),
        "uhf": uhf,
    }
    if periodic:
        # tblite's "virial" is dE/d(strain) (Hartree), as its own ase calculator reads it
        strain_derivative = np.asarray(res.get("virial")) * u.Hartree
        out["stress"] = (strain_derivative / atoms.get_volume()).reshape(9).tolist()
    else:
        out["dipole"] = (np.asarray(res.get("dipole")) * u.Bohr).tolist()
    return out


def _relaxation_snapshots(atoms, steps: int, n_snapshots: int = 4) -> list:
    """Geometries along a GFN2-xTB BFGS relaxation (no field): steps 0, s/3, 2s/3, s."""
    from ase.optimize import BFGS
    from tblite.ase import TBLite

    work = atoms.copy()
    charge = float(atoms.info.get("charge", 0.0))
    uhf = int(atoms.numbers.sum() - round(charge)) % 2
    work.calc = TBLite(method="GFN2-xTB", charge=charge, multiplicity=uhf + 1, verbosity=0)
    wanted = {round(k * steps / (n_snapshots - 1)) for k in range(n_snapshots)}
    snapshots = []
    optimizer = BFGS(work, logfile=None)
    for step, _ in enumerate(optimizer.irun(fmax=0.05, steps=steps)):
        if step in wanted:
            snapshots.append(np.round(work.positions, 8))
    return snapshots


def label_gfn2(frames, accuracy: float = 1.0, max_iter: int = 250) -> tuple[list, dict]:
    """GFN2-xTB energy, forces, Mulliken charges; dipole (finite) or stress (periodic).

    A frame with ``info["relax_steps"] > 0`` yields several results, one per snapshot of a
    short relaxation (each with its ``positions``)."""
    out = []
    for index, atoms in enumerate(frames):
        steps = int(atoms.info.get("relax_steps", 0))
        try:
            geometries = _relaxation_snapshots(atoms, steps) if steps else [atoms.positions]
        except Exception as err:  # noqa: BLE001 - fall back to the unrelaxed geometry
            geometries = [atoms.positions]
            out.append({"ok": False, "input": index, "error": f"relax: {err}"})
        for positions in geometries:
            snapshot = atoms.copy()
            snapshot.positions = positions
            try:
                result = _gfn2_single(snapshot, accuracy, max_iter)
                result["positions"] = np.asarray(positions).tolist()
            except Exception as err:  # noqa: BLE001 - SCF failures are recorded, frame dropped
                result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
            result["input"] = index
            out.append(result)
    settings = {
        "method": "GFN2-xTB",
        "accuracy": accuracy,
        "max_iter": max_iter,
        "electronic_temperature_K": 300.0,
        "spin": "uhf = electron count mod 2",
        "field_sign": "E(F) = E(0) - mu.F",
        "relaxation": "ase BFGS, fmax 0.05 eV/A, snapshots at steps 0, s/3, 2s/3, s",
    }
    return out, {"settings": settings, "versions": _versions(["tblite", "ase"])}


def main(argv: list[str]) -> int:
    import ase.io

    teacher, source, target = argv
    frames = ase.io.read(source, index=":", format="extxyz")
    start = time.perf_counter()
    if teacher in SEVENN_CHECKPOINTS:
        results, info = label_sevenn(frames, teacher)
    elif teacher == "gfn2":
        results, info = label_gfn2(frames)
    else:
        raise SystemExit(f"unknown teacher {teacher!r} ({', '.join(SEVENN_CHECKPOINTS)}, gfn2)")
    info["seconds"] = time.perf_counter() - start
    tmp = target + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"results": results, **info}, fh)
    os.replace(tmp, target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
