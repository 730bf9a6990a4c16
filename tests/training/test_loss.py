"""Loss terms: MSE and Huber against hand-computed values on a tiny batch."""

import torch

from openmm_polarml.data_io import keys as K
from openmm_polarml.training.loss import global_counts, loss_terms, pointwise


def _batch_and_prediction(force_error: float):
    batch = {
        K.ENERGY: torch.tensor([-10.0]),
        K.N_ATOMS: torch.tensor([2]),
        K.HAS_ENERGY: torch.tensor([True]),
        K.HAS_FORCES: torch.tensor([True]),
        K.HAS_STRESS: torch.tensor([False]),
        K.HAS_DIPOLE: torch.tensor([False]),
        K.BATCH: torch.tensor([0, 0]),
        K.FORCES: torch.zeros(2, 3),
    }
    forces = torch.zeros(2, 3)
    forces[0, 0] = force_error
    pred = {"energy": torch.tensor([-9.9]), "forces": forces}
    return pred, batch


def test_mse_terms_are_mean_squared_errors():
    pred, batch = _batch_and_prediction(0.3)
    terms = loss_terms(pred, batch, global_counts(batch))
    assert torch.isclose(terms["energy"], torch.tensor(0.05**2))
    assert torch.isclose(terms["forces"], torch.tensor(0.3**2 / 6))


def test_huber_is_squared_inside_delta_and_linear_beyond():
    delta = 0.1
    pred, batch = _batch_and_prediction(2.5)
    terms = loss_terms(pred, batch, global_counts(batch), huber_delta=delta)
    assert torch.isclose(terms["energy"], torch.tensor(0.05**2))  # |e| = 0.05 <= δ
    assert torch.isclose(terms["forces"], torch.tensor(delta * (2 * 2.5 - delta) / 6))


def test_huber_is_continuous_with_bounded_slope():
    delta = 0.01
    e = torch.tensor([delta * (1 - 1e-9), delta * (1 + 1e-9), 5.0, -5.0], requires_grad=True)
    values = pointwise(e, delta)
    assert torch.isclose(values[0], values[1], rtol=1e-6)
    values.sum().backward()
    assert torch.allclose(e.grad.abs()[2:], torch.tensor([2 * delta, 2 * delta]))
