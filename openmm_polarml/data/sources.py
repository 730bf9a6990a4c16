"""Real DFT labels that ship inside registry packages, read into ASE Atoms with provenance.

Sources (all PBE, VASP):

- the mattersim sdist, ``data/benchmarks/*.xyz`` (6 files, 5,222 structures; MPtrj,
  Alexandria and MatterSim's own high-T/P sets; CC-BY-4.0 upstream). Energies in eV, forces
  in eV/Å, stress in eV/Å³ with ASE's sign (positive = tensile), as the files' own
  ``*_unit`` keys say and as mattersim's fine-tuning script reads them (``atoms.get_stress()``).
- the alignn sdist, ``alignn/examples/sample_data_ff/mlearn_data/all/id_prop.json`` (the
  mlearn set of Zuo et al. 2020: Cu, Ge, Li, Mo, Ni, Si; 1,730 structures). ``energy`` is the
  total energy in eV (its ``total_energy`` field is per atom), forces in eV/Å. Stresses are
  NOT kept: alignn's preparation script pairs the test structures with the training
  stresses, so the field is wrong for part of the set.
- ``../shared/data/reaxnet/demo.traj`` (500 frames, a subset of mattersim's ``mpf-TP``).

Every frame gets ``atoms.info``: ``energy`` (eV), ``stress`` (eV/Å³, 3×3 flattened, ASE
sign; absent when unknown), ``level`` ("pbe"), ``source_package``, ``source_version``,
``source_file``, ``source_sha256`` (of the sdist or file read), ``source_index`` and
``source_id``, and the label provenance ``label_method``, ``label_code``, ``label_kind``
(``dft``) and ``license`` (:data:`PROVENANCE`); forces (eV/Å) are in ``atoms.arrays['forces']``.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from ase import Atoms

from openmm_polarml.data.shards import sha256_file

MATTERSIM_VERSION = "1.2.3"
ALIGNN_VERSION = "2026.8.11"
MATTERSIM_FILES = (
    "alexandria-random-1k.xyz",
    "mpf-TP.xyz",
    "mpf-alkali-TP.xyz",
    "mptrj-highest-stress-1k.xyz",
    "mptrj-random-1k.xyz",
    "random-TP.xyz",
)
#: per-source label provenance written into every frame
PROVENANCE = {
    "mattersim": {
        "label_method": "PBE/PBE+U (VASP; MPtrj, Alexandria, MatterSim high-T/P settings)",
        "label_code": "VASP",
        "license": "CC-BY-4.0",
    },
    "alignn": {
        "label_method": "PBE (VASP, mlearn; Zuo et al. 2020)",
        "label_code": "VASP",
        "license": "BSD-3-Clause (mlearn data)",
    },
    "reaxnet-demo": {
        "label_method": "PBE/PBE+U (VASP; subset of MatterSim mpf-TP)",
        "label_code": "VASP",
        "license": "CC-BY-4.0",
    },
}
MLEARN_MEMBER = "alignn/examples/sample_data_ff/mlearn_data/all/id_prop.json"
_ID_KEYS = ("alexandria_id", "internal_id", "mptrj_snapshot_id")


def _frame(numbers, positions, cell, energy, forces, stress, prov: dict) -> Atoms:
    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)
    atoms.arrays["forces"] = np.asarray(forces, dtype=np.float64).reshape(len(atoms), 3)
    atoms.info["energy"] = float(energy)
    if stress is not None:
        atoms.info["stress"] = np.asarray(stress, dtype=np.float64).reshape(9)
    atoms.info["level"] = "pbe"
    atoms.info["label_kind"] = "dft"
    atoms.info.update(PROVENANCE[prov["source_package"]])
    atoms.info.update(prov)
    return atoms


def _parse_ase_extxyz(text: str) -> list[Atoms]:
    import ase.io

    return ase.io.read(io.StringIO(text), index=":", format="extxyz")


def read_mattersim(sdist: str | Path, files: tuple[str, ...] = MATTERSIM_FILES) -> list[Atoms]:
    """Frames of mattersim's ``data/benchmarks/*.xyz`` read from the sdist tarball.

    Parameters
    ----------
    sdist : path
        ``mattersim-<version>.tar.gz``.
    files : tuple of str
        Benchmark file names to read.

    Returns
    -------
    list of Atoms
        Energies in eV, forces in eV/Å, stress in eV/Å³ (ASE sign), with provenance.
    """
    sdist = Path(sdist)
    digest = sha256_file(sdist)
    version = sdist.name.removeprefix("mattersim-").removesuffix(".tar.gz")
    frames: list[Atoms] = []
    with tarfile.open(sdist) as tar:
        for name in files:
            member = f"mattersim-{version}/data/benchmarks/{name}"
            text = tar.extractfile(member).read().decode()
            for index, raw in enumerate(_parse_ase_extxyz(text)):
                res = raw.calc.results
                units = (raw.info["energy_unit"], raw.info["forces_unit"], raw.info["stress_unit"])
                if units != ("eV", "eV/A", "eV/A^3"):
                    raise ValueError(f"{name}[{index}]: unexpected units {units}")
                ident = next((str(raw.info[k]) for k in _ID_KEYS if k in raw.info), "")
                prov = {
                    "source_package": "mattersim",
                    "source_version": version,
                    "source_file": member,
                    "source_sha256": digest,
                    "source_index": index,
                    "source_id": ident,
                    "source_origin": str(raw.info.get("source", "")),
                }
                stress = res.get("stress")
                if stress is not None and np.shape(stress) == (6,):
                    from ase.stress import voigt_6_to_full_3x3_stress

                    stress = voigt_6_to_full_3x3_stress(stress)
                frames.append(
                    _frame(
                        raw.numbers,
                        raw.positions,
                        raw.cell,
                        res["energy"],
                        res["forces"],
                        stress,
                        prov,
                    )
                )
    return frames


def read_mlearn(sdist: str | Path) -> list[Atoms]:
    """Frames of the mlearn set (Cu, Ge, Li, Mo, Ni, Si) from the alignn sdist.

    Parameters
    ----------
    sdist : path
        ``alignn-<version>.tar.gz``.

    Returns
    -------
    list of Atoms
        Total energies in eV, forces in eV/Å; no stress (see the module docstring).
    """
    sdist = Path(sdist)
    digest = sha256_file(sdist)
    version = sdist.name.removeprefix("alignn-").removesuffix(".tar.gz")
    member = f"alignn-{version}/{MLEARN_MEMBER}"
    with tarfile.open(sdist) as tar:
        entries = json.loads(tar.extractfile(member).read())
    frames = []
    for index, entry in enumerate(entries):
        at = entry["atoms"]
        cell = np.asarray(at["lattice_mat"], dtype=np.float64)
        coords = np.asarray(at["coords"], dtype=np.float64)
        positions = coords if at["cartesian"] else coords @ cell
        energy = float(entry["energy"])
        per_atom = float(entry["total_energy"])
        if abs(energy / len(coords) - per_atom) > 1e-6:
            raise ValueError(f"mlearn {entry['jid']}: energy per atom mismatch")
        prov = {
            "source_package": "alignn",
            "source_version": version,
            "source_file": member,
            "source_sha256": digest,
            "source_index": index,
            "source_id": str(entry["jid"]),
            "source_origin": "mlearn",
        }
        numbers = Atoms(symbols=at["elements"]).numbers
        frames.append(_frame(numbers, positions, cell, energy, entry["forces"], None, prov))
    return frames


def read_demo_traj(path: str | Path) -> list[Atoms]:
    """Frames of ``demo.traj`` (eV, eV/Å, eV/Å³ ASE sign), with provenance."""
    import ase.io

    path = Path(path)
    digest = sha256_file(path)
    frames = []
    for index, raw in enumerate(ase.io.read(str(path), index=":")):
        res = raw.calc.results
        prov = {
            "source_package": "reaxnet-demo",
            "source_version": "shared",
            "source_file": path.name,
            "source_sha256": digest,
            "source_index": index,
            "source_id": str(raw.info.get("internal_id", "")),
            "source_origin": str(raw.info.get("source", "")),
        }
        stress = res.get("stress")
        if stress is not None and np.shape(stress) == (6,):
            from ase.stress import voigt_6_to_full_3x3_stress

            stress = voigt_6_to_full_3x3_stress(stress)
        frames.append(
            _frame(raw.numbers, raw.positions, raw.cell, res["energy"], res["forces"], stress, prov)
        )
    return frames


def structure_key(atoms: Atoms) -> tuple:
    """Hashable key of a structure (numbers, positions and cell to 1e-5 Å) for dedup."""
    return (
        tuple(atoms.numbers.tolist()),
        tuple(np.round(atoms.positions, 5).ravel().tolist()),
        tuple(np.round(np.asarray(atoms.cell), 5).ravel().tolist()),
    )


def dedup(frames: list[Atoms]) -> list[Atoms]:
    """Frames in order with exact structural duplicates (same key) removed."""
    seen: set = set()
    out = []
    for atoms in frames:
        key = structure_key(atoms)
        if key not in seen:
            seen.add(key)
            out.append(atoms)
    return out
