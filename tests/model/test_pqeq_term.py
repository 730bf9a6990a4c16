"""The model's PQEq term: graph-free forces equal the graph path; warm starts reproduce cold ones."""

import numpy as np
import pytest
import torch
from ase.build import bulk

from openmm_polarml.data_io import keys as K
from openmm_polarml.model.pqeq_term import WarmStart
from tests.model.helpers import batch_of, crystal, molecule, pqeq_module, tiny_model

pytestmark = pytest.mark.skipif(not pqeq_module()[1], reason="the PQEq engine does not import")


def _field(data, field):
    n_frames = data[K.CELL].shape[0]
    return {**data, K.FIELD: torch.tensor([field] * n_frames, dtype=torch.float64)}


@pytest.mark.parametrize("long_range", ["direct", "pme"])
def test_fixed_solution_forces_equal_the_graph_path(long_range):
    model = tiny_model("float64", pqeq={"long_range": long_range})
    frames = (molecule(3, n=5), molecule(4, n=6)) if long_range == "direct" else (crystal(5),)
    data = _field(batch_of(*frames), [0.04, -0.03, 0.02])
    fast = model(data)  # inference: graph-free PQEq forces
    graph = model(data, create_graph=True)  # training path: autograd through the final energy
    assert torch.allclose(fast["energy"], graph["energy"].detach(), rtol=1e-12, atol=1e-12)
    scale = float(graph["forces"].detach().abs().max())
    assert float((fast["forces"] - graph["forces"].detach()).abs().max()) < 1e-9 * scale
    assert not fast["forces"].requires_grad


def test_warm_start_extrapolates_only_along_a_steady_trajectory():
    warm = WarmStart(history=3)
    numbers = torch.tensor([8, 1, 1])
    base = torch.tensor([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    velocity = torch.tensor([[0.01, 0.0, 0.0], [0.0, 0.02, 0.0], [0.0, 0.0, -0.01]])
    pos = [base + t * velocity for t in range(4)]  # steady MD-like motion
    q = [torch.tensor([0.1, 0.2, -0.3]) * (1 + 0.5 * t + 0.25 * t * t) for t in range(4)]
    d = [torch.ones(3, 3) * (2.0 - t + 0.1 * t * t) for t in range(4)]
    assert warm.guess(0, numbers, pos[0]) == (None, None)
    for t in range(3):
        warm.store(0, numbers, pos[t], q[t], d[t])
    q_guess, d_guess = warm.guess(0, numbers, pos[3])  # quadratic: exact for these
    assert torch.allclose(q_guess, q[3].double(), atol=1e-12)
    assert torch.allclose(d_guess, d[3].double(), atol=1e-12)
    jump = pos[2] + torch.tensor([[0.3, -0.2, 0.1]] * 3)  # not the trajectory: previous solution
    q_jump, _ = warm.guess(0, numbers, jump)
    assert torch.allclose(q_jump, q[2].double())
    assert warm.guess(0, torch.tensor([8, 1, 9]), pos[3]) == (None, None)  # other atoms
    warm.store(0, torch.tensor([8, 1, 9]), pos[0], q[0], d[0])  # their history starts afresh
    assert torch.allclose(warm.guess(0, torch.tensor([8, 1, 9]), pos[1])[0], q[0].double())


def test_warm_started_md_steps_match_cold_solves_in_fewer_iterations():
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)  # 64 atoms
    atoms.rattle(0.05, seed=1)
    velocity = np.random.default_rng(2).normal(0.0, 0.01, (len(atoms), 3))  # Å per step
    model = tiny_model("float64", pqeq={"long_range": "pme", "solver": "iterative"})
    cold_iterations, warm_iterations = [], []
    for step in range(5):
        moved = atoms.copy()
        moved.positions += step * velocity
        data = batch_of(moved)
        model.pqeq_warm_start = False
        cold = model(data)
        model.pqeq_warm_start = True
        warm = model(data)
        cold_iterations.append(int(cold["pqeq_iterations"][0]))
        warm_iterations.append(int(warm["pqeq_iterations"][0]))
        # both solves stop at gradients below 1e-6 eV/e, eV/Å: forces agree to that order
        assert float((warm["forces"] - cold["forces"]).abs().max()) < 1e-5
        assert abs(float(warm["energy"][0] - cold["energy"][0])) < 1e-8 * len(atoms)
    assert warm_iterations[0] == cold_iterations[0]  # nothing to start from
    assert max(warm_iterations[3:]) < 0.5 * min(cold_iterations[3:])


def test_periodic_method_model_solves_clusters_directly():
    """An Ewald-configured model takes crystals and molecules in one batch: the molecule's PQEq
    energy is the direct-sum one, the crystal's the Ewald one."""
    ewald = tiny_model("float64", pqeq={"long_range": "ewald"})
    direct = tiny_model("float64", pqeq={"long_range": "direct"})
    mol, cry = molecule(3, n=5), crystal(5)
    mixed = ewald.pqeq_energy(*_pos_cell(batch_of(cry, mol)))["energy"]
    alone_mol = direct.pqeq_energy(*_pos_cell(batch_of(mol)))["energy"]
    alone_cry = ewald.pqeq_energy(*_pos_cell(batch_of(cry)))["energy"]
    assert torch.allclose(mixed[1], alone_mol[0], rtol=1e-10, atol=1e-10)
    assert torch.allclose(mixed[0], alone_cry[0], rtol=1e-10, atol=1e-10)
    assert ewald.pqeq.long_range == "ewald"  # restored after the finite frame


def _pos_cell(data):
    return data[K.POSITIONS], data[K.CELL], data
