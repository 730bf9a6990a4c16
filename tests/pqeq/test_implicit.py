"""Implicit derivatives of the converged charges, shells and dipole (vs central finite differences)."""

import pytest
import torch
from pqeq_structures import nacl, tensors, water_cluster

from openmm_polarml.pqeq import PQEq
from openmm_polarml.pqeq.parameters import ElementParameters

FIELD = [0.02, -0.01, 0.03]  # V/Å


def _dipole_loss(engine, pos, z, **kw):
    return (engine(pos, z, compute_forces=False, **kw)["dipole"] ** 2).sum()


@pytest.mark.parametrize("name", ["chi", "eta_raw", "radius_raw", "spring_raw"])
def test_dipole_loss_gradient_wrt_element_parameters(name):
    pos, z, _, _ = tensors(water_cluster(3, seed=2))
    params = ElementParameters(trainable=True)
    engine = PQEq("direct", parameters=params, tolerance=1e-11)
    kw = dict(external_field=torch.tensor(FIELD, dtype=torch.float64))
    parameter = dict(params.named_parameters())[name]
    (grad,) = torch.autograd.grad(_dipole_loss(engine, pos, z, **kw), parameter)
    for element in (1, 8):
        h = 1e-5
        with torch.no_grad():
            parameter[element] += h
            plus = _dipole_loss(engine, pos, z, **kw)
            parameter[element] -= 2 * h
            minus = _dipole_loss(engine, pos, z, **kw)
            parameter[element] += h
        fd = float(plus - minus) / (2 * h)
        assert float(grad[element]) == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_born_charges_from_implicit_derivative_periodic():
    atoms = nacl(2)
    atoms.rattle(0.05, seed=3)
    pos, z, cell, pbc = tensors(atoms)
    engine = PQEq("ewald", tolerance=1e-11, accuracy=1e-8)
    moving = pos.clone().requires_grad_(True)
    out = engine(moving, z, cell=cell, pbc=pbc, compute_forces=False)
    born = torch.stack(
        [torch.autograd.grad(out["dipole"][a], moving, retain_graph=True)[0] for a in range(3)]
    )
    h = 1e-5
    for atom, axis in ((0, 0), (5, 2)):
        shifted = []
        for sign in (1, -1):
            p = pos.clone()
            p[atom, axis] += sign * h
            shifted.append(engine(p, z, cell=cell, pbc=pbc, compute_forces=False)["dipole"])
        fd = (shifted[0] - shifted[1]) / (2 * h)  # [3]
        assert torch.allclose(born[:, atom, axis], fd, rtol=1e-6, atol=1e-8)
    # acoustic sum rule: a rigid translation does not change the dipole of a neutral cell; the
    # Ewald sum is translation invariant to its accuracy (1e-8 relative)
    assert float(born.sum(1).abs().max()) < 10 * 1e-8 * float(born.abs().sum(1).max())


def test_charges_are_plain_values_without_grad():
    pos, z, _, _ = tensors(water_cluster(2, seed=1))
    out = PQEq("direct")(pos, z, compute_forces=False)
    assert not out["charges"].requires_grad and not out["dipole"].requires_grad
