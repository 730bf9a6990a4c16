import pytest
import torch

from openmm_polarml import units
from openmm_polarml.pqeq import ElementParameters, UnknownElementError
from openmm_polarml.pqeq.parameters import MIN_SPRING_EV_PER_A2, load_element_table


def test_table_covers_h_to_lr_with_converted_springs():
    table = load_element_table()
    assert min(table) == 1 and max(table) == 103 and len(table) == 103
    assert table[11].symbol == "Na"
    assert table[11].spring == pytest.approx(13.77286 * units.KCAL_PER_MOL_TO_EV, rel=1e-12)
    assert not table[103].polarizable


def test_per_atom_values_are_exact_in_float64():
    p = ElementParameters().per_atom(torch.tensor([8]))
    assert float(p["chi"][0]) == pytest.approx(8.30811, rel=1e-14)
    assert float(p["radius"][0]) == pytest.approx(0.669, rel=1e-14)
    assert float(p["alpha"][0]) == pytest.approx(0.462770 / (2 * 0.669**2), rel=1e-14)


@pytest.mark.parametrize("bad", [0, 104, 200])
def test_unknown_element_names_the_element(bad):
    with pytest.raises(UnknownElementError, match=str(bad)):
        ElementParameters().per_atom(torch.tensor([1, bad]))


def test_trainable_parameters_stay_physical_and_have_gradients():
    p = ElementParameters(trainable=True)
    with torch.no_grad():
        p.eta_raw.fill_(-50.0)
        p.radius_raw.fill_(-50.0)
        p.spring_raw.fill_(-50.0)
    v = p.per_atom(torch.tensor([1, 8, 11]))
    assert bool((v["eta"] > 0).all()) and bool((v["radius"] > 0).all())
    assert bool((v["spring"] >= MIN_SPRING_EV_PER_A2).all())
    v["spring"].sum().backward()
    assert p.spring_raw.grad is not None
