"""Hand-solvable cases: a two-site system without shells and the point-charge limit."""

import math

import pytest
import torch
from physics_checks import central_difference_forces

from openmm_polarml import units
from openmm_polarml.pqeq import ElementParameters, PQEq


def rigid_parameters():
    params = ElementParameters()
    params.polarizable[:] = False  # no shells: a pure QEq problem
    return params


def two_site_reference(r: float):
    """Charges, energy and force of Na–Cl (no shells) at distance r (Å) solved by hand."""
    p = ElementParameters().per_atom(torch.tensor([11, 17]))
    chi, eta, alpha = (p[k].tolist() for k in ("chi", "eta", "alpha"))
    a = math.sqrt(alpha[0] * alpha[1] / (alpha[0] + alpha[1]))
    ke = units.COULOMB_EV_ANGSTROM
    j = ke * math.erf(a * r) / r
    dj = ke * (2 * a / math.sqrt(math.pi) * math.exp(-((a * r) ** 2)) / r - math.erf(a * r) / r**2)
    curvature = eta[0] + eta[1] - 2 * j  # E(q) = Δχ q + ½ curvature q², q = q_Na = −q_Cl
    dchi = chi[0] - chi[1]
    q = -dchi / curvature
    energy = -(dchi**2) / (2 * curvature)
    de_dr = -(dchi**2) * 2 * dj / (2 * curvature**2)  # dE/dr
    return q, energy, de_dr


@pytest.mark.parametrize("solver", ["dense", "iterative"])
def test_two_site_charges_energy_force(solver):
    r = 2.4
    q_ref, e_ref, de_dr = two_site_reference(r)
    pos = torch.tensor([[0.0, 0.0, 0.0], [r, 0.0, 0.0]], dtype=torch.float64)
    out = PQEq("direct", solver=solver, parameters=rigid_parameters())(pos, torch.tensor([11, 17]))
    assert float(out["charges"][0]) == pytest.approx(q_ref, rel=1e-10)
    assert float(out["charges"][1]) == pytest.approx(-q_ref, rel=1e-10)
    assert float(out["energy"].detach()) == pytest.approx(e_ref, rel=1e-12)
    # force on Cl along +x is −dE/dr
    assert float(out["forces"][1, 0]) == pytest.approx(-de_dr, rel=1e-9)
    assert float(out["forces"][0, 0]) == pytest.approx(de_dr, rel=1e-9)


def test_gaussian_to_point_charge_limit():
    """Far apart, fixed-charge Gaussians interact as point charges: E_coul → k_e q_a q_b / r."""
    params = rigid_parameters()
    engine = PQEq("direct", parameters=params, tolerance=1e-12)
    numbers = torch.tensor([11, 17])
    errors = []
    for r in (10.0, 20.0, 40.0):
        pos = torch.tensor([[0.0, 0.0, 0.0], [r, 0.0, 0.0]], dtype=torch.float64)
        out = engine(pos, numbers)
        q = float(out["charges"][0])
        p = params.per_atom(numbers)
        self_energy = float(
            (p["chi"] * out["charges"] + 0.5 * p["eta"] * out["charges"] ** 2).sum()
        )
        coulomb = float(out["energy"]) - self_energy
        deviation = 1.0 - coulomb / (-units.COULOMB_EV_ANGSTROM * q * q / r)
        a = math.sqrt(float(p["alpha"][0] * p["alpha"][1] / (p["alpha"][0] + p["alpha"][1])))
        assert deviation == pytest.approx(math.erfc(a * r), rel=1e-8, abs=1e-14)
        errors.append(abs(deviation))
    assert errors[-1] < 1e-12  # the point-charge limit is reached


def test_shell_system_fd_forces_and_stationarity():
    pos = torch.tensor([[0.0, 0.0, 0.0], [2.6, 0.3, -0.2], [1.0, 2.1, 0.4]], dtype=torch.float64)
    numbers = torch.tensor([11, 17, 8])
    engine = PQEq("direct", tolerance=1e-11)
    out = engine(pos, numbers)
    fd = central_difference_forces(
        lambda p: float(engine(p, numbers, compute_forces=False)["energy"]), pos, range(3)
    )
    assert torch.allclose(out["forces"], fd, rtol=0, atol=1e-7)
