"""Fine-tuning demo: a pre-trained model on a new labelled set, errors before and after.

:func:`finetune_demo` splits the frames 80/20 (seeded; optionally within groups, :func:`split`),
scores the held-out 20 % with the model as it is, after refitting the per-element energy
shifts on the training 80 % (labels from another code first put on the model's energy zero,
:func:`align_energy_reference`), and after fine-tuning the readout with
:class:`~openmm_polarml.training.Trainer` for a fixed number of epochs. The data sets of
``examples/finetune_demo.py``: :func:`load_demo_traj` (PBE crystals of the ReaxNet
``demo.traj``) and :func:`load_pyscf_set` (PBE/def2-SVP water/ion clusters). Energies in
meV/atom, forces in meV/Å, times in seconds. The table and plot:
:mod:`openmm_polarml.training.finetune_report`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from ase.data import chemical_symbols

from openmm_polarml.data_io import collate, reference_energies
from openmm_polarml.data_io import keys as K
from openmm_polarml.model.serialization import load_model, pretrained_path
from openmm_polarml.training.data import frames_from_atoms
from openmm_polarml.training.evaluate import evaluate
from openmm_polarml.training.finetune import DEFAULT_TRAINABLE
from openmm_polarml.training.trainer import Trainer

__all__ = [
    "DEMO_TRAJ",
    "PYSCF_SET",
    "STAGES",
    "STAGE_SECONDS",
    "load_demo_traj",
    "load_pyscf_set",
    "cluster_kind",
    "split",
    "align_energy_reference",
    "error_summary",
    "finetune_demo",
]

#: the repository root (a source checkout)
ROOT = Path(__file__).resolve().parents[2]
DEMO_TRAJ = ROOT.parent / "shared" / "data" / "reaxnet" / "demo.traj"
PYSCF_SET = ROOT / "data" / "finetune" / "pyscf_water_ions.extxyz.gz"
#: the rows of the table, one per model state
STAGES = ("before (raw)", "before (shifts)", "after")
SETUP = "setup (PQEq+D3 terms, shift refit)"
ALIGN = "energy reference alignment"
#: the timed steps (keys of a record's ``seconds``) behind each stage's row in the table
STAGE_SECONDS = {
    "before (raw)": ("evaluate before (raw)",),
    "before (shifts)": (ALIGN, SETUP, "evaluate before (shifts)"),
    "after": ("fine-tune", "evaluate after"),
}


def load_demo_traj(path=DEMO_TRAJ, max_frames: int = 500, max_atoms: int = 24, seed: int = 0):
    """Up to ``max_frames`` seeded-random crystals of ``demo.traj`` with at most ``max_atoms``
    atoms (``ase.Atoms`` with energy in eV, forces in eV/Å, stress in eV/Å³, level ``pbe``)."""
    from openmm_polarml.data.sources import read_demo_traj

    frames = [a for a in read_demo_traj(path) if len(a) <= max_atoms]
    order = np.random.default_rng(seed).permutation(len(frames))[:max_frames]
    return [frames[i] for i in sorted(order)]


def load_pyscf_set(path=PYSCF_SET, max_frames: int | None = None, seed: int = 0):
    """Frames of the committed PySCF set (``ase.Atoms``; eV, eV/Å, charge in ``info``), all or
    ``max_frames`` seeded-random ones in file order."""
    from openmm_polarml.data.shards import read_frames

    frames = read_frames(path)
    if max_frames is None or max_frames >= len(frames):
        return frames
    order = np.random.default_rng(seed).permutation(len(frames))[:max_frames]
    return [frames[i] for i in sorted(order)]


def cluster_kind(atoms) -> str:
    """Stratification key of a water/ion cluster: its elements other than H and O."""
    return "".join(sorted(set(atoms.get_chemical_symbols()) - {"H", "O"})) or "water"


def split(keys: list, fraction: float = 0.8, seed: int = 0) -> tuple[list, list]:
    """Seeded train/test indices: within each group of equal ``keys``, ``round(fraction · n)``
    random members go to training (one group: a plain random split)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for key in sorted(set(keys)):
        members = rng.permutation([i for i, k in enumerate(keys) if k == key]).tolist()
        n_train = int(round(fraction * len(members)))
        train += members[:n_train]
        test += members[n_train:]
    return sorted(train), sorted(test)


@torch.no_grad()
def align_energy_reference(model, train: list, frames: list) -> tuple[list, dict]:
    """Put label energies on the model's energy zero: per-element offsets (eV) from an
    unregularised least-squares fit of ``E_label − E_model`` on ``train``, subtracted from the
    labels of ``frames`` (new frame dicts; elements absent from ``train`` get the mean offset).

    Needed when the labels come from another code (all-electron Gaussian-basis totals lie
    hundreds to thousands of eV per atom below plane-wave PAW ones): the trainer's own
    ``refit_shifts`` is ridge-regularised towards the mean and cannot absorb such offsets.
    """
    fit, errors = [], []
    for frame in train:
        try:
            with torch.enable_grad():
                e = model(collate([frame]), compute_forces=False)["energy"]
        except Exception:  # noqa: BLE001 - a frame PQEq cannot solve is left out of the fit
            continue
        fit.append(frame)
        errors.append(float(frame[K.ENERGY][0] - e[0]))
    offsets = reference_energies(fit, errors, ridge=0.0)  # [95] eV per atom
    out = []
    for frame in frames:
        shift = offsets[frame[K.NUMBERS]].sum()
        out.append({**frame, K.ENERGY: frame[K.ENERGY] - shift})
    present = sorted({int(z) for f in fit for z in f[K.NUMBERS]})
    return out, {chemical_symbols[z]: round(float(offsets[z]), 4) for z in present}


def error_summary(model, frames: list) -> dict:
    """MAE/RMSE of ``model`` (full: network + PQEq + D3) on ``frames``: energy in meV/atom,
    forces in meV/Å, stress in GPa (periodic frames only), dipole in e·Å (neutral finite frames,
    where the evaluator reports it), plus the number of frames skipped (PQEq failed)."""
    table = evaluate(model, {"test": frames})[0]["test"]
    keys = ("energy_mev_per_atom", "forces_mev_per_A", "stress_gpa", "dipole_e_A")
    return {"skipped_frames": table["skipped_frames"], **{k: table[k] for k in keys if k in table}}


def _timed(fn, *args):
    """``fn(*args)`` and its wall time (s)."""
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def finetune_demo(
    name: str,
    atoms_list: list,
    out: Path,
    epochs: int = 30,
    lr: float = 5e-3,
    batch_size: int = 8,
    seed: int = 0,
    checkpoint: Path | None = None,
    progress: bool = True,
    align_reference: bool = False,
    stratify=None,
    trainable: list | None = None,
) -> dict:
    """Split, evaluate before, fine-tune the readout, evaluate after; returns the record.

    Parameters
    ----------
    name : str
        Demo name (sub-folder of ``out`` for the trainer's output).
    atoms_list : list of ase.Atoms
        Labelled frames (``info["level"] == "pbe"``).
    out : Path
        Output folder.
    epochs, lr, batch_size : int, float, int
        Training budget (fixed: no early stopping, no model selection).
    seed : int
        Seed of the 80/20 split and of the training order.
    checkpoint : Path, optional
        Pre-trained model (default: the shipped ``foundation`` model).
    progress : bool
        tqdm progress bars (fixed terms, epochs).
    align_reference : bool
        Labels from another code: first remove per-element energy offsets fitted on the
        training frames (:func:`align_energy_reference`; part of the "before (shifts)" stage).
    stratify : callable, optional
        ``stratify(atoms) -> key``: split 80/20 within each group (see :func:`split`).
    trainable : list of str, optional
        Glob patterns of the parameters to train (default
        :data:`~openmm_polarml.training.finetune.DEFAULT_TRAINABLE`: the two readout layers).

    Returns
    -------
    dict
        ``n_train``, ``n_test``, ``errors`` (per stage, see :func:`error_summary`), ``seconds``
        (per step), ``history`` (the trainer's per-epoch records) and ``changed_parameters``
        (names of the network parameters whose values the fine-tune changed).
    """
    checkpoint = Path(checkpoint or pretrained_path("foundation"))
    trainable = list(trainable or DEFAULT_TRAINABLE)
    raw = load_model(checkpoint, dtype="float64")
    frames = frames_from_atoms(atoms_list, list(raw.config["heads"]), name)
    keys = [stratify(a) if stratify else "all" for a in atoms_list]
    train_idx, test_idx = split(keys, 0.8, seed)
    train, test = [frames[i] for i in train_idx], [frames[i] for i in test_idx]
    seconds, errors, offsets = {}, {}, {}
    errors["before (raw)"], seconds["evaluate before (raw)"] = _timed(error_summary, raw, test)
    if align_reference:
        (aligned, offsets), seconds[ALIGN] = _timed(align_energy_reference, raw, train, frames)
        train, test = [aligned[i] for i in train_idx], [aligned[i] for i in test_idx]
    config = {
        "data": {"train": "given", "seed": seed},
        "finetune": {
            "checkpoint": str(checkpoint),
            "trainable": trainable,
            "refit_shifts": True,
        },
        "training": {
            "output_dir": str(out / name),
            "epochs": int(epochs),
            "batch_size": int(batch_size),
            "lr": float(lr),
            "scheduler": "cosine",
            "ema_decay": 0.9,
            "patience": int(epochs) + 1,
            "loss_weights": {"energy": 10.0, "forces": 1.0, "stress": 1.0, "dipole": 0.0},
            "progress": progress,
            "seed": seed,
        },
    }
    splits = {"train": train, "validation": [], "test": []}
    # loads the checkpoint, subtracts PQEq + D3 (delta learning), refits the PBE-head shifts
    trainer, seconds[SETUP] = _timed(Trainer, config, splits)
    errors["before (shifts)"], seconds["evaluate before (shifts)"] = _timed(
        error_summary, trainer.eval_model(), test
    )
    history, seconds["fine-tune"] = _timed(trainer.fit, False)
    tuned = trainer.eval_model()
    errors["after"], seconds["evaluate after"] = _timed(error_summary, tuned, test)
    base = load_model(checkpoint, dtype=trainer.cfg["training"]["dtype"]).state_dict()
    state = trainer.ema.state_dict()  # the weights of ``tuned``, in the training dtype
    names = [n for n, _ in trainer.model.named_parameters()]
    changed = [n for n in names if not torch.equal(state[n], base[n])]
    return {
        "n_train": len(train),
        "n_test": len(test),
        "test_indices": test_idx,
        "energy_offsets_eV": offsets,
        "n_atoms_mean": float(np.mean([len(a) for a in atoms_list])),
        "elements": len({int(z) for a in atoms_list for z in a.numbers}),
        "errors": errors,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "changed_parameters": changed,
        "trainable": trainable,
        "history": history,
    }
