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

The demo itself: :mod:`openmm_polarml.training.finetune_demo`; the table and plot:
:mod:`openmm_polarml.training.finetune_report`.

Run: ``python examples/finetune_demo.py [--out runs/finetune_demo] [--epochs 30] [--threads 1]
[--max-frames 500]`` (about 4 minutes on one CPU core; the PySCF part alone, ``--demos pyscf``,
well under a minute).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from openmm_polarml.training.finetune_demo import (
    DEMO_TRAJ,
    cluster_kind,
    finetune_demo,
    load_demo_traj,
    load_pyscf_set,
)
from openmm_polarml.training.finetune_report import bar_plot, format_table


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
