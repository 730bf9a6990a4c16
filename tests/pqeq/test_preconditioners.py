"""The long-wavelength charge preconditioner: exact Woodbury inverse, SPD, constraint-preserving."""

import pytest
import torch
from pqeq_structures import tensors, water_box

from openmm_polarml.pqeq import PQEq
from openmm_polarml.pqeq.parameters import ElementParameters
from openmm_polarml.pqeq.preconditioners import LongWaveChargePreconditioner
from openmm_polarml.pqeq.solver import Fragments


def _setup(fragments=None):
    pos, z, cell, _ = tensors(water_box(4))
    eta = ElementParameters().per_atom(z)["eta"]
    n = pos.shape[0]
    if fragments is None:
        frags = Fragments(torch.zeros(n, dtype=torch.long), torch.zeros(1, dtype=torch.float64))
    else:
        frags = Fragments(torch.arange(n) // 3, torch.zeros(n // 3, dtype=torch.float64))
    return LongWaveChargePreconditioner(pos, cell, eta, frags, beta=0.6), eta, frags


def test_woodbury_inverse_is_exact_and_spd():
    pre, eta, _ = _setup()
    u = pre.basis  # [N, 2K]
    assert u.shape[1] > 0
    m = torch.diag(eta) + u @ u.T
    v = torch.randn(eta.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(pre._apply(m @ v), v, rtol=0, atol=1e-10 * float(v.abs().max()))
    m_inv = torch.stack([pre._apply(e) for e in torch.eye(eta.shape[0], dtype=torch.float64)])
    assert torch.allclose(m_inv, m_inv.T, atol=1e-12)
    assert float(torch.linalg.eigvalsh(m_inv).min()) > 0


def test_directions_keep_fragment_charges():
    for fragments in (None, "molecules"):
        pre, eta, frags = _setup(fragments)
        g = torch.randn(
            eta.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(1)
        )
        z = pre(g)
        assert float(frags.sum(z).abs().max()) < 1e-12


def test_iterative_solution_equals_dense_with_long_wave_preconditioner():
    pos, z, cell, pbc = tensors(water_box(3))
    dense = PQEq("pme", solver="dense", tolerance=1e-10)(pos, z, cell=cell, pbc=pbc)
    iterative = PQEq("pme", solver="iterative", tolerance=1e-10)(pos, z, cell=cell, pbc=pbc)
    assert torch.allclose(iterative["charges"], dense["charges"], atol=1e-9)
    assert torch.allclose(iterative["forces"], dense["forces"], atol=1e-8)


def test_dense_charge_preconditioner_factorises_a_float32_hessian_in_double():
    """A positive definite but ill-conditioned float32 Hessian (a large uniform mode, as Ewald
    gives) must not raise the catastrophe alarm; an indefinite one must."""
    from openmm_polarml.pqeq.errors import PolarizationCatastropheError
    from openmm_polarml.pqeq.solver import DenseChargePreconditioner, Fragments

    n = 300
    gen = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=gen))
    spectrum = torch.logspace(-3, 1, n, dtype=torch.float64)  # eV, all positive
    hessian = basis @ torch.diag(spectrum) @ basis.T + 50.0  # [N, N]
    one = Fragments(index=torch.zeros(n, dtype=torch.long), charges=torch.zeros(1))
    g = torch.randn(n, dtype=torch.float64, generator=gen)  # [N]
    hessian, g = hessian.float().double(), g.float().double()  # exactly representable in float32
    exact = DenseChargePreconditioner(hessian, one)(g)
    single = DenseChargePreconditioner(hessian.float(), one)(g.float())
    assert single.dtype == torch.float32
    assert float(single.double().sum()) == pytest.approx(0.0, abs=1e-3)  # stays on the subspace
    rel = float((single.double() - exact).norm() / exact.norm())
    assert rel < 1e-4  # float32 rounding of the result, not a float32 factorisation
    indefinite = basis @ torch.diag(spectrum - 0.1) @ basis.T  # negative modes on the subspace
    with pytest.raises(PolarizationCatastropheError, match="not positive definite"):
        DenseChargePreconditioner(indefinite.float(), one)


def test_dense_charge_preconditioner_when_a_constrained_mode_couples_to_a_soft_one():
    """Positive definite on the Σq = 0 subspace (softest mode 0.05 eV) but with a negative
    uniform mode coupled to it, as periodic Ewald Hessians are: the constraint penalty must grow
    until H + ρCᵀC factorises, and the step must be the exact constrained Newton step."""
    from openmm_polarml.pqeq.solver import DenseChargePreconditioner, Fragments

    n = 20
    gen = torch.Generator().manual_seed(1)
    start = torch.cat([torch.ones(n, 1), torch.randn(n, n - 1, generator=gen)], 1).double()
    basis, _ = torch.linalg.qr(start)
    uniform, allowed = basis[:, :1], basis[:, 1:]  # [N, 1], [N, N-1]
    spectrum = torch.linspace(0.05, 8.0, n - 1, dtype=torch.float64)
    soft = allowed[:, :1]
    hessian = allowed @ torch.diag(spectrum) @ allowed.T - 15.0 * uniform @ uniform.T
    hessian = hessian + 6.0 * (uniform @ soft.T + soft @ uniform.T)  # [N, N]
    one = Fragments(index=torch.zeros(n, dtype=torch.long), charges=torch.zeros(1))
    g = torch.randn(n, dtype=torch.float64, generator=gen)
    step = DenseChargePreconditioner(hessian, one)(g)
    reduced = allowed.T @ hessian @ allowed  # the Hessian on the subspace
    exact = allowed @ torch.linalg.solve(reduced, allowed.T @ g)
    assert torch.allclose(step, exact, rtol=1e-8, atol=1e-10)
