"""How much of a model's error per kind would per-element χ offsets remove? (first-order estimate)

A shift δχ_Z of an element's electronegativity adds Σ_i δχ_{Z_i} q_i to the PQEq energy (to
first order in δχ; Hellmann–Feynman). This script fits δχ by ridge regression of the model's
energy errors on the per-element charge sums S_f(Z) = Σ_{i∈f, Z_i=Z} q_i over GFN2-xTB
training frames, and reports the per-kind energy MAE on the unseen test frames before and after
that correction. It measures whether per-head χ offsets are worth building, without training.

    python examples/charge_offset_diagnostic.py --model runs/charge_model/molecules/last.pt \\
        --mode molecules --train-frames 3000
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from openmm_polarml.data_io import collate
from openmm_polarml.data_io import keys as K
from openmm_polarml.model.serialization import load_model
from openmm_polarml.training.by_kind import frame_kind
from openmm_polarml.training.config import load_config
from openmm_polarml.training.data import frames_from_atoms, split_atoms_by_subset

ROOT = Path(__file__).resolve().parents[1]
FOUNDATION = ROOT / "openmm_polarml" / "models" / "foundation"
SUBSETS = ("xtb", "xtb_solvated", "xtb_contacts", "xtb_dimer_contacts")


def errors_and_charge_sums(model, atoms_list, mode: str):
    """Per frame: energy error (eV), atom count, kind and ``S [95]`` per-element charge sums (e)."""
    from openmm_polarml.pqeq import PQEqError

    errors, counts, kinds, sums = [], [], [], []
    for atoms in atoms_list:
        (frame,) = frames_from_atoms([atoms], fragments=mode)
        batch = collate([frame], torch.float64)
        try:
            out = model(batch, compute_forces=False)
        except PQEqError:  # e.g. atoms closer than 0.5 Å in a compressed diatomic: left out
            continue
        errors.append(float(out["energy"][0].detach()) - float(batch[K.ENERGY][0]))
        counts.append(len(atoms))
        kinds.append(frame_kind(atoms))
        s = np.zeros(95)
        np.add.at(s, atoms.numbers, out["charges"].detach().numpy())
        sums.append(s)
    return np.array(errors), np.array(counts), kinds, np.array(sums)


def per_kind_mae(errors, counts, kinds) -> dict:
    groups = defaultdict(list)
    for e, n, k in zip(errors, counts, kinds, strict=True):
        groups[k].append(abs(e) / n * 1e3)
    return {k: float(np.mean(v)) for k, v in sorted(groups.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(FOUNDATION / "model.pt"))
    parser.add_argument("--mode", default="none", choices=("none", "molecules"))
    parser.add_argument("--train-frames", type=int, default=3000)
    parser.add_argument("--ridge", type=float, default=1e-3, help="eV² per element")
    parser.add_argument("--out", default=None, help="JSON file for the result")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model, dtype="float64", head="gfn2")
    cfg = load_config(FOUNDATION / "config.yaml")
    rng = np.random.default_rng(0)
    train = [a for s in SUBSETS for a in split_atoms_by_subset(cfg, "train").get(s, [])]
    train = [train[i] for i in rng.permutation(len(train))[: args.train_frames]]
    test_groups = split_atoms_by_subset(cfg, "test")
    test = [a for s in SUBSETS for a in test_groups.get(s, [])]
    print(f"[diagnostic] {len(train)} training and {len(test)} test frames, mode {args.mode}")
    with torch.enable_grad():
        e_tr, _, _, s_tr = errors_and_charge_sums(model, train, args.mode)
        e_te, n_te, k_te, s_te = errors_and_charge_sums(model, test, args.mode)
    used = np.flatnonzero(np.abs(s_tr).sum(0) > 0)  # elements that carry charge
    a = s_tr[:, used]
    delta = np.linalg.solve(a.T @ a + args.ridge * np.eye(len(used)), a.T @ e_tr)  # [E] eV/e
    corrected = e_te - s_te[:, used] @ delta
    before, after = per_kind_mae(e_te, n_te, k_te), per_kind_mae(corrected, n_te, k_te)
    from ase.data import chemical_symbols

    result = {
        "model": str(args.model),
        "mode": args.mode,
        "delta_chi_eV": {chemical_symbols[z]: float(d) for z, d in zip(used, delta, strict=True)},
        "energy_mae_mev_per_atom": {k: [before[k], after[k]] for k in before},
    }
    print("| kind | before | after χ offsets |")
    for k, (b, c) in result["energy_mae_mev_per_atom"].items():
        print(f"| {k} | {b:.1f} | {c:.1f} |")
    print("δχ (eV):", {k: round(v, 2) for k, v in result["delta_chi_eV"].items()})
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
