"""Multi-head readout: one head per level of theory over the shared network, PQEq and D3."""

import pytest
import torch

from openmm_polarml.data_io import collate
from openmm_polarml.data_io import keys as K
from openmm_polarml.model import build_model
from openmm_polarml.model.network import HEAD
from openmm_polarml.model.serialization import ModelFormatError, load_model, save_model
from openmm_polarml.training.data import frames_from_atoms
from tests.model.helpers import D3, TINY, batch_of, crystal, molecule, pqeq_module, tiny_model
from tests.physics_checks import assert_close, central_difference_forces

HEADS = ["pbe", "gfn2"]


def two_head_model(seed=0, d3=None, pqeq=None):
    """A tiny 2-head model whose heads differ in readout weights, shifts and scales."""
    cfg = {
        "network": dict(TINY),
        "heads": HEADS,
        "seed": seed,
        "d3": d3,
        "pqeq": pqeq,
        "d3_cutoff": 6.0,
        "d3_cn_cutoff": 5.0,
    }
    model = build_model(cfg)
    net = model.shortrange.network
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        net.shift.copy_(torch.randn(2, 95, generator=g, dtype=torch.float64))
        net.scale.copy_(1.0 + 0.1 * torch.randn(2, 95, generator=g, dtype=torch.float64))
    return model


def _energy(model, data, **kw) -> torch.Tensor:
    return model(data, compute_forces=False, **kw)["energy"].detach()


def test_single_head_layout_is_unchanged():
    model = tiny_model()
    state = model.state_dict()
    assert "shortrange.network.head_index" not in state
    assert state["shortrange.network.shift"].shape == (95,)
    assert model.heads == ["default"] and model.head == "default"
    # the same seed builds the same weights with or without the (default) heads key
    cfg = {k: v for k, v in model.config.items() if k not in ("heads", "head")}
    a, b = build_model(cfg).state_dict(), build_model(model.config).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_heads_differ_and_set_head_switches():
    model = two_head_model()
    data = batch_of(molecule(0))
    e_pbe = _energy(model, data)
    with torch.no_grad():  # perturb only the gfn2 readout
        model.shortrange.network.readout_2.weight[1].mul_(1.7)
    assert torch.equal(_energy(model, data), e_pbe)  # pbe selected: untouched
    assert model.set_head("gfn2") is model and model.head == "gfn2"
    e_gfn2 = _energy(model, data)
    assert abs(float(e_gfn2 - e_pbe)) > 1e-3
    assert torch.equal(_energy(model.set_head("pbe"), data), e_pbe)
    with pytest.raises(ValueError, match="unknown level of theory 'wb97x'.*pbe"):
        model.set_head("wb97x")


def test_each_head_equals_a_single_head_model_with_its_weights():
    """HeadLinear + the stacked readout_1 are head-by-head the single-head e3nn readout."""
    multi = two_head_model(seed=3)
    net = multi.shortrange.network
    width = net.readout_2.width
    data = batch_of(molecule(1), crystal(2))
    for k, name in enumerate(HEADS):
        single = tiny_model(seed=3)
        state = {
            key: v
            for key, v in multi.state_dict().items()
            if "readout" not in key and key.split(".")[-1] not in ("shift", "scale", "head_index")
        }
        n_in = net.readout_1.weight.numel() // (2 * width)
        w1 = net.readout_1.weight.detach().view(n_in, 2 * width)[:, k * width : (k + 1) * width]
        state["shortrange.network.readout_1.weight"] = w1.reshape(-1)
        state["shortrange.network.readout_2.weight"] = net.readout_2.weight.detach()[k]
        state["shortrange.network.shift"] = net.shift.detach()[k]
        state["shortrange.network.scale"] = net.scale.detach()[k]
        result = single.load_state_dict(state, strict=False)
        assert not result.unexpected_keys
        assert all(k.endswith(("bias", "output_mask")) for k in result.missing_keys)
        multi.set_head(name)
        assert_close(_energy(multi, data), _energy(single, data), 1e-12, what=f"head {name}")


def test_routing_by_level_equals_per_frame_evaluation():
    model = two_head_model(seed=1, d3=D3)
    atoms = [molecule(2), crystal(3), molecule(4, n=4)]
    for a, level in zip(atoms, ["gfn2", "pbe", "pbe"], strict=True):
        a.info["level"] = level
    frames = frames_from_atoms(atoms, HEADS)
    assert [int(f[HEAD][0]) for f in frames] == [1, 0, 0]
    batch = collate(frames)
    out = model(batch, compute_forces=True)
    forces = out["forces"].split(batch[K.N_ATOMS].tolist())
    for b, a in enumerate(atoms):
        ref = model.set_head(a.info["level"])(batch_of(a), compute_forces=True)
        assert_close(out["energy"][b].detach(), ref["energy"][0].detach(), 1e-12)
        assert_close(forces[b].detach(), ref["forces"].detach(), 1e-10, 1e-12)


def test_unknown_level_and_bad_head_index_are_errors():
    model = two_head_model()
    a = molecule(0)
    a.info["level"] = "ccsd"
    with pytest.raises(ValueError, match="unknown level of theory.*'ccsd'.*pbe"):
        frames_from_atoms([a], HEADS)
    with pytest.raises(ValueError, match="no info\\['level'\\]"):
        frames_from_atoms([molecule(1)], HEADS)
    assert HEAD not in frames_from_atoms([a], ["default"])[0]  # one head: level ignored
    data = {**batch_of(molecule(1)), HEAD: torch.tensor([2])}
    with pytest.raises(ValueError, match="head index out of range"):
        model(data)


def test_selected_head_is_saved_and_chosen_at_load(tmp_path):
    model = two_head_model().set_head("gfn2")
    path = tmp_path / "two_heads.pt"
    save_model(model, path)
    data = batch_of(molecule(5))
    loaded = load_model(path)
    assert loaded.head == "gfn2"
    assert torch.equal(_energy(loaded, data), _energy(model, data))
    pbe = load_model(path, head="pbe")
    assert pbe.head == "pbe"
    assert torch.equal(_energy(pbe, data), _energy(model.set_head("pbe"), data))


def test_forces_of_a_two_head_model_match_finite_differences():
    stub, real = pqeq_module()
    model = two_head_model(seed=2, d3=D3, pqeq={"long_range": "direct"} if real else None)
    if not real:
        model.pqeq = stub
    model.set_head("gfn2")
    data = batch_of(molecule(6, n=5))
    out = model(data, compute_forces=True)
    assert abs(float(out["energy_pqeq"][0].detach())) > 1e-3

    def energy(pos):
        return float(_energy(model, {**data, K.POSITIONS: pos})[0])

    fd = central_difference_forces(energy, data[K.POSITIONS], [0, 3], step=1e-3)
    assert_close(out["forces"][[0, 3]].detach(), fd, 1e-6, 1e-6, what="forces")


def test_export_keeps_the_selected_head(tmp_path):
    from openmm_polarml import units
    from openmm_polarml.export import export_model, load_exported

    model = two_head_model(seed=4, d3=D3).set_head("gfn2")
    atoms = molecule(7)
    meta = export_model(model, atoms, tmp_path / "gfn2.pt")
    assert meta["model_config"]["head"] == "gfn2"
    module, _ = load_exported(tmp_path / "gfn2.pt")
    pos_nm = torch.as_tensor(atoms.positions) * units.ANGSTROM_TO_NM
    e_art = float(module(pos_nm).detach()) / units.EV_TO_KJ_PER_MOL
    e_gfn2 = float(_energy(model, batch_of(atoms), include_pqeq=False)[0])
    e_pbe = float(_energy(model.set_head("pbe"), batch_of(atoms), include_pqeq=False)[0])
    assert abs(e_art - e_gfn2) < 1e-10 * max(1.0, abs(e_gfn2))
    assert abs(e_art - e_pbe) > 1e-3
    with pytest.raises(ModelFormatError, match="TorchScript artifact"):
        load_model(tmp_path / "gfn2.pt")
