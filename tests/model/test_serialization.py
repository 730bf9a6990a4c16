"""Model files are data: format 2 round trip, old files, clear errors, no code run on load."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk

from openmm_polarml.data_io import atoms_to_frame, collate
from openmm_polarml.model.serialization import (
    FORMAT,
    ModelFormatError,
    load_model,
    load_pretrained,
    pretrained_path,
    save_model,
    upgrade_model_file,
)
from tests.model.helpers import D3, batch_of, crystal, molecule, tiny_model


def _energy_forces(model, data, **kw):
    out = model(data, compute_forces=True, **kw)
    return out["energy"].detach(), out["forces"].detach()


def _model():
    return tiny_model(d3=D3, pqeq={"long_range": "ewald"})


def test_round_trip_in_format_2_is_exact(tmp_path):
    model = _model()
    path = tmp_path / "model.pt"
    save_model(model, path, metadata={"note": "test", "n": np.int64(3), "where": Path("/x")})
    blob = torch.load(path, weights_only=True)
    assert set(blob) == {"format", "config", "state_dict", "metadata"}
    assert blob["format"] == FORMAT == "openmm_polarml.model/2"
    assert blob["metadata"] == {"note": "test", "n": 3, "where": "/x"}
    loaded = load_model(path)
    data = batch_of(crystal(1))
    for got, ref in zip(_energy_forces(loaded, data), _energy_forces(model, data), strict=True):
        assert torch.equal(got, ref)
    assert load_model(path, dtype="float32").shortrange.network.shift.dtype == torch.float32


def test_format_1_files_load(tmp_path):
    """Untagged files (format 1): the shipped small_demo and files written before format 2."""
    shipped = torch.load(pretrained_path("small_demo"), weights_only=True)
    assert "format" not in shipped  # the shipped file is format 1 and needs no conversion
    model = load_pretrained("small_demo")
    atoms = bulk("NaF", "rocksalt", a=4.45, cubic=True)
    atoms.rattle(0.05, seed=1)
    energy, forces = _energy_forces(
        model, collate([atoms_to_frame(atoms)]), include_pqeq=False, include_d3=False
    )
    # the network energy the pre-format-2, pre-heads code gave for this structure
    assert abs(float(energy[0]) - (-14.041421459043956)) < 1e-12
    assert abs(float(forces[0, 0]) - (-1.8826993603980937)) < 1e-12
    tiny = _model()
    path = tmp_path / "v1.pt"
    torch.save({"config": tiny.config, "state_dict": tiny.state_dict(), "metadata": {}}, path)
    data = batch_of(crystal(2))
    assert torch.equal(_energy_forces(load_model(path), data)[0], _energy_forces(tiny, data)[0])


def _save(path, blob):
    torch.save(blob, path)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: {**b, "format": "openmm_polarml.model/3"}, "newer than this openmm_polarml"),
        (lambda b: {**b, "format": "openmm_polarml.torchforce/1"}, "not an openmm_polarml model"),
        (lambda b: {k: v for k, v in b.items() if k != "state_dict"}, "missing \\['state_dict'\\]"),
        (lambda b: {**b, "config": {**b["config"], "preset": "huge"}}, "does not build a model"),
        (
            lambda b: {
                **b,
                "state_dict": {
                    **b["state_dict"],
                    "shortrange.network.shift": torch.zeros(7, dtype=torch.float64),
                },
            },
            "size mismatch for shortrange.network.shift",
        ),
        (
            lambda b: {
                **b,
                "state_dict": {k: v for k, v in b["state_dict"].items() if "readout_2" not in k},
            },
            "Missing key",
        ),
        (lambda b: torch.zeros(3), "holds a Tensor, not a model dict"),
    ],
)
def test_incompatible_files_raise_model_format_error(tmp_path, change, message):
    model = tiny_model()
    blob = {"format": FORMAT, "config": model.config, "state_dict": model.state_dict()}
    path = _save(tmp_path / "bad.pt", change(blob))
    with pytest.raises(ModelFormatError, match=message) as info:
        load_model(path)
    assert isinstance(info.value, ValueError) and str(path) in str(info.value)


def test_a_non_torch_file_is_a_model_format_error(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"definitely not a model")
    with pytest.raises(ModelFormatError, match="not a readable torch.save file"):
        load_model(path)


class _Payload:
    """Unpickling this runs ``Path.touch(marker)``: code a model file must never execute."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickled_code_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "code_ran"
    model = tiny_model()
    blob = {"config": model.config, "state_dict": model.state_dict(), "x": _Payload(marker)}
    path = _save(tmp_path / "evil.pt", blob)
    with pytest.raises(ModelFormatError, match="refused to unpickle"):
        load_model(path)
    assert not marker.exists()
    with pytest.raises(ModelFormatError):  # untrusted: the upgrade refuses as well
        upgrade_model_file(path, tmp_path / "out.pt")
    assert not marker.exists()
    pickle.loads(pickle.dumps(_Payload(marker)))  # the payload is live: it does run when trusted
    assert marker.exists()


def test_upgrade_converts_an_old_pickle_once(tmp_path):
    """A trusted old file with numpy scalars in its config becomes a plain format-2 file."""
    model = tiny_model()
    config = {**model.config, "network": {**model.config["network"], "r_max": np.float64(3.5)}}
    old = _save(tmp_path / "old.pt", {"config": config, "state_dict": model.state_dict()})
    with pytest.raises(ModelFormatError, match="refused to unpickle"):
        load_model(old)
    new = tmp_path / "new.pt"
    upgrade_model_file(old, new, trusted=True)
    assert torch.load(new, weights_only=True)["format"] == FORMAT
    data = batch_of(molecule(3))
    assert torch.equal(_energy_forces(load_model(new), data)[0], _energy_forces(model, data)[0])
