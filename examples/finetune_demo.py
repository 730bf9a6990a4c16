"""Fine-tuning demo: the shipped ``foundation`` model on two new PBE data sets, before and after.

Two demos, each with a seeded 80/20 train/test split:

(a) ``demo_traj``: PBE crystals of ``shared/data/reaxnet/demo.traj`` (VASP, 79 elements; not in
    the foundation model's training data): up to ``--max-frames`` seeded-random frames of at
    most 24 atoms (all 500 frames qualify);
(b) ``pyscf``: ``data/finetune/pyscf_water_ions.extxyz.gz``, 40 water and water/ion clusters at
    PBE/def2-SVP (PySCF, see ``data/finetune/README.md``), split 80/20 within each kind
    (water, Na, Li, K, Cl, F) so that every ion is in both parts.

Both are routed to the model's ``pbe`` head (``info["level"] = "pbe"``). Errors on the test
20 % are reported three times:

- ``before (raw)``: the shipped model as it is;
- ``before (shifts)``: the per-element energy shifts refitted on the training 80 % only (changes
  no force). For the PySCF set the labels are first put on the model's energy zero by an
  unregularised per-element least-squares fit on the training frames
  (:func:`align_energy_reference`; all-electron Gaussian-basis totals lie hundreds to thousands
  of eV per atom below plane-wave PAW ones), then the trainer's ``refit_shifts`` refines them;
- ``after``: fine-tuned with :class:`openmm_polarml.training.Trainer` and a ``finetune`` section
  (checkpoint = the foundation model, trainable = the readout layers
  :data:`~openmm_polarml.training.finetune.DEFAULT_TRAINABLE`, ``refit_shifts``), for a fixed
  number of epochs: the test frames are used neither in training nor for model selection.

Energies are MAE/RMSE in meV/atom, forces in meV/Å, times in seconds (wall clock). Results go to
``OUT/finetune_demo.json`` and the bar plot ``OUT/before_after.png``; the fine-tuned models are
``OUT/<demo>/last.pt`` (training checkpoints; ``openmm_polarml.model.load_model`` reads their
EMA weights).

Run: ``python examples/finetune_demo.py [--out runs/finetune_demo] [--epochs 30] [--threads 1]
[--max-frames 500]`` (about 4 minutes on one CPU core; the PySCF part alone, ``--demos pyscf``,
well under a minute).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from ase.data import chemical_symbols

from openmm_polarml.data_io import collate, reference_energies
from openmm_polarml.data_io import keys as K
from openmm_polarml.model.serialization import load_model, pretrained_path
from openmm_polarml.training import Trainer
from openmm_polarml.training.data import frames_from_atoms
from openmm_polarml.training.evaluate import evaluate
from openmm_polarml.training.finetune import DEFAULT_TRAINABLE

ROOT = Path(__file__).resolve().parents[1]
DEMO_TRAJ = ROOT.parent / "shared" / "data" / "reaxnet" / "demo.traj"
PYSCF_SET = ROOT / "data" / "finetune" / "pyscf_water_ions.extxyz.gz"
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


def format_table(results: dict) -> str:
    """Plain-text before/after table (energy meV/atom, forces meV/Å MAE; seconds)."""
    head = f"{'demo':<11}{'stage':<17}{'E MAE':>11}{'E RMSE':>11}{'F MAE':>9}{'F RMSE':>9}"
    lines = [head + f"{'seconds':>9}", f"{'':<28}{'(meV/atom)':>22}{'(meV/Å)':>18}"]
    for name, rec in results.items():
        for stage in STAGES:
            e = rec["errors"][stage]["energy_mev_per_atom"]
            f = rec["errors"][stage]["forces_mev_per_A"]
            sec = sum(rec["seconds"].get(k, 0.0) for k in STAGE_SECONDS[stage])
            lines.append(
                f"{name:<11}{stage:<17}{e['mae']:>11.1f}{e['rmse']:>11.1f}{f['mae']:>9.1f}"
                f"{f['rmse']:>9.1f}{sec:>9.1f}"
            )
        lines.append(
            f"{'':<11}(train {rec['n_train']}, test {rec['n_test']} frames; "
            f"total {sum(rec['seconds'].values()):.1f} s)"
        )
    return "\n".join(lines)


def bar_plot(results: dict, path: Path) -> None:
    """Grouped bars of energy (meV/atom, log scale) and force (meV/Å) MAE per demo and stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.8 / len(STAGES)
    for ax, key, label in zip(
        axes,
        ("energy_mev_per_atom", "forces_mev_per_A"),
        ("energy MAE (meV/atom)", "force MAE (meV/Å)"),
        strict=True,
    ):
        for k, stage in enumerate(STAGES):
            values = [results[n]["errors"][stage][key]["mae"] for n in names]
            x = np.arange(len(names)) + (k - (len(STAGES) - 1) / 2) * width
            bars = ax.bar(x, values, width, label=stage, color=f"C{k}")
            ax.bar_label(bars, fmt="%.0f", fontsize=7)
        ax.set_xticks(np.arange(len(names)), names)
        ax.set_ylabel(label)
        if key.startswith("energy"):
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle("foundation model fine-tuned (readout only): test-set errors")
    fig.tight_layout()
    fig.savefig(str(path), dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/finetune_demo", help="output folder")
    parser.add_argument("--epochs", type=int, default=30, help="fine-tuning epochs per demo")
    parser.add_argument("--lr", type=float, default=5e-3, help="learning rate (AdamW, cosine)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--max-frames", type=int, default=500, help="frames per demo (demo.traj: ≤ 24 atoms)"
    )
    parser.add_argument(
        "--demos", nargs="+", default=["demo_traj", "pyscf"], choices=["demo_traj", "pyscf"]
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    loaders = {
        "demo_traj": lambda: load_demo_traj(max_frames=args.max_frames),
        "pyscf": lambda: load_pyscf_set(max_frames=args.max_frames),
    }
    # same code as the foundation model's PBE data (VASP) vs another code: align the energy zero
    options = {
        "demo_traj": {},
        "pyscf": {"align_reference": True, "stratify": cluster_kind},
    }
    results = {}
    for name in args.demos:
        if name == "demo_traj" and not DEMO_TRAJ.exists():
            print(f"[finetune_demo] skipping demo_traj: {DEMO_TRAJ} not found")
            continue
        atoms_list = loaders[name]()
        print(f"[finetune_demo] {name}: {len(atoms_list)} frames, fine-tuning {args.epochs} epochs")
        results[name] = finetune_demo(
            name,
            atoms_list,
            out,
            args.epochs,
            args.lr,
            progress=not args.no_progress,
            **options[name],
        )
        (out / "finetune_demo.json").write_text(json.dumps(results, indent=1))
    print(format_table(results))
    bar_plot(results, out / "before_after.png")
    print(f"[finetune_demo] wrote {out / 'finetune_demo.json'} and {out / 'before_after.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
