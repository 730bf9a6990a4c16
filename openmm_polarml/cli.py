"""Command line: ``polarml train CONFIG.yaml``, ``polarml evaluate MODEL DATA``, ``polarml export``,
``polarml md STRUCTURE`` (NVT/NPT/NVE with the full model: DCD, charges, final PDB).

Reference data: ``polarml data build --out data/reference --subsets dft,sevenn,xtb --shards N --resume``.

Data-parallel training: ``torchrun --nproc_per_node 2 -m openmm_polarml.cli train CONFIG.yaml``
(DistributedDataParallel; gloo on CPU, NCCL with ``training.device: cuda``; the process group is
initialised when ``WORLD_SIZE`` > 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _threads(n: int | None) -> None:
    import torch

    if n:
        torch.set_num_threads(int(n))


def cmd_train(args) -> int:

    from openmm_polarml.model.serialization import save_model
    from openmm_polarml.training import Trainer, load_config
    from openmm_polarml.training.evaluate import evaluate, format_tables
    from openmm_polarml.training.plots import learning_curves, parity_plot

    cfg = load_config(args.config)
    if args.epochs is not None:
        cfg["training"]["epochs"] = args.epochs
    if args.output_dir:
        cfg["training"]["output_dir"] = args.output_dir
    from openmm_polarml.training.distributed import init_from_environment, resolve_device

    init_from_environment(resolve_device(cfg["training"]["device"]))  # torchrun: gloo / NCCL
    trainer = Trainer(cfg)
    history = trainer.fit(resume=not args.restart)
    if trainer.rank != 0:
        return 0
    out = trainer.out
    model = trainer.eval_model()
    save_model(model, out / "model.pt", {"history": history})
    subsets = {
        "train": trainer.splits["train"],
        "validation": trainer.splits["validation"],
        "test": trainer.splits.get("test", []),
    }
    tables, preds = evaluate(model, subsets, cfg["training"]["batch_size"])
    (out / "metrics.json").write_text(json.dumps(tables, indent=1))
    print(format_tables(tables))
    if cfg["training"]["plots"]:
        learning_curves(history, out / "learning_curves.png")
        parity_plot(preds, out / "parity.png")
    print(f"model written to {out / 'model.pt'}")
    return 0


def cmd_evaluate(args) -> int:
    from openmm_polarml.model.serialization import load_model
    from openmm_polarml.training.data import load_frames
    from openmm_polarml.training.evaluate import evaluate, format_tables
    from openmm_polarml.training.plots import parity_plot

    model = load_model(args.model, dtype=args.dtype, head=args.head)
    mode = model.config.get("fragments", "none")
    subsets = {Path(p).stem: load_frames(p, fragments=mode) for p in args.data}
    tables, preds = evaluate(model, subsets, args.batch_size)
    print(format_tables(tables))
    if args.json:
        Path(args.json).write_text(json.dumps(tables, indent=1))
    if args.plot:
        parity_plot(preds, args.plot)
    return 0


def cmd_export(args) -> int:
    import ase.io

    from openmm_polarml.export import export_model
    from openmm_polarml.model.serialization import load_model

    model = load_model(args.model, dtype=args.dtype, head=args.head)
    atoms = ase.io.read(args.structure)
    meta = export_model(model, atoms, args.output, outputs_forces=args.forces)
    print(
        f"wrote {args.output}: {len(meta['numbers'])} atoms, elements {meta['elements']}, "
        f"cutoff {meta['cutoff_angstrom']} Å, dtype {meta['dtype']}; parity check: "
        f"|dE| = {meta['parity']['energy_kj_per_mol']:.2e} kJ/mol, "
        f"max |dF| = {meta['parity']['forces_kj_per_mol_nm']:.2e} kJ/mol/nm"
    )
    return 0


def cmd_md(args) -> int:
    from openmm_polarml.openmm.md_runner import MDSettings, run_md

    settings = MDSettings(
        steps=args.steps,
        timestep_fs=args.timestep,
        temperature_k=args.temperature,
        ensemble=args.ensemble,
        pressure_bar=args.pressure,
        friction_per_ps=args.friction,
        field_v_per_nm=tuple(args.field),
        report_interval=args.report,
        hydrogen_mass=None if args.hydrogen_mass <= 0 else args.hydrogen_mass,
        model=args.model,
        head=args.head,
        platform=args.platform,
        minimize_steps=args.minimize_steps,
    )
    result = run_md(args.structure, args.out, settings)
    print(
        f"{result['steps']} steps done; final potential energy "
        f"{result['final_potential_kj_per_mol']:.3f} kJ/mol; trajectory.dcd, charges.nc and "
        f"final.pdb in {result['out_dir']}"
    )
    return 0


def cmd_data(args) -> int:
    from openmm_polarml.data.build import build

    subsets = [s.strip() for s in args.subsets.split(",") if s.strip()]
    return build(args.out, subsets, args.shards, args.resume, args.sdists, not args.no_progress)


def cmd_compare_teacher(args) -> int:
    from openmm_polarml.data.compare import compare_teacher

    for teacher in args.teacher:
        print(f"[polarml] {teacher} against the real DFT labels")
        compare_teacher(args.out, args.n, args.seed, teacher)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from openmm_polarml.data.label_worker import SEVENN_CHECKPOINTS  # numpy only

    parser = argparse.ArgumentParser(prog="polarml", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train or fine-tune from a YAML configuration")
    p.add_argument("config")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--output-dir", default=None)
    p.add_argument("--restart", action="store_true", help="ignore an existing last.pt")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("evaluate", help="MAE/RMSE tables per data file and per element")
    p.add_argument("model")
    p.add_argument("data", nargs="+")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--json", default=None)
    p.add_argument("--plot", default=None, help="parity plot PNG")
    p.add_argument("--head", default=None, help="readout head (default: the model's)")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("export", help="TorchScript artifact for openmm-torch's TorchForce")
    p.add_argument("model")
    p.add_argument("structure", help="any file ase reads; fixes atom order and elements")
    p.add_argument("output")
    p.add_argument("--forces", action="store_true", help="artifact returns forces too")
    p.add_argument("--dtype", default=None, choices=["float32", "float64"])
    p.add_argument("--head", default=None, help="readout head (default: the model's)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("md", help="MD of a structure file (PDB, PDBx, anything ase reads)")
    p.add_argument("structure")
    p.add_argument("--out", default="runs/md", help="folder for trajectory, charges, final.pdb")
    p.add_argument("--model", default="foundation", help="shipped model name or model file")
    p.add_argument("--head", default=None, help="gfn2 (molecules, liquids) or pbe (crystals)")
    p.add_argument("--ensemble", default="nvt", choices=["nvt", "npt", "nve"])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--timestep", type=float, default=1.0, help="fs")
    p.add_argument("--temperature", type=float, default=300.0, help="K")
    p.add_argument("--pressure", type=float, default=1.0, help="bar (NPT)")
    p.add_argument("--friction", type=float, default=1.0, help="1/ps (Langevin)")
    p.add_argument("--field", type=float, nargs=3, default=(0.0, 0.0, 0.0), help="V/nm")
    p.add_argument("--report", type=int, default=100, help="steps between frames/progress")
    p.add_argument("--hydrogen-mass", type=float, default=2.0, help="amu; 0 keeps 1.008")
    p.add_argument("--platform", default="CPU")
    p.add_argument(
        "--minimize-steps",
        type=int,
        default=0,
        help="energy minimisation iterations before MD (0: none); a structure made for another "
        "force field heats the first steps without it",
    )
    p.set_defaults(func=cmd_md)
    p = sub.add_parser("data", help="reference data sets")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser("build", help="build subsets in resumable seeded shards")
    p.add_argument("--out", default="data/reference")
    p.add_argument("--subsets", default="dft,sevenn,xtb", help="comma-separated")
    p.add_argument("--shards", type=int, default=8, help="shards per subset")
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--sdists", default="runs/sdists", help="where the source sdists are kept")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_data)
    p = data_sub.add_parser("compare-teacher", help="SevenNet checkpoints against real DFT labels")
    p.add_argument("--out", default="data/reference")
    p.add_argument(
        "--teacher", nargs="+", default=["sevenn"],
        choices=list(SEVENN_CHECKPOINTS),
        help="SevenNet checkpoints to compare (sevenn = SevenNet-0)",
    )  # fmt: skip
    p.add_argument("--n", type=int, default=300, help="dft frames sampled")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_compare_teacher)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _threads(args.threads)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
