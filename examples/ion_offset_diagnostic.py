"""Signed energy error per ion: does a model's error on charged GFN2-xTB frames follow the ion?

    python examples/ion_offset_diagnostic.py --model campaigns/foundation_v3/run/best.pt \\
        --label v3 --out campaigns/foundation_v4/ion_offsets.json

Frames: the test split (``--part``) of the shipped model's configuration, GFN2-xTB subsets, kinds
``ion_cluster``, ``ion_pair`` and ``electrolyte`` (with and without field), grouped by their
charged molecules under the ``molecules`` charge model (:func:`~openmm_polarml.training.by_kind.
ion_label`). A mean signed error per frame of eVs with a small spread is an energy offset per ion.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from openmm_polarml.model.serialization import load_model
from openmm_polarml.training.by_kind import errors_by_ion, frame_kind
from openmm_polarml.training.config import load_config
from openmm_polarml.training.data import split_atoms_by_subset, test_atoms_by_subset

ROOT = Path(__file__).resolve().parents[1]
FOUNDATION = ROOT / "openmm_polarml" / "models" / "foundation"
SUBSETS = ("xtb", "xtb_solvated", "xtb_contacts", "xtb_dimer_contacts", "xtb_ion_water")
KINDS = ("ion_cluster", "ion_pair", "electrolyte", "ion_water_curve", "ion_two_waters", "bare_ion")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(FOUNDATION / "model.pt"))
    parser.add_argument("--label", default="foundation")
    parser.add_argument("--fragments", default=None, help="charge model (default: the model's)")
    parser.add_argument("--part", default="test", choices=("train", "validation", "test"))
    parser.add_argument("--out", default=str(ROOT / "runs" / "ion_offsets.json"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--config",
        default=str(FOUNDATION / "config.yaml"),
        help="training config whose split is used",
    )
    parser.add_argument(
        "--by-kind",
        action="store_true",
        help="group by ion and kind of frame (bare ion, cluster, ...)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model, dtype="float64", head="gfn2")
    cfg = load_config(args.config)
    groups = (
        test_atoms_by_subset(cfg) if args.part == "test" else split_atoms_by_subset(cfg, args.part)
    )
    atoms = [a for s in SUBSETS for a in groups.get(s, []) if frame_kind(a).startswith(KINDS)]
    print(f"[ion-offsets] {len(atoms)} charged-kind {args.part} frames", flush=True)
    table = errors_by_ion(model, atoms, args.fragments, by_kind=args.by_kind)
    out = Path(args.out)
    record = json.loads(out.read_text()) if out.exists() else {}
    record[args.label] = table
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(out)
    print("| ions | frames | mean signed error (eV/frame) | spread (eV) | MAE (meV/atom) |")
    print("|---|---:|---:|---:|---:|")
    for ion, row in sorted(table.items(), key=lambda kv: -kv[1]["frames"]):
        print(f"| {ion} | {row['frames']} | {row['energy_mean_signed_ev_per_frame']:+.2f} | "
              f"{row['energy_std_signed_ev_per_frame']:.2f} | {row['energy_mae_mev_per_atom']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
