"""Per-kind error table of a model on the GFN2-xTB test split, under one or more charge models.

    python examples/charge_model_table.py                       # the shipped model, both modes
    python examples/charge_model_table.py --model runs/x/best.pt --label x --modes molecules

Frames: the test split of the shipped model's training configuration (the GFN2-xTB subsets,
``--subsets``), grouped by kind (:func:`openmm_polarml.training.by_kind.frame_kind`). Results
are merged into ``--out`` (JSON, one entry per ``label/mode``) and the Markdown table of every
entry recorded there is printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from openmm_polarml.model.serialization import load_model
from openmm_polarml.training.by_kind import errors_by_kind, format_kind_table, format_probe_table
from openmm_polarml.training.config import load_config
from openmm_polarml.training.data import test_atoms_by_subset

ROOT = Path(__file__).resolve().parents[1]
FOUNDATION = ROOT / "openmm_polarml" / "models" / "foundation"


def probe_summary(model, mode: str) -> dict:
    """The card's probes against GFN2-xTB under charge model ``mode``: ion-pair curve MAE (eV),
    Na⁺/Cl⁻–water binding (eV) and the effective charge of the charged clusters (e)."""
    from openmm_polarml.analysis.probes import (
        charged_cluster_curve,
        ion_pair_curves,
        ion_water_curves,
    )
    from openmm_polarml.data import read_frames

    references = read_frames(FOUNDATION / "probe_references.extxyz.gz")
    saved = model.config.get("fragments", "none")
    model.config["fragments"] = mode  # the probes solve the model's charge model
    try:
        pairs = ion_pair_curves(model, references)
        water = ion_water_curves(model, references)
        cluster = charged_cluster_curve(model, references)
    finally:
        model.config["fragments"] = saved
    out = {f"ion_pair_mae_eV/{k}": v["mae_eV"] for k, v in pairs.items()}
    for ion, curve in water.items():
        out[f"binding_eV/{ion}"] = curve["binding_model_eV"]
        out[f"binding_reference_eV/{ion}"] = curve["binding_reference_eV"]
    out["effective_charge_e"] = cluster["effective_charge_model_e"]
    out["effective_charge_reference_e"] = cluster["effective_charge_reference_e"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(FOUNDATION / "model.pt"))
    parser.add_argument("--label", default="foundation")
    parser.add_argument("--head", default="gfn2")
    parser.add_argument("--modes", default="none,molecules", help="charge models, comma-separated")
    parser.add_argument("--config", default=str(FOUNDATION / "config.yaml"), help="gives the split")
    parser.add_argument("--subsets", default="xtb,xtb_solvated,xtb_contacts,xtb_dimer_contacts")
    parser.add_argument("--max-per-subset", type=int, default=None, help="first N test frames")
    parser.add_argument("--out", default=str(FOUNDATION / "charge_model_table.json"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--probes", action="store_true", help="also the card's GFN2-xTB probes")
    parser.add_argument(
        "--card",
        action="store_true",
        help="list this label's columns among those the model card shows (card_columns)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = load_model(args.model, dtype="float64", head=args.head)
    groups = test_atoms_by_subset(load_config(args.config))
    wanted = args.subsets.split(",")
    atoms = {k: v[: args.max_per_subset] for k, v in groups.items() if k in wanted}
    print(f"[charge-model] {sum(map(len, atoms.values()))} test frames: "
          + ", ".join(f"{k} {len(v)}" for k, v in atoms.items()), flush=True)  # fmt: skip
    out = Path(args.out)
    record = json.loads(out.read_text()) if out.exists() else {}
    for mode in args.modes.split(","):
        print(f"[charge-model] {args.label}: evaluating under fragments={mode!r}", flush=True)
        record[f"{args.label}/{mode}"] = errors_by_kind(model, atoms, mode)
        if args.card and f"{args.label}/{mode}" not in record.setdefault("card_columns", []):
            record["card_columns"].append(f"{args.label}/{mode}")
        if args.probes:
            record.setdefault("probes", {})[f"{args.label}/{mode}"] = probe_summary(model, mode)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(out)
    print(
        format_kind_table({k: v for k, v in record.items() if k not in ("probes", "card_columns")})
    )
    if record.get("probes"):
        print(format_probe_table(record["probes"]))


if __name__ == "__main__":
    main()
