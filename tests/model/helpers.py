"""Shared helpers for model tests: tiny structures, tiny models, and a PQEq stand-in."""

from __future__ import annotations

import importlib.util

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk

from openmm_polarml.data_io import atoms_to_frame, collate
from openmm_polarml.model import build_model
from openmm_polarml.neighbors import batched_neighbor_list, edge_vectors

#: D3 functional for tests when tad-dftd3 (the source of the D3 tables) is installed
D3 = "pbe" if importlib.util.find_spec("tad_dftd3") else None

TINY = {
    "num_layers": 2,
    "hidden_irreps": "8x0e+4x1o+2x2e",
    "l_max": 2,
    "radial_hidden": 8,
    "r_max": 3.5,
    "avg_num_neighbors": 8.0,
}


def tiny_model(dtype="float64", d3=None, pqeq=None, seed=0, **net):
    """A two-layer network with random (but deterministic) weights and shifts."""
    cfg = {
        "preset": "small",
        "network": {**TINY, **net},
        "dtype": dtype,
        "seed": seed,
        "d3": d3,
        "pqeq": pqeq,
        "d3_cutoff": 6.0,
        "d3_cn_cutoff": 5.0,
    }
    model = build_model(cfg)
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed + 1)
        model.shortrange.network.shift.copy_(torch.randn(95, generator=g))
        model.shortrange.network.scale.copy_(1.0 + 0.1 * torch.randn(95, generator=g))
    return model


def molecule(seed=0, n=5):
    """A random non-periodic cluster of ``n`` atoms (H, C, N, O) with no close contacts."""
    rng = np.random.default_rng(seed)
    pos = [rng.uniform(0, 3, 3)]
    while len(pos) < n:
        p = rng.uniform(0, 3.5, 3)
        if min(np.linalg.norm(p - q) for q in pos) > 1.0:
            pos.append(p)
    numbers = rng.choice([1, 6, 7, 8], size=n)
    return Atoms(numbers=numbers, positions=np.array(pos))


def crystal(seed=0, rattle=0.05):
    """A rattled rock-salt NaCl-like cell (8 atoms, periodic, slightly sheared)."""
    a = bulk("NaCl", "rocksalt", a=5.0, cubic=True)
    a.set_cell(
        a.cell.array @ (np.eye(3) + 0.02 * np.array([[0, 1, 0], [0, 0, 0], [1, 0, 0]])),
        scale_atoms=True,
    )
    a.rattle(rattle, seed=seed)
    return a


def batch_of(*atoms_list, dtype=torch.float64):
    return collate([atoms_to_frame(a) for a in atoms_list], dtype=dtype)


class StubPQEq(torch.nn.Module):
    """Charge equilibration with Gaussian charges (no shells) and the PQEq call signature.

    A test stand-in used only while ``openmm_polarml.pqeq.PQEq`` does not import. Periodic
    systems use a tapered real-space kernel (all images within 6 Å); the energy is evaluated
    at the (detached) converged charges so autograd gives Hellmann–Feynman forces.
    """

    def __init__(self):
        super().__init__()
        z = torch.arange(95, dtype=torch.float64)
        self.register_buffer("chi", 3.0 + 0.7 * torch.sin(z))
        self.register_buffer("eta", 8.0 + torch.cos(z))
        self.register_buffer("alpha", 0.3 + 0.05 * (z % 4))
        self.r_cut = 6.0

    def _pairs(self, positions, cell, pbc):
        n = positions.shape[0]
        if pbc:
            ptr = torch.tensor([0, n])
            nl = batched_neighbor_list(
                positions,
                cell.unsqueeze(0),
                torch.ones(1, 3, dtype=torch.bool),
                ptr,
                self.r_cut,
                False,
            )
            vec = edge_vectors(
                positions, cell.unsqueeze(0), torch.zeros(n, dtype=torch.long), nl[0], nl[1], nl[2]
            )
            return nl[0], nl[1], vec
        i, j = torch.triu_indices(n, n, 1)
        return i, j, positions[j] - positions[i]

    def forward(
        self,
        positions,
        numbers,
        cell,
        pbc,
        total_charge=0.0,
        fragments=None,
        fragment_charges=None,
        external_field=None,
        compute_forces=False,
    ):
        from openmm_polarml.units import COULOMB_EV_ANGSTROM

        n = positions.shape[0]
        i, j, vec = self._pairs(positions, cell, pbc)
        r = vec.norm(dim=-1)
        a = self.alpha[numbers]
        aij = torch.sqrt(a[i] * a[j] / (a[i] + a[j]))
        kern = COULOMB_EV_ANGSTROM * torch.erf(aij * r) / r
        if pbc:
            x = (r / self.r_cut).clamp(max=1.0)
            kern = kern * (1 - 35 * x**4 + 84 * x**5 - 70 * x**6 + 20 * x**7)
        chi = self.chi[numbers].to(positions.dtype)
        eta = self.eta[numbers].to(positions.dtype)
        field = None if external_field is None else external_field.to(positions.dtype)
        # linear solve at the current geometry (no gradient through the charges)
        with torch.no_grad():
            amat = torch.diag(eta)
            amat = amat.index_put((i, j), kern, accumulate=True)
            amat = amat.index_put((j, i), kern, accumulate=True)
            big = torch.zeros(n + 1, n + 1, dtype=positions.dtype)
            big[:n, :n] = amat
            big[:n, n] = -1.0
            big[n, :n] = 1.0
            rhs = torch.zeros(n + 1, dtype=positions.dtype)
            rhs[:n] = -chi
            if field is not None:
                rhs[:n] += positions.detach() @ field
            rhs[n] = total_charge
            q = torch.linalg.solve(big, rhs)[:n]
        energy = (chi * q + 0.5 * eta * q * q).sum() + (q[i] * q[j] * kern).sum()
        dipole = (q.unsqueeze(-1) * positions).sum(0)
        if field is not None:
            energy = energy - field @ dipole
        return {
            "energy": energy,
            "charges": q,
            "dipole": dipole,
            "shell_displacements": torch.zeros_like(positions),
        }


def pqeq_module():
    """The real PQEq engine if it imports, else :class:`StubPQEq` (and a flag)."""
    try:
        from openmm_polarml.pqeq import PQEq  # noqa: F401
    except ImportError:
        return StubPQEq(), False
    return None, True
