"""PQEq ablation: the same network, data and schedule with and without the PQEq term.

Trains both arms (``examples/ablation_pqeq.yaml`` and ``examples/ablation_no_pqeq.yaml``: the
GFN2-xTB subset, where charges, ions and fields live; resumable), then evaluates both on the same
test frames, split by kind: neutral frames without a field, charged frames, and neutral frames in
a homogeneous field. A model without PQEq cannot see the total charge or the field, so those rows
show what the polarizable long-range term buys. Writes ``ablation.json`` next to the shipped
foundation model and prints a table.

    python examples/ablation_pqeq.py [--threads 1] [--epochs N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from openmm_polarml.data_io import keys as K
from openmm_polarml.training import Trainer
from openmm_polarml.training.config import load_config
from openmm_polarml.training.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[1]
ARMS = {"pqeq": "ablation_pqeq.yaml", "no_pqeq": "ablation_no_pqeq.yaml"}
TARGET = ROOT / "openmm_polarml" / "models" / "foundation" / "ablation.json"


def frame_kind(frame: dict) -> str:
    """``charged``, ``in_field`` or ``neutral`` (no field) of a training frame."""
    if abs(float(frame[K.TOTAL_CHARGE][0])) > 0:
        return "charged"
    field = frame.get(K.FIELD)
    if field is not None and float(field.abs().sum()) > 0:
        return "in_field"
    return "neutral"


def train_arm(name: str, epochs: int | None):
    """Train (or resume) one arm; returns (trainer, float64 EMA model)."""
    cfg = load_config(ROOT / "examples" / ARMS[name])
    if epochs is not None:
        cfg["training"]["epochs"] = epochs
    trainer = Trainer(cfg)
    trainer.fit(resume=True)
    return trainer, trainer.eval_model("float64")


def by_kind(frames: list) -> dict:
    groups: dict = {"neutral": [], "charged": [], "in_field": []}
    for f in frames:
        groups[frame_kind(f)].append(f)
    return groups


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    models, tests = {}, None
    for name in ARMS:
        trainer, models[name] = train_arm(name, args.epochs)
        if name == "pqeq":  # same data and seed: both arms share this test split
            tests, epochs_trained = trainer.splits["test"], trainer.epoch
    groups = by_kind(tests)
    result = {"epochs": epochs_trained, "frames": {k: len(v) for k, v in groups.items()}}
    for name, model in models.items():
        tables, _ = evaluate(model, groups)
        result[name] = {
            kind: {
                "energy_mev_per_atom": t["energy_mev_per_atom"]["mae"],
                "forces_mev_per_A": t["forces_mev_per_A"]["mae"],
                "dipole_e_A": t["dipole_e_A"]["mae"],
                "skipped_frames": t["skipped_frames"],
            }
            for kind, t in tables.items()
        }
    TARGET.write_text(json.dumps(result, indent=1))
    print(format_ablation(result))
    return 0


def format_ablation(result: dict) -> str:
    lines = [
        f"{'kind':<10}{'frames':>7}  {'E MAE meV/atom':>22}  {'F MAE meV/Å':>20}  {'dipole e·Å':>18}",
        f"{'':<17}  {'PQEq':>10}{'none':>12}  {'PQEq':>9}{'none':>11}  {'PQEq':>8}{'none':>10}",
    ]
    for kind, n in result["frames"].items():
        a, b = result["pqeq"].get(kind), result["no_pqeq"].get(kind)
        if not a or not b:
            continue
        lines.append(
            f"{kind:<10}{n:>7}  {a['energy_mev_per_atom']:>10.1f}{b['energy_mev_per_atom']:>12.1f}"
            f"  {a['forces_mev_per_A']:>9.1f}{b['forces_mev_per_A']:>11.1f}"
            f"  {a['dipole_e_A']:>8.3f}{b['dipole_e_A']:>10.3f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
