import numpy as np
import pytest
import torch
from scipy.special import erf

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


def _charge_hessian_min_eigenvalue(eta: float, radius: float, positions: np.ndarray) -> float:
    """Smallest eigenvalue of diag(η) + J on the Σq = 0 subspace, J_ij = k erf(a_ij r)/r."""
    alpha = units.PQEQ_LAMBDA / (2 * radius**2)
    r = np.linalg.norm(positions[:, None] - positions[None], axis=-1)  # [n, n] Å
    np.fill_diagonal(r, 1.0)
    j = units.COULOMB_EV_ANGSTROM * erf(np.sqrt(alpha / 2) * r) / r
    np.fill_diagonal(j, eta)
    n = len(positions)
    basis = np.linalg.svd(np.eye(n) - 1.0 / n)[0][:, : n - 1]  # [n, n-1] spans sum(q) = 0
    return float(np.linalg.eigvalsh(basis.T @ j @ basis).min())


def test_projection_lets_fitted_parameters_only_stiffen():
    params = ElementParameters(trainable=True)
    table = load_element_table()
    before = {k: v.detach().clone() for k, v in params.state_dict().items()}
    assert params.project_() == 0  # the published table is inside the region
    assert all(torch.equal(before[k], v) for k, v in params.state_dict().items())
    with torch.no_grad():
        params.eta_raw[8] -= 0.5  # softer O hardness: moved back
        params.eta_raw[1] += 0.5  # harder H: kept
        params.spring_raw[11] = -20.0  # Ks(Na) at the absolute floor: moved back
        params.chi[6] += 3.0  # χ is free
    assert params.project_() == 2
    atoms = params.per_atom(torch.tensor([8, 11, 6, 1]))
    assert float(atoms["eta"][0]) == pytest.approx(table[8].eta, rel=1e-10)
    assert float(atoms["spring"][1]) == pytest.approx(table[11].spring, rel=1e-8)
    assert float(atoms["chi"][2]) == pytest.approx(table[6].chi + 3.0, rel=1e-12)
    assert float(atoms["eta"][3]) > table[1].eta + 0.1
    assert "spring_published" not in params.state_dict()  # model files keep their keys
    assert "eta_published" not in params.state_dict()


def test_stiffened_parameters_keep_the_published_hessian_as_a_lower_bound():
    """H(θ) − H(published) = diag(Δη) on the charges: its spectrum on the constraint subspace
    can only rise, for any geometry (here a compressed random cluster)."""
    radius, eta0 = 0.669, load_element_table()[8].eta
    positions = np.random.default_rng(1).normal(size=(10, 3)) * 0.5  # Å
    soft = _charge_hessian_min_eigenvalue(eta0, radius, positions)
    stiff = _charge_hessian_min_eigenvalue(eta0 + 0.7, radius, positions)
    assert stiff >= soft + 0.7 - 1e-9
