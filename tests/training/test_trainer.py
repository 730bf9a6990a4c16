"""Training: overfitting, exact resume, data-parallel equivalence, evaluation outputs."""

import copy

import pytest
import torch

from openmm_polarml.training import Trainer
from tests.training.helpers import emt_frames, tiny_config, write_frames


@pytest.fixture(scope="module")
def data_path(tmp_path_factory):
    return write_frames(tmp_path_factory.mktemp("data") / "emt.extxyz", emt_frames(6))


def test_overfits_a_handful_of_structures(data_path, tmp_path):
    cfg = tiny_config(
        data_path, tmp_path, epochs=60, lr=1e-2, ema_decay=0.0, scheduler="constant", batch_size=4
    )
    cfg["data"]["split"] = [1.0, 0.0, 0.0]
    trainer = Trainer(cfg)
    trainer.val_frames = trainer.train_frames  # validate on the training set itself
    hist = trainer.fit()
    first, last = hist[0]["validation"], hist[-1]["validation"]
    assert last["forces"] < 0.1 * first["forces"]
    assert last["energy"] < 0.1 * first["energy"] or last["energy"] < 1e-6


def test_resume_is_exact(data_path, tmp_path):
    straight = Trainer(tiny_config(data_path, tmp_path / "a")).fit()
    cfg = tiny_config(data_path, tmp_path / "b")
    Trainer(cfg).fit(epochs=2)
    resumed = Trainer(cfg).fit()  # picks up last.pt
    assert len(resumed) == len(straight) == 4
    for x, y in zip(straight, resumed, strict=True):
        assert x["train"] == y["train"]
        assert x["validation"] == y["validation"]


def test_resume_after_a_wall_clock_cut_mid_epoch_is_exact(data_path, tmp_path):
    """max_minutes=0 cuts after the first batch of an epoch; resuming continues that epoch."""
    straight = Trainer(tiny_config(data_path, tmp_path / "a", batch_size=2)).fit()
    cfg = tiny_config(data_path, tmp_path / "b", batch_size=2)
    cut = copy.deepcopy(cfg)
    cut["training"]["max_minutes"] = 0.0
    history, cuts = [], 0
    while len(history) < len(straight):
        history = Trainer(cut).fit()  # each run: one batch, then a mid-epoch checkpoint
        cuts += 1
        assert cuts < 50
    assert cuts > len(straight)  # the runs really stopped inside epochs
    for x, y in zip(straight, history, strict=True):
        assert x["train"] == y["train"]
        assert x["validation"]["loss"] == y["validation"]["loss"]


def test_validation_log_holds_mae_per_head_and_group(data_path, tmp_path):
    from openmm_polarml.training.evaluate import error_table, predict_frames

    trainer = Trainer(tiny_config(data_path, tmp_path, epochs=1))
    history = trainer.fit()
    mae = history[-1]["validation"]["mae"]
    assert set(mae) == {"default/neutral"}
    row = mae["default/neutral"]
    table = error_table(predict_frames(trainer.eval_model(), trainer.val_frames))
    assert row["frames"] == len(trainer.val_frames)
    assert row["energy_mev_per_atom"] == pytest.approx(
        table["energy_mev_per_atom"]["mae"], rel=1e-9
    )
    assert row["forces_mev_per_A"] == pytest.approx(table["forces_mev_per_A"]["mae"], rel=1e-9)


def test_checkpoint_loads_as_model(data_path, tmp_path):
    from openmm_polarml.model.serialization import load_model

    trainer = Trainer(tiny_config(data_path, tmp_path, epochs=1))
    trainer.fit()
    model = load_model(tmp_path / "last.pt", dtype="float64")
    ref = trainer.eval_model("float64")
    from openmm_polarml.data_io import collate

    batch = collate(trainer.val_frames)
    e1 = model(batch, compute_forces=False, include_d3=False)["energy"]
    e2 = ref(batch, compute_forces=False, include_d3=False)["energy"]
    assert torch.allclose(e1, e2)
    cfg = copy.deepcopy(trainer.cfg)
    assert cfg["training"]["epochs"] == 1


def test_reference_energies_recover_a_linear_model():
    from openmm_polarml.data_io import atoms_to_frame, reference_energies
    from tests.training.helpers import emt_frames

    frames = [atoms_to_frame(a) for a in emt_frames(6)]
    true = torch.zeros(95, dtype=torch.float64)
    true[29], true[13] = -3.5, -2.25
    # mixed compositions so that both elements are identifiable
    frames[0]["numbers"][:2] = 13
    energies = [float(true[f["numbers"]].sum()) for f in frames]
    fit = reference_energies(frames, energies, ridge=0.0)
    assert torch.allclose(fit[[13, 29]], true[[13, 29]], atol=1e-10)
    ridge = reference_energies(frames, energies, ridge=1e-3)
    assert torch.allclose(ridge[[13, 29]], true[[13, 29]], atol=1e-2)


def test_training_device_resolution():
    from openmm_polarml.training.distributed import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="must be 'cpu', 'cuda' or 'auto'"):
        resolve_device("mps")


def test_training_frames_without_labels_are_refused(tmp_path):
    import ase.io
    from ase import Atoms

    frames = [Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.3 + 0.1 * k]]) for k in range(6)]
    path = tmp_path / "unlabelled.extxyz"
    ase.io.write(str(path), frames)
    with pytest.raises(ValueError, match="none of the 4 training frames carries an energy"):
        Trainer(tiny_config(str(path), tmp_path / "out"))


@pytest.mark.parametrize("pqeq", [None, {"long_range": "ewald"}], ids=["plain", "delta"])
def test_label_force_cap_removes_frames_from_training_and_validation(tmp_path, pqeq):
    frames = emt_frames(6)
    frames[0].calc.results["forces"][0, 0] = 1.0e4  # eV/Å: a teacher far outside its range
    path = write_frames(tmp_path / "wild.extxyz", frames)
    configs = [tiny_config(path, tmp_path / name, epochs=1) for name in ("plain", "capped")]
    for cfg in configs:
        cfg["model"]["pqeq"] = pqeq
    configs[1]["data"]["max_label_force"] = 100.0
    plain, capped = (Trainer(cfg) for cfg in configs)
    assert (capped.model.pqeq is not None) == (pqeq is not None)
    sizes = [(len(t.train_frames), len(t.val_frames)) for t in (plain, capped)]
    assert sum(sizes[0]) - sum(sizes[1]) == 1
    assert all(
        float(f["forces"].abs().max()) <= 100.0 for f in capped.train_frames + capped.val_frames
    )
