"""Madelung constants of rock salt, CsCl and zinc blende from the Ewald and PME sums."""

import numpy as np
import pytest
import torch

from openmm_polarml import units
from openmm_polarml.pqeq.electrostatics.coulomb import SiteCoulomb

# Madelung constants referred to the nearest-neighbour distance (e.g. Johnston, Birkbeck 1999)
MADELUNG = {
    "rocksalt": 1.747564594633,
    "cesiumchloride": 1.762674773070,
    "zincblende": 1.638055053388,
}


def crystal(kind: str, a: float = 5.0):
    if kind == "rocksalt":
        fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
        frac, nn = np.vstack([fcc, fcc + [0.5, 0, 0]]), a / 2
    elif kind == "cesiumchloride":
        frac, nn = np.array([[0, 0, 0], [0.5, 0.5, 0.5]]), a * np.sqrt(3) / 2
    else:
        fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
        frac, nn = np.vstack([fcc, fcc + 0.25]), a * np.sqrt(3) / 4
    n = len(frac)
    charges = torch.tensor([1.0] * (n // 2) + [-1.0] * (n // 2), dtype=torch.float64)
    return (
        torch.tensor(frac * a, dtype=torch.float64),
        charges,
        torch.eye(3, dtype=torch.float64) * a,
        nn,
    )


@pytest.mark.parametrize("kind", sorted(MADELUNG))
@pytest.mark.parametrize("method", ["ewald", "pme"])
def test_madelung_constant(kind, method):
    pos, q, cell, nn = crystal(kind)
    n = len(q)
    point_like = torch.full((n,), 1e6, dtype=torch.float64)  # α = 1e6 Å⁻²: width 1e-3 Å
    coulomb = SiteCoulomb(
        method, pos, point_like, torch.zeros(n, dtype=torch.bool), cell, accuracy=1e-8
    )
    sites = torch.cat([pos, pos])
    charges = torch.cat([q, torch.zeros(n, dtype=torch.float64)])
    energy = 0.5 * torch.dot(charges, coulomb.potential(sites, charges, cell))
    madelung = -float(energy) * nn / (units.COULOMB_EV_ANGSTROM * n / 2)
    assert madelung == pytest.approx(MADELUNG[kind], rel=1e-6)


@pytest.mark.parametrize("name", ["nacl", "batio3"])
def test_pme_mesh_follows_the_widest_class_screening(name):
    """When every class pair is broader than β (NaCl, BaTiO3 with the ReaxNet widths), the mesh is
    sized by γ_max = max γ_st < β and still meets the accuracy contract against a converged Ewald
    sum (δ = 1e-12) for Gaussian sites with random charges and displaced shells."""
    from pqeq_structures import batio3, nacl, tensors

    from openmm_polarml.pqeq.electrostatics.tuning import resolve_ewald
    from openmm_polarml.pqeq.parameters import ElementParameters

    atoms = nacl(2) if name == "nacl" else batio3(3, ti_shift=0.1)
    atoms.rattle(0.05, seed=1)
    pos, z, cell, _ = tensors(atoms)
    params = ElementParameters().per_atom(z)
    has_shell = params["spring"] > 0
    gen = torch.Generator().manual_seed(0)
    n = len(z)
    q = torch.randn(2 * n, dtype=torch.float64, generator=gen)
    q = q - q.mean()
    sites = torch.cat([pos, pos + 0.05 * torch.randn(n, 3, dtype=torch.float64, generator=gen)])
    exact = SiteCoulomb("ewald", pos, params["alpha"], has_shell, cell, accuracy=1e-12)
    pme = SiteCoulomb("pme", pos, params["alpha"], has_shell, cell, accuracy=1e-6)
    gamma_max = float(pme.gamma.max())
    assert gamma_max < 0.9 * pme.beta  # the case this rule is for
    beta_rule = resolve_ewald(cell, 1e-6, pme.settings.cutoff).mesh
    assert all(m < b for m, b in zip(pme.settings.mesh, beta_rule, strict=True))
    reference = exact.potential(sites, q, cell)
    error = pme.potential(sites, q, cell) - reference
    assert float(error.pow(2).mean().sqrt() / reference.pow(2).mean().sqrt()) < 1e-6
