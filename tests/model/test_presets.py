"""Presets build with the stated sizes; the seed preset is the published configuration."""

import torch
from e3nn import o3

from openmm_polarml.model import PRESETS, build_model
from tests.model.helpers import batch_of, crystal


def test_seed_preset_is_the_published_network():
    model = build_model({"preset": "seed", "dtype": "float32"})
    net = model.shortrange.network
    assert len(net.layers) == 5
    assert net.r_max == 5.0 and net.basis.freqs.numel() == 8
    assert net.irreps_sh == o3.Irreps.spherical_harmonics(2)
    assert net.layers[-1].irreps_out == o3.Irreps("128x0e+64x1e+4x2e")
    assert net.embedding.num_embeddings == 95  # H..Pu (index 0 unused)
    out = model(batch_of(crystal(0), dtype=torch.float32), compute_forces=True)
    assert torch.isfinite(out["forces"]).all()


def test_builder_is_deterministic_and_keeps_global_state():
    rng = torch.random.get_rng_state()
    dtype = torch.get_default_dtype()
    a = build_model({"preset": "small", "seed": 7})
    b = build_model({"preset": "small", "seed": 7})
    c = build_model({"preset": "small", "seed": 8})
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert torch.get_default_dtype() == dtype
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)
    assert set(PRESETS) >= {"small", "medium", "seed"}
