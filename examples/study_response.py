"""Study 0: is the polarisation of periodic solids physical? Born charges, ε∞, polarisability.

Uses the shipped model's PQEq element parameters with global charge equilibration and with split
charges (bond hardness ``--bond-hardness`` eV/e² per element, or the model's own table when it was
trained with split charges), and measures (``openmm_polarml.analysis.response_study``): the Born
charges of rocksalt NaCl in 1×1×1 and 2×2×2 cells and after re-wrapping an atom (spread, acoustic
sum rule), the Born charges of cubic BaTiO₃ beside DFPT, ε∞ of NaCl and BaTiO₃, and the
polarisability of a water molecule beside experiment. All derivatives are exact (implicit
differentiation through the solve), float64.

Run: ``python examples/study_response.py [--model PATH] [--publish docs/studies]`` (about a
minute on one core). Writes ``response.json`` and ``response_born.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

from openmm_polarml.analysis.response_study import plot_born_charges, run_response_study
from openmm_polarml.model.serialization import load_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "openmm_polarml/models/foundation/model.pt"))
    parser.add_argument("--bond-hardness", type=float, default=None, help="eV/e² per element")
    parser.add_argument("--out", default=str(ROOT / "runs" / "studies" / "response"))
    parser.add_argument("--publish", default=None, help="copy JSON + plot into this folder")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    engine = load_model(args.model).pqeq
    hardness = args.bond_hardness
    if hardness is None and getattr(engine, "charge_transfer", "global") == "split":
        hardness = engine.bond_hardness  # the model's trained table
    results = run_response_study(engine.element_parameters, bond_hardness=hardness)
    results["model"] = str(Path(args.model).resolve().relative_to(ROOT))
    results["bond_hardness_eV_per_e2"] = hardness if isinstance(hardness, float) else "model"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "response.json").write_text(json.dumps(results, indent=1))
    plot_born_charges(results, out / "response_born.png")
    for name, res in results["models"].items():
        b, n = res["batio3"], res["nacl"]
        print(
            f"{name:7s} NaCl Z*(Na) {n['Na']['born_charge_e']:.3f} spread "
            f"{n['Na']['max_deviation_from_isotropic_mean_e']:.1e} ASR "
            f"{n['acoustic_sum_rule_max_e']:.1e} 1x1x1-2x2x2 {n['supercell_max_difference_e']:.1e}"
            f" | BaTiO3 Ba {b['Ba']:.2f} Ti {b['Ti']:.2f} O∥ {b['O_parallel']:.2f} O⊥ "
            f"{b['O_perpendicular']:.2f} | eps_inf NaCl {res['nacl_eps_inf']:.2f} BaTiO3 "
            f"{res['batio3_eps_inf']:.2f} | alpha(H2O) {res['water_alpha_A3']:.2f} A^3"
        )
    if args.publish:
        for name in ("response.json", "response_born.png"):
            shutil.copy(out / name, Path(args.publish) / name)


if __name__ == "__main__":
    main()
