"""The fixed-terms (PQEq + D3) cache: reused for the same frames and model, recomputed otherwise."""

import torch

from openmm_polarml.data_io import keys as K
from openmm_polarml.training import data as training_data
from openmm_polarml.training.data import frames_from_atoms, subtract_fixed_terms
from tests.model.helpers import tiny_model
from tests.training.helpers import emt_frames


def _count_solves(monkeypatch):
    calls = []
    original = training_data.fixed_terms

    def counted(model, batch):
        calls.append(1)
        return original(model, batch)

    monkeypatch.setattr(training_data, "fixed_terms", counted)
    return calls


def test_cache_reused_then_invalidated(tmp_path, monkeypatch):
    model = tiny_model("float64", pqeq={"long_range": "ewald"})
    frames = frames_from_atoms(emt_frames(3))
    cache = tmp_path / "fixed.pt"
    calls = _count_solves(monkeypatch)
    first, _ = subtract_fixed_terms(model, frames, cache=cache)
    assert len(calls) == 3 and cache.exists()
    second, _ = subtract_fixed_terms(model, frames, cache=cache)
    assert len(calls) == 3  # nothing recomputed
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a[K.ENERGY], b[K.ENERGY]) and torch.equal(a[K.FORCES], b[K.FORCES])
    moved = [dict(f) for f in frames]
    shifted = moved[1][K.POSITIONS].clone()
    shifted[0, 0] += 0.05  # one atom moved (a uniform shift would leave the energy unchanged)
    moved[1][K.POSITIONS] = shifted
    third, _ = subtract_fixed_terms(model, moved, cache=cache)
    assert len(calls) == 6  # geometry changed: all recomputed
    fresh, _ = subtract_fixed_terms(model, moved)  # no cache
    assert torch.equal(third[1][K.FORCES], fresh[1][K.FORCES])
    assert len(calls) == 9  # the uncached call solved its 3 frames
    with torch.no_grad():
        model.pqeq.element_parameters.chi.mul_(1.01)
    subtract_fixed_terms(model, frames, cache=cache)
    assert len(calls) == 12  # PQEq parameters changed: recomputed


def test_repeated_frames_are_solved_once(monkeypatch):
    """data.extend repeats training frames (the same objects): one solve each, same residuals."""
    model = tiny_model("float64", pqeq={"long_range": "ewald"})
    frames = frames_from_atoms(emt_frames(2))
    calls = _count_solves(monkeypatch)
    out, dropped = subtract_fixed_terms(model, frames * 3)
    assert len(calls) == 2 and not dropped and len(out) == 6
    for k in range(2, 6):
        assert torch.equal(out[k][K.ENERGY], out[k % 2][K.ENERGY])
        assert torch.equal(out[k][K.FORCES], out[k % 2][K.FORCES])
