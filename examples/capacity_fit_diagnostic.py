"""Is the charged-frame error a capacity limit? Fit the charged GFN2-xTB frames with networks of
three sizes for the same wall time and compare how far each gets on its own training frames.

The shipped network's error on charged ion clusters, ion pairs and proton-transfer frames stays
at 80–220 meV/atom on the test split, and more epochs did not lower it. If a bigger network
fits these frames (on the training frames themselves, where generalisation plays no part)
much better than the small one in the same wall time, capacity limits; if every size stalls at
the same error, the functional form (the charge model the network complements) does.

Arms (from scratch, same data, same PQEq with the published parameters, same D3, one head,
delta learning, plateau scheduler, ``--minutes`` each at one thread): ``small`` (the shipped
preset, 28k parameters), ``wide`` (small with 64x0e+16x1o features and a 64-wide radial MLP)
and ``medium`` (4 layers, 64x0e+32x1o+8x2e, l_max 2).

    python examples/capacity_fit_diagnostic.py --minutes 12 --frames 240

Outputs: ``runs/capacity/<arm>/`` (training runs) and ``runs/capacity/capacity_fit.json`` (per
kind energy/force MAE on the fitted frames, parameters, epochs and structures/s per arm); the
table is printed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from openmm_polarml.data import read_frames, write_frames
from openmm_polarml.model.serialization import load_model
from openmm_polarml.training import Trainer
from openmm_polarml.training.by_kind import errors_by_kind, frame_kind
from openmm_polarml.training.config import resolve

ROOT = Path(__file__).resolve().parents[1]
CHARGED_KINDS = ("ion_cluster", "ion_pair", "proton")
ARMS = {
    "small": {"preset": "small", "network": {}},
    "wide": {"preset": "small", "network": {"hidden_irreps": "64x0e+16x1o", "radial_hidden": 64}},
    "medium": {"preset": "medium", "network": {}},
}


def charged_subset(source: Path, target: Path, n: int, seed: int) -> list:
    """``n`` seeded frames of the charged kinds from the GFN2 training split (written once)."""
    if target.exists():
        return read_frames(target)
    frames = [a for a in read_frames(source) if frame_kind(a) in CHARGED_KINDS]
    picks = np.random.default_rng(seed).choice(len(frames), size=min(n, len(frames)), replace=False)
    subset = [frames[int(i)] for i in sorted(picks)]
    write_frames(target, subset)
    return subset


def arm_config(arm: str, data: Path, out: Path, minutes: float) -> dict:
    return resolve(
        {
            "model": {**ARMS[arm], "d3": "pbe", "pqeq": {"long_range": "ewald"}},
            "data": {"train": str(data), "validation": str(data)},
            "training": {
                "output_dir": str(out), "epochs": 10000, "max_minutes": minutes,
                "batch_size": 8, "lr": 2e-3, "scheduler": "plateau", "plateau_patience": 3,
                "patience": 1000, "ema_decay": 0.99, "huber_delta": 0.01,
                "loss_weights": {"energy": 1.0, "forces": 10.0, "stress": 0.0, "dipole": 0.0},
                "dtype": "float32", "eval_dtype": "float64", "delta": True,
                "progress": False, "plots": False, "seed": 0,
            },
        }
    )  # fmt: skip


def run_arm(arm: str, data: Path, folder: Path, minutes: float) -> dict:
    out = folder / arm
    start = time.time()
    trainer = Trainer(arm_config(arm, data, out, minutes))
    history = trainer.fit(resume=True)
    model = load_model(out / "best.pt").eval()
    parameters = sum(p.numel() for p in model.shortrange.network.parameters())
    table = errors_by_kind(model, {"xtb": read_frames(data)}, fragments="none")
    return {
        "parameters": int(parameters),
        "epochs": len(history),
        "minutes": round((time.time() - start) / 60, 1),
        "structures_per_s": float(np.mean([h.get("structures_per_s", np.nan) for h in history])),
        "fit_errors": table,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--minutes", type=float, default=12.0, help="wall time per arm")
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--out", default=str(ROOT / "runs" / "capacity"))
    parser.add_argument(
        "--source",
        default=str(ROOT / "runs/charge_model/gfn2_train.extxyz.gz"),
        help="GFN2 training split (examples/charge_model_ablation.py writes it)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "charged_frames.extxyz.gz"
    charged_subset(Path(args.source), data, args.frames, seed=0)
    record_path = folder / "capacity_fit.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    for arm in args.arms:
        record[arm] = run_arm(arm, data, folder, args.minutes)
        record_path.write_text(json.dumps(record, indent=1))
    print(f"{'arm':8s} {'params':>8s} {'epochs':>6s} {'str/s':>6s} "
          + " ".join(f"{k + ' E/F':>16s}" for k in CHARGED_KINDS))  # fmt: skip
    for arm, r in record.items():
        cells = []
        for kind in CHARGED_KINDS:
            e = r["fit_errors"].get(kind, {})
            cells.append(f"{e.get('energy_mae_mev_per_atom', np.nan):7.1f}/"
                         f"{e.get('forces_mae_mev_per_A', np.nan):6.0f}")  # fmt: skip
        print(f"{arm:8s} {r['parameters']:8d} {r['epochs']:6d} {r['structures_per_s']:6.1f} "
              + " ".join(f"{c:>16s}" for c in cells))  # fmt: skip


if __name__ == "__main__":
    main()
