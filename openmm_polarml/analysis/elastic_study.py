"""The elastic-constants study: 13 crystals relaxed and strained by one ASE calculator.

Each crystal (:func:`crystal`, about its experimental geometry) is relaxed (ions and cell; cubic
cells isotropically), then its relaxed-ion elastic tensor is measured by finite strain
(:mod:`openmm_polarml.analysis.elastic`, Voigt strains :data:`STRAINS`); :func:`run_all` keeps
the results per crystal in a JSON store and resumes. :func:`comparison`, :func:`table` and
:func:`parity_plot` set the model beside its teacher and the room-temperature experiments
(:data:`EXPERIMENT_C`). Elastic constants and moduli in GPa, forces in eV/Å. Imports only
numpy (and ase inside functions), so the label interpreter measures the teacher with it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

__all__ = [
    "EXPERIMENT_C",
    "LATTICE",
    "STRAINS",
    "FMAX_EV_A",
    "crystal",
    "relaxed",
    "measure",
    "run_all",
    "experiment_moduli",
    "table",
    "comparison",
    "parity_plot",
    "elastic_summary",
]

#: GPa, room-temperature single-crystal elastic constants (Simmons & Wang 1971 compilation;
#: forsterite: Isaak et al. 1989, Pbnm axes). Moduli follow from these by Voigt–Reuss–Hill.
EXPERIMENT_C = {
    "Al": {"C11": 107.3, "C12": 60.9, "C44": 28.3},
    "Cu": {"C11": 168.4, "C12": 121.4, "C44": 75.4},
    "Fe": {"C11": 231.0, "C12": 135.0, "C44": 116.0},
    "W": {"C11": 522.4, "C12": 204.4, "C44": 160.6},
    "Si": {"C11": 165.7, "C12": 63.9, "C44": 79.6},
    "NaCl": {"C11": 49.5, "C12": 12.9, "C44": 12.7},
    "KCl": {"C11": 40.5, "C12": 6.9, "C44": 6.3},
    "LiF": {"C11": 111.2, "C12": 42.0, "C44": 62.8},
    "MgO": {"C11": 297.0, "C12": 95.2, "C44": 155.7},
    "SrTiO3": {"C11": 317.2, "C12": 102.5, "C44": 123.5},
    "Mg": {"C11": 59.4, "C12": 25.6, "C13": 21.4, "C33": 61.6, "C44": 16.4},
    "ZnO": {"C11": 209.7, "C12": 121.1, "C13": 105.1, "C33": 210.9, "C44": 42.5},
    "Mg2SiO4": {
        "C11": 330.0, "C22": 200.0, "C33": 236.0, "C44": 67.2, "C55": 81.5, "C66": 81.2,
        "C12": 66.2, "C13": 68.0, "C23": 72.2,
    },
}  # fmt: skip

#: crystals that are not cubic -> lattice system
LATTICE = {"Mg": "hexagonal", "ZnO": "hexagonal", "Mg2SiO4": "orthorhombic"}

#: Voigt strains of the finite-strain fits
STRAINS = (-0.01, -0.005, 0.005, 0.01)

#: eV/Å, force tolerance of every relaxation
FMAX_EV_A = 1e-3


def crystal(name: str):
    """The conventional cell of ``name`` at (about) its experimental geometry."""
    from ase import Atoms
    from ase.build import bulk
    from ase.spacegroup import crystal as spacegroup_crystal

    if name == "SrTiO3":
        frac = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
        return Atoms(name, scaled_positions=frac, cell=[3.905] * 3, pbc=True)
    if name == "Mg":
        return bulk("Mg", "hcp", a=3.209, c=5.211)
    if name == "ZnO":
        return bulk("ZnO", "wurtzite", a=3.250, c=5.207, u=0.382)
    if name == "Mg2SiO4":  # forsterite, built in Pnma and turned to Pbnm axes (a=4.756 Å)
        pnma = spacegroup_crystal(
            ["Mg", "Mg", "Si", "O", "O", "O"],
            [(0, 0, 0), (0.2774, 0.25, 0.9915), (0.0940, 0.25, 0.4262),
             (0.0913, 0.25, 0.7657), (0.4474, 0.25, 0.2215), (0.1628, 0.0331, 0.2777)],
            spacegroup=62, cellpar=[10.207, 5.980, 4.756, 90, 90, 90],
        )  # fmt: skip
        cell = np.diag(pnma.cell.lengths()[[2, 0, 1]])
        return Atoms(pnma.numbers, positions=pnma.positions[:, [2, 0, 1]], cell=cell, pbc=True)
    a = {"Al": 4.05, "Cu": 3.615, "Fe": 2.866, "W": 3.165, "Si": 5.431, "NaCl": 5.64,
         "KCl": 6.293, "LiF": 4.026, "MgO": 4.212}[name]  # fmt: skip
    structure = {"Al": "fcc", "Cu": "fcc", "Fe": "bcc", "W": "bcc", "Si": "diamond"}
    return bulk(name, structure.get(name, "rocksalt"), a=a, cubic=True)


def relaxed(atoms, calc, lattice: str):
    """The cell relaxed to zero stress (cubic: isotropically) and forces below FMAX_EV_A."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = atoms.copy()
    atoms.calc = calc
    cell_filter = FrechetCellFilter(atoms, hydrostatic_strain=lattice == "cubic")
    if not BFGS(cell_filter, logfile=None).run(fmax=FMAX_EV_A, steps=500):
        raise RuntimeError(f"{atoms.get_chemical_formula()}: cell relaxation not converged")
    return atoms


def measure(name: str, calc) -> dict:
    """Relaxed cell, elastic tensor, independent constants and moduli of one crystal."""
    from openmm_polarml.analysis.elastic import (
        ElasticProblem,
        elastic_tensor,
        symmetry_of_tensor,
        voigt_reuss_hill,
    )

    start = time.time()
    lattice = LATTICE.get(name, "cubic")
    reference = relaxed(crystal(name), calc, lattice)
    problem = ElasticProblem(reference, strains=STRAINS, fmax=FMAX_EV_A)
    c = elastic_tensor(problem, calc)
    return {
        "lattice": lattice,
        "cell_A": reference.cell.lengths().tolist(),
        "C_GPa": c.round(3).tolist(),
        "constants_GPa": symmetry_of_tensor(c, lattice),
        "moduli_GPa": voigt_reuss_hill(c),
        "bfgs_steps": int(sum(r["bfgs_steps"] for r in problem.log)),
        "seconds": round(time.time() - start, 1),
    }


def run_all(names: list[str], calc, store: Path, tag: str) -> dict:
    """Measure every crystal not yet in ``store`` (JSON, rewritten atomically after each)."""
    results = json.loads(store.read_text()) if store.exists() else {}
    for name in names:
        if name in results:
            continue
        results[name] = measure(name, calc)
        k, g = results[name]["moduli_GPa"]["K_H"], results[name]["moduli_GPa"]["G_H"]
        print(f"[elastic] {tag} {name}: K {k:.1f} G {g:.1f} GPa "
              f"({results[name]['seconds']:.0f} s)", flush=True)  # fmt: skip
        tmp = store.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1))
        tmp.replace(store)
    return results


def experiment_moduli(name: str) -> dict:
    """Voigt–Reuss–Hill moduli (GPa) of the experimental constants."""
    from openmm_polarml.analysis.elastic import voigt_reuss_hill

    e = EXPERIMENT_C[name]
    c = np.zeros((6, 6))
    lattice = LATTICE.get(name, "cubic")
    if lattice == "cubic":
        c[:3, :3] = e["C12"]
        c[range(3), range(3)] = e["C11"]
        c[range(3, 6), range(3, 6)] = e["C44"]
    elif lattice == "hexagonal":
        c[0, 0] = c[1, 1] = e["C11"]
        c[0, 1] = c[1, 0] = e["C12"]
        c[0, 2] = c[2, 0] = c[1, 2] = c[2, 1] = e["C13"]
        c[2, 2], c[3, 3] = e["C33"], e["C44"]
        c[4, 4], c[5, 5] = e["C44"], 0.5 * (e["C11"] - e["C12"])
    else:
        for k, key in enumerate(("C11", "C22", "C33", "C44", "C55", "C66")):
            c[k, k] = e[key]
        c[0, 1] = c[1, 0] = e["C12"]
        c[0, 2] = c[2, 0] = e["C13"]
        c[1, 2] = c[2, 1] = e["C23"]
    return voigt_reuss_hill(c)


def table(names: list[str], model: dict, teacher: dict) -> str:
    """The comparison table: K and G (Hill) of model, teacher and experiment."""
    lines = [f"{'crystal':8s} {'K model':>8s} {'K 7net':>7s} {'K expt':>7s} "
             f"{'G model':>8s} {'G 7net':>7s} {'G expt':>7s}   GPa (Voigt-Reuss-Hill)"]  # fmt: skip
    for name in names:
        m, e = model[name]["moduli_GPa"], experiment_moduli(name)
        t = teacher.get(name, {}).get("moduli_GPa", {"K_H": np.nan, "G_H": np.nan})
        lines.append(f"{name:8s} {m['K_H']:8.1f} {t['K_H']:7.1f} {e['K_H']:7.1f} "
                     f"{m['G_H']:8.1f} {t['G_H']:7.1f} {e['G_H']:7.1f}")  # fmt: skip
    return "\n".join(lines)


def comparison(names: list[str], model: dict, teacher: dict) -> dict:
    """Mean absolute errors (GPa) and mean absolute relative errors (%) of K and G (Hill) and of
    the independent constants: model vs teacher, model vs experiment, teacher vs experiment."""

    def errors(a: list, b: list) -> dict:
        a, b = np.asarray(a), np.asarray(b)
        return {"MAE_GPa": float(np.mean(np.abs(a - b))),
                "MARE_percent": float(100 * np.mean(np.abs(a - b) / np.abs(b)))}  # fmt: skip

    out = {}
    sources = {"model": model, "teacher": teacher}
    pairs = (("model", "teacher"), ("model", "experiment"), ("teacher", "experiment"))
    for first, second in pairs:
        done = [
            n for n in names if n in sources[first] and (second == "experiment" or n in teacher)
        ]
        if not done:
            continue
        for key in ("K_H", "G_H"):
            a = [sources[first][n]["moduli_GPa"][key] for n in done]
            b = [experiment_moduli(n)[key] if second == "experiment"
                 else sources[second][n]["moduli_GPa"][key] for n in done]  # fmt: skip
            out[f"{first}_vs_{second}_{key}"] = errors(a, b)
        a = [v for n in done for k, v in sorted(sources[first][n]["constants_GPa"].items())]
        b = [v for n in done for k, v in sorted(
            (EXPERIMENT_C[n] if second == "experiment" else sources[second][n]["constants_GPa"]).items())]  # fmt: skip
        out[f"{first}_vs_{second}_Cij"] = {"MAE_GPa": float(np.mean(np.abs(np.subtract(a, b))))}
    return out


def parity_plot(names: list[str], model: dict, teacher: dict, path: Path) -> None:
    """Bulk and shear moduli (GPa, Hill) of model and teacher against experiment."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, key, title in zip(axes, ("K_H", "G_H"), ("bulk modulus", "shear modulus"), strict=True):
        ref = [experiment_moduli(n)[key] for n in names]
        ax.scatter(ref, [model[n]["moduli_GPa"][key] for n in names], label="model (pbe head)")
        done = [n for n in names if n in teacher]
        if done:
            ax.scatter([experiment_moduli(n)[key] for n in done],
                       [teacher[n]["moduli_GPa"][key] for n in done], marker="x",
                       label="SevenNet-0 (teacher)")  # fmt: skip
        top = 1.1 * max(ref)
        ax.plot([0, top], [0, top], "k--", lw=0.8)
        ax.set(xlabel=f"experiment {title} / GPa", ylabel=f"computed {title} / GPa", title=title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def elastic_summary(names: list[str], model: dict, teacher: dict, model_sha256: str) -> dict:
    """The record of ``elastic.json``: method, the model's fingerprint, both calculators'
    results, the experiments and :func:`comparison`."""
    return {
        "method": "relaxed-ion finite strain, Voigt strains "
        f"{STRAINS}, BFGS to {FMAX_EV_A:g} eV/Å; cells relaxed first (FrechetCellFilter)",
        "model_sha256": model_sha256, "head": "pbe", "dtype": "float64",
        "teacher": "SevenNet-0 (sevenn 0.13.0)" if teacher else None,
        "model": model, "teacher_results": teacher,
        "experiment_constants_GPa": {n: EXPERIMENT_C[n] for n in names},
        "experiment_moduli_GPa": {n: experiment_moduli(n) for n in names},
        "comparison": comparison(names, model, teacher),
    }  # fmt: skip
