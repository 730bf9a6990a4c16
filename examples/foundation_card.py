"""Write the model card of the shipped foundation model (``openmm_polarml/models/foundation``).

Collects what the other scripts measured and adds the probes computed here:

- data: frames, atoms and elements per subset of ``data/reference`` (``polarml data build``);
- training: the exact commands (stages 1–3) and the epochs trained;
- held-out errors per subset and per element (``metrics.json``, written by
  ``examples/train_foundation.py`` from the test split), with the field response: energy and force
  errors of GFN2-xTB frames in a homogeneous field and dipole errors (e·Å) of neutral frames;
- probes against GFN2-xTB (:mod:`openmm_polarml.data.probes`): gas-phase ion-pair curves, two
  oppositely charged water clusters 6–30 Å apart and the Na⁺–OH₂ / Cl⁻···H–OH binding curves
  (labels in ``probe_references.extxyz.gz``; structures missing there are labelled in the label
  environment and appended, ``bash tools/label_env.sh``);
- stability runs (``stability.json`` from ``examples/stability_runs.py``) and the ablation without
  PQEq (``ablation.json``) when they exist.

The logic lives in :mod:`openmm_polarml.analysis.model_card` (collection, rendering) and
:mod:`openmm_polarml.analysis.card_sections` (the tables).

Writes ``MODEL_CARD.md``, ``card.json`` and ``probes.png`` next to the model.

    python examples/foundation_card.py [--model-dir openmm_polarml/models/foundation]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from openmm_polarml.analysis.model_card import build_card, render

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "openmm_polarml" / "models" / "foundation"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=str(MODEL_DIR))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model_dir = Path(args.model_dir)
    card = build_card(model_dir, ROOT / "data" / "reference")
    (model_dir / "card.json").write_text(json.dumps(card, indent=1))
    (model_dir / "MODEL_CARD.md").write_text(render(card, model_dir) + "\n")
    print((model_dir / "MODEL_CARD.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
