"""PySCF DFT labelling worker, run as a script by the label interpreter (``.venv-labels``).

It imports only numpy, ase and pyscf, never ``openmm_polarml`` (the label environment pins a
different torch; see ``tools/label_env.sh``).

    .venv-labels/bin/python openmm_polarml/data/pyscf_worker.py IN.extxyz OUT.json \
        [--xc PBE] [--basis def2-SVP]

Every input frame must be a finite cluster (no periodic boundary conditions); ``info["charge"]``
(e) sets the total charge and the spin is the lowest one allowed (restricted Kohn–Sham for an
even electron count, unrestricted with one unpaired electron otherwise). The SCF uses density
fitting (``.density_fit()``, the basis' default JKFIT/RIFIT auxiliary set) and the default
integration grid (level 3). ``OUT.json`` holds, per input frame in order, either ``{"ok": false,
"error": ...}`` or the energy (eV), analytic forces (eV/Å), the dipole (e·Å, about the origin;
physically meaningful for neutral frames only), the SCF iteration count and seconds, plus the
versions and settings used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def _versions(names) -> dict:
    import importlib.metadata as md

    return {n: md.version(n) for n in names}


def label_frame(atoms, xc: str, basis: str, conv_tol: float = 1e-9) -> dict:
    """Energy (eV), forces (eV/Å) and dipole (e·Å) of one finite cluster by Kohn–Sham DFT.

    Parameters
    ----------
    atoms : ase.Atoms
        Finite cluster, positions in Å; ``info["charge"]`` is the total charge (e).
    xc : str
        Exchange–correlation functional in PySCF's notation (``"PBE"``).
    basis : str
        Orbital basis set (``"def2-SVP"``).
    conv_tol : float
        SCF energy convergence (Hartree).
    """
    import ase.units as u
    from pyscf import dft, gto

    if np.any(atoms.pbc):
        raise ValueError("the PySCF worker labels finite clusters only (pbc must be False)")
    charge = int(round(float(atoms.info.get("charge", 0.0))))
    spin = int(atoms.numbers.sum() - charge) % 2
    mol = gto.M(
        atom=[
            (int(z), tuple(map(float, r)))
            for z, r in zip(atoms.numbers, atoms.positions, strict=True)
        ],
        unit="Angstrom",
        basis=basis,
        charge=charge,
        spin=spin,
        verbose=0,
    )
    mf = (dft.RKS(mol) if spin == 0 else dft.UKS(mol)).density_fit()
    mf.xc = xc
    mf.conv_tol = conv_tol
    mf.max_cycle = 100
    start = time.perf_counter()
    energy = mf.kernel()
    if not mf.converged:
        raise RuntimeError("SCF not converged")
    gradient = mf.nuc_grad_method().kernel()  # [n, 3] Hartree/Bohr
    dipole = mf.dip_moment(unit="AU", verbose=0)  # e·Bohr
    return {
        "ok": True,
        "energy": float(energy) * u.Hartree,
        "forces": (-np.asarray(gradient) * u.Hartree / u.Bohr).tolist(),
        "dipole": (np.asarray(dipole) * u.Bohr).tolist(),
        "spin": spin,
        "scf_cycles": int(getattr(mf, "cycles", -1)),
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str]) -> int:
    import ase.io
    from pyscf import lib

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--xc", default="PBE")
    parser.add_argument("--basis", default="def2-SVP")
    args = parser.parse_args(argv)
    lib.num_threads(int(os.environ.get("POLARML_LABEL_THREADS", "1")))
    frames = ase.io.read(args.source, index=":", format="extxyz")
    start = time.perf_counter()
    results = []
    for index, atoms in enumerate(frames):
        try:
            result = label_frame(atoms, args.xc, args.basis)
        except Exception as err:  # noqa: BLE001 - one failed SCF must not end the run
            result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        result["input"] = index
        results.append(result)
        print(f"frame {index}: {len(atoms)} atoms, ok={result['ok']}", file=sys.stderr, flush=True)
    settings = {
        "xc": args.xc,
        "basis": args.basis,
        "density_fitting": "pyscf default auxiliary basis for the orbital basis",
        "grid_level": 3,
        "conv_tol_hartree": 1e-9,
        "spin": "lowest: RKS for even electron counts, UKS doublet otherwise",
        "forces": "analytic gradients (density-fitted)",
    }
    info = {"settings": settings, "versions": _versions(["pyscf", "numpy", "scipy", "ase"])}
    info["seconds"] = time.perf_counter() - start
    tmp = args.target + ".tmp"
    with open(tmp, "w") as fh:
        json.dump({"results": results, **info}, fh)
    os.replace(tmp, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
