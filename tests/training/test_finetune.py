"""Fine-tuning on demo.traj from a model pre-trained on another split beats training from scratch
with the same budget; freezing keeps all but the chosen layers fixed."""

import os

import pytest
import torch

from openmm_polarml.data_io import split_indices
from openmm_polarml.training import Trainer
from openmm_polarml.training.data import load_frames
from tests.training.helpers import DEMO

NET = {
    "num_layers": 2,
    "hidden_irreps": "16x0e+8x1o",
    "l_max": 1,
    "radial_hidden": 16,
    "r_max": 4.5,
}


def _cfg(out, **training):
    return {
        "model": {"preset": "small", "network": dict(NET), "d3": None, "pqeq": None},
        "data": {"train": "given"},
        "training": {
            "output_dir": str(out),
            "batch_size": 8,
            "progress": False,
            "dtype": "float32",
            "eval_dtype": "float64",
            "ema_decay": 0.9,
            "scheduler": "constant",
            "loss_weights": {"energy": 1.0, "forces": 1.0, "stress": 0.0},
            **training,
        },
    }


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(DEMO), reason="demo.traj not available")
def test_finetuning_beats_scratch(tmp_path):
    frames = load_frames(DEMO)
    a_idx, b_idx = split_indices(len(frames), (0.5, 0.5), seed=1)
    a = [frames[i] for i in a_idx]
    b = [frames[i] for i in b_idx]
    b_train, b_val = b[:60], b[60:120]

    pre = Trainer(
        _cfg(tmp_path / "pre", epochs=12, lr=1e-2),
        splits={"train": a[:220], "validation": a[220:], "test": []},
    )
    pre.fit()

    budget = {"epochs": 5, "lr": 5e-3}
    ft_cfg = _cfg(tmp_path / "ft", **budget)
    ft_cfg["finetune"] = {
        "checkpoint": str(tmp_path / "pre" / "last.pt"),
        "trainable": ["shortrange.network.readout_*", "shortrange.network.layers.1.*"],
    }
    splits = {"train": b_train, "validation": b_val, "test": []}
    ft = Trainer(ft_cfg, splits=splits)
    frozen = {k: v.clone() for k, v in ft.model.named_parameters() if not v.requires_grad}
    assert frozen and any(p.requires_grad for p in ft.model.parameters())
    ft_hist = ft.fit()
    for name, p in ft.model.named_parameters():
        if name in frozen:
            assert torch.equal(p, frozen[name]), name

    scratch = Trainer(_cfg(tmp_path / "scratch", **budget), splits=splits)
    scratch_hist = scratch.fit()
    ft_err = ft_hist[-1]["validation"]
    sc_err = scratch_hist[-1]["validation"]
    print(f"fine-tuned validation {ft_err}; from scratch {sc_err}")
    assert ft_err["loss"] < sc_err["loss"]
    assert ft_err["forces"] < sc_err["forces"]


def _pqeq_checkpoint(tmp_path):
    from openmm_polarml.model.serialization import save_model
    from tests.model.helpers import tiny_model

    path = tmp_path / "pqeq.pt"
    save_model(tiny_model("float64", pqeq={"long_range": "direct"}), path)
    return str(path)


def test_switching_to_split_charges_makes_the_bond_hardness_trainable(tmp_path):
    from openmm_polarml.training.finetune import apply_finetune

    ft = {
        "checkpoint": _pqeq_checkpoint(tmp_path),
        "trainable": ["pqeq.bond_hardness.raw"],
        "charge_transfer": "split",
        "bond_hardness": 2.0,
    }
    model = apply_finetune(ft, "float64")
    assert model.pqeq.charge_transfer == "split"
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trained == ["pqeq.bond_hardness.raw"]
    kappa = model.pqeq.bond_hardness.per_atom(torch.tensor([8]))
    assert float(kappa) == pytest.approx(2.0, rel=1e-6)


def test_a_trainable_pattern_that_matches_nothing_is_an_error(tmp_path):
    from openmm_polarml.training.finetune import apply_finetune

    ft = {"checkpoint": _pqeq_checkpoint(tmp_path), "trainable": ["pqeq.bond_hardness.raw"]}
    with pytest.raises(ValueError, match="match no parameter"):
        apply_finetune(ft, "float64")


def test_gaining_the_charge_input_fits_known_ion_offsets_through_the_trainer(tmp_path):
    """Labels = the checkpoint's own energies + a known offset per ion (Cl⁻ +2.0 eV, Na⁺ −1.0 eV):
    the trainer's refit (delta learning, molecules charge model) puts exactly these offsets into
    the charge-energy table, so the fine-tuned model reproduces the labels before any step."""
    import ase.io
    import numpy as np
    from ase import Atoms

    from openmm_polarml.data_io import atoms_to_frame, collate
    from openmm_polarml.model.serialization import load_model

    checkpoint = _pqeq_checkpoint(tmp_path)
    base = load_model(checkpoint, dtype="float64")
    base.config["fragments"] = "molecules"
    water = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    rng = np.random.default_rng(1)
    frames = []
    for k in range(12):
        ion = ["Na", "Cl", None][k % 3]
        atoms = Atoms("OH2OH2", positions=np.concatenate([water, water + [3.0, 0.3, 0.2]]))
        atoms.rattle(0.03, seed=k)
        if ion is not None:
            atoms += Atoms(ion, positions=[[1.4, 2.6 + 0.2 * rng.random(), 0.3]])
            atoms.info["charge"] = 1.0 if ion == "Na" else -1.0
        data = collate([atoms_to_frame(atoms, "molecules")])
        out = base(data, compute_forces=True)
        offset = {"Na": -1.0, "Cl": 2.0, None: 0.0}[ion]
        atoms.info["energy"] = float(out["energy"][0].detach()) + offset
        atoms.arrays["forces"] = out["forces"].detach().numpy()
        frames.append(atoms)
    path = tmp_path / "ions.extxyz"
    ase.io.write(str(path), frames)
    cfg = _cfg(tmp_path / "run", epochs=1, dtype="float64", delta=True)
    cfg["data"] = {"train": str(path), "split": [1.0, 0.0, 0.0], "seed": 0}
    cfg["finetune"] = {
        "checkpoint": checkpoint,
        "trainable": ["shortrange.network.*"],
        "fragments": "molecules",
        "charge_input": True,
        "refit_shifts": True,
    }
    trainer = Trainer(cfg)
    table = trainer.model.shortrange.network.charge_energy.detach()  # [95, 2]
    assert float(table[11, 0] + table[11, 1]) == pytest.approx(-1.0, abs=1e-6)  # q⁰ = +1
    assert float(-table[17, 0] + table[17, 1]) == pytest.approx(2.0, abs=1e-6)  # q⁰ = −1
    for atoms in frames:
        data = collate([atoms_to_frame(atoms, "molecules")])
        energy = float(trainer.model(data, compute_forces=False)["energy"][0].detach())
        assert energy == pytest.approx(atoms.info["energy"], abs=1e-5)
