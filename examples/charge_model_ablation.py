"""Charge-model ablation: fine-tune the shipped model on the GFN2-xTB data under each charge model
for the same wall time, then compare the per-kind error tables.

    python examples/charge_model_ablation.py --arm molecules --minutes 45   # resumes when rerun
    python examples/charge_model_ablation.py --arm none --minutes 45
    python examples/charge_model_ablation.py --arm molecules --head-chi --minutes 120
    python examples/charge_model_ablation.py --arm molecules --charge-transfer split  # bonds
    python examples/charge_model_ablation.py --arm molecules --charge-transfer split --charge-input
    python examples/charge_model_table.py --model runs/charge_model/molecules/best.pt \\
        --label ft_molecules --modes molecules --out runs/charge_model/table.json

Both arms start from ``openmm_polarml/models/foundation/model.pt`` and train the network only
(delta learning on the fixed PQEq + D3 of each charge model; element shifts refitted) on the
GFN2-xTB frames of the shipped model's own training split (``xtb`` and its three extensions),
validated on its validation split; the test split stays unseen. The arms differ only in
``finetune.fragments``. Split files are written once to ``runs/charge_model/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from openmm_polarml.data import write_frames
from openmm_polarml.training import Trainer
from openmm_polarml.training.config import load_config, resolve
from openmm_polarml.training.data import split_atoms_by_subset

ROOT = Path(__file__).resolve().parents[1]
FOUNDATION = ROOT / "openmm_polarml" / "models" / "foundation"
GFN2_SUBSETS = ("xtb", "xtb_solvated", "xtb_contacts", "xtb_dimer_contacts")


def split_files(folder: Path) -> dict[str, str]:
    """The GFN2 train/validation split of the shipped model, written once as extxyz.gz."""
    paths = {part: folder / f"gfn2_{part}.extxyz.gz" for part in ("train", "validation")}
    if all(p.exists() for p in paths.values()):
        return {k: str(v) for k, v in paths.items()}
    cfg = load_config(FOUNDATION / "config.yaml")
    for part, path in paths.items():
        groups = split_atoms_by_subset(cfg, part)
        frames = [a for name in GFN2_SUBSETS for a in groups.get(name, [])]
        print(f"[ablation] {part}: {len(frames)} GFN2-xTB frames -> {path}", flush=True)
        write_frames(path, frames)  # atomic
    return {k: str(v) for k, v in paths.items()}


def arm_config(
    arm: str,
    files: dict,
    out: Path,
    minutes: float,
    epochs: int,
    head_chi: bool = False,
    charge_transfer: str = "global",
    train_hardness: bool = False,
    charge_input: bool = False,
) -> dict:
    """The fine-tuning configuration of one arm; ``head_chi`` adds trainable per-head χ offsets
    (joint mode: PQEq is solved in every step, with the offsets' gradient); ``charge_transfer``
    ``split`` solves split-charge equilibration, with the bond hardness trained when
    ``train_hardness``; ``charge_input`` gives the network each atom's charge state (the
    reference charges), its energy table refitted with the shifts before training."""
    trainable = ["shortrange.network.*"] + (["pqeq_chi_offset"] if head_chi else [])
    trainable += ["pqeq.bond_hardness.raw"] if train_hardness else []
    return resolve(
        {
            "finetune": {
                "checkpoint": str(FOUNDATION / "model.pt"),
                "trainable": trainable,
                "refit_pqeq": False,
                "refit_shifts": True,
                "fragments": arm,
                "pqeq_head_chi": head_chi,
                "charge_transfer": charge_transfer,
                "charge_input": charge_input,
            },
            "data": {"train": files["train"], "validation": files["validation"]},
            "training": {
                "output_dir": str(out),
                "epochs": epochs,
                "max_minutes": minutes,
                "batch_size": 8,
                "lr": 5e-4,
                # eV-scale offsets and hardnesses move faster
                "pqeq_lr": 2e-3 if head_chi or train_hardness else None,
                "scheduler": "cosine",
                "ema_decay": 0.99,
                "patience": 10,
                "huber_delta": 0.01,
                "loss_weights": {"energy": 1.0, "forces": 10.0, "stress": 0.0, "dipole": 0.0},
                "dtype": "float32",
                "eval_dtype": "float64",
                "delta": True,
                "progress": False,
                "seed": 0,
            },
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", choices=("none", "molecules"), required=True)
    parser.add_argument("--minutes", type=float, default=45.0, help="wall time of this run")
    parser.add_argument("--epochs", type=int, default=2, help="length of the LR schedule")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--head-chi", action="store_true", help="train per-head χ offsets too")
    parser.add_argument(
        "--charge-transfer", choices=("global", "split"), default="global",
        help="global charge equilibration or split charges (bond hardness)",
    )  # fmt: skip
    parser.add_argument("--train-hardness", action="store_true", help="train the bond hardness")
    parser.add_argument(
        "--charge-input", action="store_true", help="give the network each atom's charge state"
    )
    parser.add_argument("--out", default=str(ROOT / "runs" / "charge_model"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    files = split_files(folder)
    name = args.arm + ("_chi" if args.head_chi else "")
    name += "_split" if args.charge_transfer == "split" else ""
    name += "_kappa" if args.train_hardness else ""
    name += "_qin" if args.charge_input else ""
    cfg = arm_config(
        args.arm, files, folder / name, args.minutes, args.epochs, args.head_chi,
        args.charge_transfer, args.train_hardness, args.charge_input,
    )  # fmt: skip
    history = Trainer(cfg).fit(resume=True)
    for record in history:
        mae = record["validation"].get("mae", {})
        rows = ", ".join(f"{g} {m['energy_mev_per_atom']:.1f}" for g, m in mae.items())
        print(f"[ablation] {args.arm} epoch {record['epoch']}: validation meV/atom {rows}")


if __name__ == "__main__":
    main()
