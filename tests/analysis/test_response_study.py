"""Study 0's analysis: the invariance measures vanish for split charges and not for global
charge equilibration (the defect the study documents)."""

from __future__ import annotations

import pytest

from openmm_polarml.analysis.response_study import REFERENCES, batio3_born, nacl_born_invariance
from openmm_polarml.pqeq import PQEq


@pytest.fixture(scope="module")
def split_engine():
    return PQEq(long_range="ewald", charge_transfer="split", tolerance=1e-10, accuracy=1e-8)


def test_split_charges_pass_every_invariance(split_engine):
    res = nacl_born_invariance(split_engine, "molecules")
    for key in ("acoustic_sum_rule_max_e", "rewrap_max_difference_e", "supercell_max_difference_e"):
        assert res[key] < 1e-6, key
    for symbol, sign in (("Na", 1), ("Cl", -1)):
        assert res[symbol]["max_deviation_from_isotropic_mean_e"] < 1e-6
        assert sign * res[symbol]["born_charge_e"] > 0


def test_global_equilibration_shows_the_image_dependence():
    engine = PQEq(long_range="ewald", tolerance=1e-10, accuracy=1e-8)
    res = nacl_born_invariance(engine)
    assert res["supercell_max_difference_e"] > 0.1


def test_batio3_born_charges_sum_to_zero(split_engine):
    res = batio3_born(split_engine)
    assert res["acoustic_sum_rule_max_e"] < 1e-6
    assert res["Ti"] > 0 > res["O_parallel"]
    assert set(REFERENCES["batio3_born_dfpt"]) <= set(res)
