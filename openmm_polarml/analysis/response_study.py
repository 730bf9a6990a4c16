"""Study 0 of the paper issue: is the polarisation of periodic solids physical?

For a PQEq parameter set (the shipped model's) and both charge-transfer models (global charge
equilibration, split charges), measure

- the Born charges of rocksalt NaCl in a 1×1×1 and a 2×2×2 cell and after re-wrapping an atom:
  the spread over symmetry-equivalent atoms, the acoustic sum rule and the cell-size difference
  (all must vanish for a physical polarisation), beside experiment (Z* ≈ 1.1);
- the Born charges of cubic BaTiO₃ beside DFPT (Zhong, King-Smith & Vanderbilt, PRL 72, 3618
  (1994): Ba 2.75, Ti 7.16, O∥ −5.69, O⊥ −2.11);
- ε∞ of NaCl beside experiment (2.34) and the polarisability volume of one water molecule beside
  experiment (1.45 Å³).
"""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk, molecule

from ..pqeq import PQEq
from ..pqeq.response import (
    ResponseInput,
    born_charges,
    high_frequency_permittivity,
    polarizability,
    polarizability_volume,
)

#: Published references (see the module docstring).
REFERENCES = {
    "nacl_born_expt": 1.1,
    "nacl_eps_inf_expt": 2.34,
    "water_alpha_A3_expt": 1.45,
    "batio3_born_dfpt": {"Ba": 2.75, "Ti": 7.16, "O_parallel": -5.69, "O_perpendicular": -2.11},
}
NACL_A = 5.64  # Å, experiment
BATIO3_A = 4.00  # Å, cubic phase


def batio3_cubic() -> Atoms:
    """Cubic BaTiO₃ (5 atoms): Ba at the corner, Ti at the centre, O on the face centres."""
    scaled = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return Atoms("BaTiO3", scaled_positions=scaled, cell=np.eye(3) * BATIO3_A, pbc=True)


def nacl_born_invariance(engine: PQEq, charge_model: str = "none") -> dict:
    """Born-charge checks of rocksalt NaCl: per species the value, the spread over atoms and
    tensor components (e), the acoustic sum rule and the 1×1×1 vs 2×2×2 and re-wrap differences."""
    unit = bulk("NaCl", "rocksalt", a=NACL_A, cubic=True)
    wrapped = unit.copy()
    wrapped.positions[3] += unit.cell[0] - unit.cell[2]
    z1 = born_charges(engine, ResponseInput.from_atoms(unit, charge_model))
    zw = born_charges(engine, ResponseInput.from_atoms(wrapped, charge_model))
    large = unit.repeat(2)
    z2 = born_charges(engine, ResponseInput.from_atoms(large, charge_model))
    out = {}
    eye = torch.eye(3, dtype=z1.dtype)
    for symbol, number in (("Na", 11), ("Cl", 17)):
        values = []
        for z, atoms in ((z1, unit), (z2, large)):
            zz = z[torch.as_tensor(atoms.numbers) == number]  # [n, 3, 3]
            values.append(zz)
        iso = float(values[0][0, 0, 0])
        spread = max(float((v - iso * eye).abs().max()) for v in values)
        out[symbol] = {"born_charge_e": iso, "max_deviation_from_isotropic_mean_e": spread}
    out["acoustic_sum_rule_max_e"] = max(float(z.sum(0).abs().max()) for z in (z1, z2))
    out["rewrap_max_difference_e"] = float((zw - z1).abs().max())
    out["supercell_max_difference_e"] = float(
        (z2[: len(unit)] - z1).abs().max()
    )  # repeat() keeps the first cell's atoms first
    return out


def batio3_born(engine: PQEq, charge_model: str = "none") -> dict:
    """Born charges of cubic BaTiO₃ (e): Ba, Ti, and the apical O along and across its Ti–O bond."""
    z = born_charges(engine, ResponseInput.from_atoms(batio3_cubic(), charge_model))
    # O at (½, ½, 0): its Ti–O bond is along z
    return {
        "Ba": float(z[0, 0, 0]),
        "Ti": float(z[1, 0, 0]),
        "O_parallel": float(z[2, 2, 2]),
        "O_perpendicular": float(z[2, 0, 0]),
        "acoustic_sum_rule_max_e": float(z.sum(0).abs().max()),
    }


def dielectric_checks(engine: PQEq, finite: PQEq, charge_model: str = "none") -> dict:
    """ε∞ of NaCl and ε∞ of cubic BaTiO₃ (periodic ``engine``), α of water (``finite``)."""
    nacl = ResponseInput.from_atoms(bulk("NaCl", "rocksalt", a=NACL_A, cubic=True), charge_model)
    water = ResponseInput.from_atoms(molecule("H2O"))
    alpha = polarizability_volume(polarizability(finite, water))
    return {
        "nacl_eps_inf": float(high_frequency_permittivity(engine, nacl)[0, 0]),
        "batio3_eps_inf": float(
            high_frequency_permittivity(
                engine, ResponseInput.from_atoms(batio3_cubic(), charge_model)
            )[0, 0]
        ),
        "water_alpha_A3": float(alpha.diagonal().mean()),
    }


#: The charge models compared: (charge transfer, reference charges, bond hardness eV/e² or None
#: for the model's own / the default).
VARIANTS = (
    ("global", "none", None),
    ("split", "none", None),
    ("split", "molecules", None),
    ("split", "molecules", 10.0),
)


def variant_name(transfer: str, charge_model: str, hardness) -> str:
    name = transfer if transfer == "global" else f"split/{charge_model}"
    return name if hardness is None else f"{name}/kappa={hardness:g}"


def run_response_study(parameters, bond_hardness=None, variants=VARIANTS) -> dict:
    """All checks for each charge model of ``variants`` with the element ``parameters``
    (:class:`~openmm_polarml.pqeq.ElementParameters`); ``bond_hardness`` (eV/e² per element, or a
    :class:`~openmm_polarml.pqeq.split_charge.BondHardness`) where a variant leaves it open.

    ``charge_model`` ``molecules`` takes formal charges of ions (:mod:`~openmm_polarml.pqeq.
    charge_groups`) as the split model's reference charges (Na⁺/Cl⁻ in NaCl; BaTiO₃ and water
    have no consistent formal assignment and get zero)."""
    results = {"references": REFERENCES, "models": {}}
    for transfer, charge_model, hardness in variants:
        extra = {}
        value = hardness if hardness is not None else bond_hardness
        if transfer == "split" and value is not None:
            extra["bond_hardness"] = value
        common = {"parameters": parameters, "charge_transfer": transfer, **extra}
        periodic = PQEq(long_range="ewald", tolerance=1e-10, accuracy=1e-8, **common)
        finite = PQEq(tolerance=1e-10, **common)
        name = variant_name(transfer, charge_model, hardness)
        print(f"[response] {name}: NaCl Born charges, BaTiO3, dielectric", flush=True)
        results["models"][name] = {
            "charge_transfer": transfer,
            "reference_charges": charge_model,
            "nacl": nacl_born_invariance(periodic, charge_model),
            "batio3": batio3_born(periodic, charge_model),
            **dielectric_checks(periodic, finite, charge_model),
        }
    return results


def plot_born_charges(results: dict, path) -> None:
    """Bar chart of the BaTiO₃ and NaCl Born charges of each model beside the references."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["Ba", "Ti", "O_parallel", "O_perpendicular"]
    ref = results["references"]["batio3_born_dfpt"]
    series = {"DFPT": [ref[k] for k in labels] + [results["references"]["nacl_born_expt"]]}
    for name, model in results["models"].items():
        series[name] = [model["batio3"][k] for k in labels] + [model["nacl"]["Na"]["born_charge_e"]]
    x = np.arange(len(labels) + 1)
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x + k * width, values, width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, ["Ba", "Ti", "O∥", "O⊥", "Na (NaCl, expt)"])
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_ylabel("Born charge Z* (e)")
    ax.set_title("Born charges: PQEq (shipped parameters) vs DFPT / experiment")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
