"""The solver's analytic fixed-core evaluator equals the autograd derivative of SiteCoulomb."""

import pytest
import torch
from pqeq_structures import batio3, nacl, tensors, water_box, water_cluster

from openmm_polarml.pqeq.electrostatics import native
from openmm_polarml.pqeq.electrostatics.coulomb import SiteCoulomb
from openmm_polarml.pqeq.electrostatics.frozen import FrozenCoreCoulomb
from openmm_polarml.pqeq.parameters import ElementParameters

CASES = {
    "water-pme": (lambda: water_box(3), "pme"),
    "water-ewald": (lambda: water_box(2), "ewald"),
    "water-taper": (lambda: water_box(2), "taper"),
    "cluster-direct": (lambda: water_cluster(4), "direct"),
    "nacl-pme": (lambda: nacl(2), "pme"),
    "batio3-ewald": (lambda: batio3(2), "ewald"),
    "batio3-pme": (lambda: batio3(2), "pme"),
}


@pytest.mark.parametrize("evaluator", ["native", "tensor"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_frozen_core_potential_and_shell_gradient(case, evaluator, monkeypatch):
    """Both evaluators: the C kernels (float64 CPU) and the tensor code (every other device/dtype)."""
    if evaluator == "tensor":
        monkeypatch.setattr(native, "usable", lambda *tensors: False)
    elif not native.usable(torch.zeros(1, dtype=torch.float64)):
        pytest.fail("the native engine kernels are not built: run `pip install -e .`")
    build, method = CASES[case]
    pos, z, cell, pbc = tensors(build())
    cell = cell if pbc else None
    params = ElementParameters().per_atom(z)
    has_shell = params["spring"] > 0
    coulomb = SiteCoulomb(method, pos, params["alpha"], has_shell, cell)
    gen = torch.Generator().manual_seed(3)
    n = pos.shape[0]
    q = 0.3 * torch.randn(n, dtype=torch.float64, generator=gen)
    d = 0.05 * torch.randn(n, 3, dtype=torch.float64, generator=gen) * has_shell[:, None]
    site_charges = torch.cat([q + params["shell_charge"], -params["shell_charge"]])
    d_graph = d.clone().requires_grad_(True)
    potential = coulomb.potential(torch.cat([pos, pos + d_graph]), site_charges, cell)
    energy = 0.5 * torch.dot(site_charges, potential)
    (grad,) = torch.autograd.grad(energy, d_graph)
    frozen = FrozenCoreCoulomb(coulomb, pos, cell)
    assert frozen.native == (evaluator == "native")
    fast_potential, fast_grad = frozen(site_charges, d)
    scale_v = float(potential.abs().max())
    scale_g = float(grad.abs().max())
    assert float((fast_potential - potential.detach()).abs().max()) < 1e-12 * scale_v
    assert float((fast_grad - grad).abs().max()) < 1e-12 * scale_g
