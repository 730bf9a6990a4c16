"""Errors per kind of system: grouping by info['kind'] and field, values against a direct sum."""

import numpy as np
import pytest
from ase import Atoms

from openmm_polarml.training.by_kind import errors_by_kind, format_kind_table, frame_kind
from tests.model.helpers import tiny_model


def _frame(kind, shift, field=None):
    atoms = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93 + shift, 0]])
    atoms.info.update(kind=kind, energy=-1.0 - shift)
    atoms.arrays["forces"] = np.full((3, 3), 0.1 * shift)
    if field is not None:
        atoms.info["external_field"] = np.array(field)
    return atoms


def test_frame_kind_labels():
    assert frame_kind(_frame("g2", 0.0)) == "g2"
    assert frame_kind(_frame("g2", 0.0, [0, 0, 0.1])) == "g2 in field"
    assert frame_kind(_frame("g2", 0.0, [0, 0, 0])) == "g2"
    plain = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.7]])
    assert frame_kind(plain, "xtb_contacts") == "xtb_contacts"


def test_errors_by_kind_equal_a_direct_evaluation():
    model = tiny_model("float64", pqeq={"long_range": "direct"})
    frames = {"s": [_frame("water", 0.0), _frame("water", 0.05), _frame("ion", 0.1)]}
    table = errors_by_kind(model, frames)
    assert sorted(table) == ["ion", "water"] and table["water"]["frames"] == 2
    from openmm_polarml.data_io import atoms_to_frame, collate

    errors = []
    for atoms in frames["s"][:2]:
        out = model(collate([atoms_to_frame(atoms)]), compute_forces=True)
        errors.append(abs(float(out["energy"][0].detach()) - atoms.info["energy"]) / 3 * 1e3)
    assert table["water"]["energy_mae_mev_per_atom"] == pytest.approx(np.mean(errors), rel=1e-10)
    text = format_kind_table({"a": table, "b": errors_by_kind(model, frames, "molecules")})
    assert "| water | 2 |" in text and text.count("\n") == 3


def test_probe_table_puts_the_reference_beside_each_quantity():
    from openmm_polarml.training.by_kind import format_probe_table

    probes = {
        "a": {"binding_eV/Na": -0.5, "binding_reference_eV/Na": -1.33, "effective_charge_e": 0.3,
              "effective_charge_reference_e": 0.56, "ion_pair_mae_eV/KCl": 0.16},
        "b": {"binding_eV/Na": -0.6, "effective_charge_e": 1.0},
    }  # fmt: skip
    text = format_probe_table(probes).splitlines()
    assert text[2] == "| binding_eV/Na | -1.33 | -0.50 | -0.60 |"
    assert text[3] == "| effective_charge_e | 0.56 | 0.30 | 1.00 |"
    assert text[4] == "| ion_pair_mae_eV/KCl | – | 0.16 | – |"


def test_ion_labels_name_the_charged_molecules():
    from openmm_polarml.training.by_kind import ion_label

    water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    hydrated = water + Atoms("Na", positions=[[2.4, 0.5, 0.3]])
    hydrated.info["charge"] = 1.0
    assert ion_label(hydrated) == "Na(+1)"
    pair = Atoms("NaCl", positions=[[0, 0, 0], [0, 0, 2.4]])
    assert ion_label(pair) == "Cl(-1) + Na(+1)"
    assert ion_label(water) == "neutral"
    single = water.copy()
    single.info["charge"] = 1.0  # one molecule: one fragment with the total charge
    assert ion_label(single) == "H2O(+1)"
    zundel_like = water + water.copy()
    zundel_like.positions[3:] += [2.8, 0.0, 0.0]
    zundel_like.info["charge"] = 1.0  # two waters, +1: formal charges do not add up
    assert ion_label(zundel_like) == "global q=+1"


def test_errors_by_ion_give_the_signed_error_per_frame():
    from openmm_polarml.data_io import atoms_to_frame, collate
    from openmm_polarml.training.by_kind import errors_by_ion

    model = tiny_model("float64", pqeq={"long_range": "direct"})
    frames = []
    for k, dz in enumerate((0.0, 0.1, 0.2)):
        atoms = Atoms("OH2Na", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0],
                                          [2.3, 0.4, 0.2 + dz]])  # fmt: skip
        atoms.info["charge"] = 1.0
        out = model(collate([atoms_to_frame(atoms, "molecules")]), compute_forces=False)
        atoms.info["energy"] = float(out["energy"][0].detach()) - 0.5 * (k + 1)  # known error
        frames.append(atoms)
    row = errors_by_ion(model, frames, "molecules")["Na(+1)"]
    assert row["frames"] == 3
    assert row["energy_mean_signed_ev_per_frame"] == pytest.approx(1.0, abs=1e-8)
    assert row["energy_std_signed_ev_per_frame"] == pytest.approx(np.std([0.5, 1.0, 1.5]), abs=1e-8)


def test_errors_by_ion_split_by_kind_of_frame():
    from openmm_polarml.training.by_kind import errors_by_ion

    model = tiny_model("float64", pqeq={"long_range": "direct"})
    bare = Atoms("Na", positions=[[0, 0, 0]])
    hydrated = Atoms(
        "OH2Na", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0], [2.3, 0.4, 0.2]]
    )
    frames = []
    for atoms, kind in (
        (bare, "bare_ion"),
        (hydrated, "ion_water_curve"),
        (hydrated, "ion_water_curve"),
    ):
        atoms = atoms.copy()
        atoms.info.update(charge=1.0, kind=kind, energy=0.0)
        frames.append(atoms)
    table = errors_by_ion(model, frames, "molecules", by_kind=True)
    assert sorted(table) == ["Na(+1) | bare_ion", "Na(+1) | ion_water_curve"]
    assert table["Na(+1) | ion_water_curve"]["frames"] == 2
    assert list(errors_by_ion(model, frames, "molecules")) == ["Na(+1)"]
