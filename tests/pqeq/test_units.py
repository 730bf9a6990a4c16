"""units.py against CODATA values and against the constants of ASE and OpenMM."""

import pytest
from ase import units as ase_units

from openmm_polarml import units


def test_ev_to_kj_per_mol_matches_codata():
    # e·N_A/1000 with exact SI values (CODATA 2018): 96.485 332 123 310 018 4
    assert units.EV_TO_KJ_PER_MOL == pytest.approx(96.4853321233100184, rel=1e-15)


def test_coulomb_constant_matches_codata_and_openmm():
    # CODATA 2018: e²/(4π ε0) = 14.399 645 478 425 668 eV·Å
    assert units.COULOMB_EV_ANGSTROM == pytest.approx(14.399645478425668, rel=1e-12)
    openmm_value = 138.935456  # OpenMM's ONE_4PI_EPS0 (SimTKOpenMMRealType.h), kJ/mol·nm/e²
    assert units.COULOMB_KJ_PER_MOL_NM == pytest.approx(openmm_value, rel=1e-6)


def test_against_ase_units():
    assert units.EV_TO_KJ_PER_MOL == pytest.approx(ase_units.mol / ase_units.kJ, rel=1e-8)
    assert units.KCAL_PER_MOL_TO_EV == pytest.approx(ase_units.kcal / ase_units.mol, rel=1e-8)
    assert units.EV_PER_A3_TO_GPA == pytest.approx(1 / ase_units.GPa, rel=1e-8)
    assert units.DEBYE_TO_E_ANGSTROM == pytest.approx(ase_units.Debye, rel=1e-6)


def test_published_solver_constant_is_consistent():
    # reaxnet uses 332.063710 kcal·Å/(mol·e²) and 14.399645 eV·Å: both within 1e-7 of CODATA
    assert units.COULOMB_KCAL_PER_MOL_ANGSTROM == pytest.approx(332.063710, rel=1e-7)


def test_field_conversion():
    # 1 V/Å on 1 e over 1 nm: 10 eV = 964.85 kJ/mol
    assert units.V_PER_ANGSTROM_TO_KJ_PER_MOL_NM_E == pytest.approx(964.853321233, rel=1e-10)
    assert units.V_PER_NM_TO_KJ_PER_MOL_NM_E == pytest.approx(96.4853321233, rel=1e-10)
