"""Teacher set v2 geometry: families, categories, amplitudes and limits against direct checks."""

import numpy as np
import pytest
from ase.build import bulk

from openmm_polarml.data import crystal_families as cf
from openmm_polarml.data import structures
from openmm_polarml.units import AMU_A2_PER_FS2_TO_EV, BOLTZMANN_EV_PER_K


def _seeds():
    seeds = [bulk("Cu", cubic=True), bulk("NaCl", "rocksalt", a=5.64, cubic=True),
             bulk("MgO", "rocksalt", a=4.21, cubic=True), structures.perovskite("Ba", "Ti", 4.0),
             bulk("GaAs", "zincblende", a=5.65, cubic=True)]  # fmt: skip
    for k, s in enumerate(seeds):
        s.info["source_id"] = f"test:{k}"
    return seeds


def test_seed_categories():
    seeds = _seeds()
    assert [cf.seed_category(s) for s in seeds] == [
        "elemental",
        "halide",
        "oxide",
        "oxide",
        "binary",
    ]
    assert cf.seed_category(bulk("TiN", "rocksalt", a=4.24)) == "nitride"


def test_einstein_amplitude_obeys_equipartition():
    numbers = np.array([1, 8, 56])
    sigma = cf.einstein_sigma(numbers, 900.0)  # [3] Å
    omega = 2 * np.pi * cf.EINSTEIN_THZ * 1e-3  # rad/fs
    mass = np.array([1.008, 15.999, 137.327])  # amu
    potential = 0.5 * mass * AMU_A2_PER_FS2_TO_EV * omega**2 * sigma**2  # eV per component
    np.testing.assert_allclose(potential, 0.5 * BOLTZMANN_EV_PER_K * 900.0, rtol=1e-4)


def test_strain_families_keep_their_kind():
    rng = np.random.default_rng(1)
    cell = bulk("Cu", cubic=True)
    eos = cell.copy()
    cf.eos_strain(eos, rng)
    scale = eos.cell.array[0, 0] / cell.cell.array[0, 0]
    np.testing.assert_allclose(eos.cell.array, scale * cell.cell.array, rtol=1e-14)  # isotropic
    assert abs(scale - 1) <= cf.MAX_STRAIN
    shear = cell.copy()
    cf.shear_strain(shear, rng)
    change = np.linalg.solve(cell.cell.array, shear.cell.array) - np.eye(3)  # [3, 3] strain
    assert np.allclose(change, change.T) and abs(np.trace(change)) < 1e-12
    assert 0 < np.abs(change).max() <= cf.MAX_STRAIN


def test_slab_has_vacuum_and_two_layers():
    rng = np.random.default_rng(2)
    made = None
    while made is None:
        made = cf.slab(bulk("NaCl", "rocksalt", a=5.64, cubic=True), rng)
    atoms, step = made
    assert step.startswith("slab(") and atoms.pbc.all() and len(atoms) <= cf.SLAB_MAX_ATOMS
    z = atoms.positions[:, 2]
    assert atoms.cell.lengths()[2] - (z.max() - z.min()) == pytest.approx(2 * cf.SLAB_VACUUM)
    assert len(np.unique(np.round(z, 3))) >= 2


def test_candidates_are_reproducible_balanced_and_valid():
    seeds = _seeds()
    first = cf.family_candidates(seeds, 80, np.random.default_rng(3))
    again = cf.family_candidates(seeds, 80, np.random.default_rng(3))
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(first, again, strict=True))
    families = {a.info["family"] for a in first}
    assert families == set(cf.FAMILIES)
    assert {a.info["seed_category"] for a in first} == {"elemental", "halide", "oxide", "binary"}
    for atoms in first:
        limit = cf.SLAB_MAX_ATOMS if atoms.info["family"] == "slab" else structures.MAX_ATOMS
        assert len(atoms) <= limit and not structures.too_close(atoms)
        assert atoms.info["seed_structure"].startswith("test:")


def test_no_usable_seed_is_a_clear_error():
    with pytest.raises(ValueError, match="no periodic seed"):
        cf.family_candidates([bulk("Cu").repeat(4)], 1, np.random.default_rng(0))


def test_substitution_scales_the_cell_with_the_radii():
    from ase.data import covalent_radii

    rng = np.random.default_rng(0)
    atoms = bulk("MgO", "rocksalt", a=4.21, cubic=True)
    before = atoms.copy()
    step = ""
    while not step:
        atoms = before.copy()
        step = cf.substitute_scaled(atoms, rng)
    ratio = covalent_radii[atoms.numbers].mean() / covalent_radii[before.numbers].mean()
    np.testing.assert_allclose(atoms.cell.array, before.cell.array * ratio, rtol=1e-14)
    assert "scale(" in step and not np.isclose(ratio, 1.0)
