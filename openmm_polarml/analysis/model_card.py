"""The model card of a shipped model: collect what the studies measured, render Markdown.

:func:`build_card` gathers the card's record (``card.json``): reference-data counts, the
training commands, held-out metrics (``metrics.json``), the probes against GFN2-xTB
(:mod:`openmm_polarml.analysis.probes`; labels in ``probe_references.extxyz.gz``, missing ones
labelled on demand), and the optional records of the stability runs, reference-method RDFs,
lattice constants, the PQEq ablation and the per-kind error tables — each kept only when it was
made with this model file. :func:`render` writes ``MODEL_CARD.md`` from it with the tables of
:mod:`openmm_polarml.analysis.card_sections`.
"""

from __future__ import annotations

import json
from pathlib import Path

from openmm_polarml.analysis.card_sections import (
    ablation_section,
    element_section,
    hh_contact_section,
    ion_water_section,
    lattice_section,
    metrics_section,
    probe_section,
    reference_rdf_section,
    stability_section,
)
from openmm_polarml.analysis.probes import (
    charged_cluster_curve,
    hh_contact_curves,
    ion_pair_curves,
    ion_water_curves,
    probe_plot,
)
from openmm_polarml.data import probes, read_frames, write_frames
from openmm_polarml.model.serialization import load_model
from openmm_polarml.training.by_kind import KIND_TABLE_NOTE, format_kind_table, format_probe_table

__all__ = [
    "STAGES",
    "probe_references",
    "data_rows",
    "optional_json",
    "runs_of_this_model",
    "build_card",
    "render",
]

#: the exact commands that trained the shipped ``foundation`` model, from the repository root
STAGES = [
    "git show 051f93e:openmm_polarml/models/foundation/model.pt > runs/foundation_stage1.pt"
    "   # stage 1: `polarml --threads 2 train examples/train_foundation.yaml` on data revision 1",
    "python examples/train_foundation.py --config examples/train_foundation_stage2.yaml"
    "   # stage 2: trains (resumable), evaluates the test split, installs model + metrics",
    "cp openmm_polarml/models/foundation/model.pt runs/foundation_stage2.pt"
    "   # the stage-2 model (commit bd80cc7)",
    "python examples/train_foundation.py --config examples/train_foundation_stage3.yaml"
    "   # stage 3: PQEq parameters fitted jointly with the network (energies, forces, stress,"
    " dipoles); installs",
    "polarml data build --out data/reference --subsets xtb_solvated --shards 4"
    "   # active-learning clusters (committed; rebuilds the same bytes)",
    "cp openmm_polarml/models/foundation/model.pt runs/foundation_stage3.pt"
    "   # the stage-3 model (commit 6f9c20f)",
    "python examples/train_foundation.py --config examples/train_foundation_stage4.yaml"
    "   # stage 4: one more joint epoch with the solvated-peptide clusters; installs",
    "polarml data build --out data/reference --subsets xtb_contacts,xtb_dimer_contacts --shards 4"
    "   # second active-learning round: H...H, C-H...O and small-molecule contacts (committed)",
    "cp openmm_polarml/models/foundation/model.pt runs/foundation_stage4.pt"
    "   # the stage-4 model (commit c04f5e6)",
    "python examples/train_foundation.py --config examples/train_foundation_stage5.yaml"
    "   # stage 5: one more joint epoch with both active-learning subsets; installs",
    "python examples/train_foundation.py --config examples/train_foundation_v2.yaml"
    "   # campaign v2 from stage 5 (resumable runs; 8 epochs, one total-charge constraint)",
    "python examples/train_foundation.py --config examples/train_foundation_v3.yaml"
    "   # campaign v3 from v2's best: split charges, `molecules` reference charges (6 epochs)",
    "polarml data build --out data/reference --subsets xtb_ion_water --shards 4"
    "   # ion-water dissociation curves and bare ions (committed)",
    "python examples/train_foundation.py --config examples/train_foundation_v4.yaml"
    "   # campaign v4 from v3's best: the charge-state input (resumable runs of 45 minutes)",
    "python examples/train_foundation.py --config examples/train_foundation_v4.yaml"
    " --install-from campaigns/foundation_v4/run/best.pt"
    "   # installs v4's best weights so far (epoch 7) with the test-split metrics",
    "python examples/charge_model_table.py --label v4_epoch7 --modes molecules --probes --card",
    "python examples/lattice_constants.py --out runs/lattice"
    " --summary-to openmm_polarml/models/foundation/lattice_constants.json",
    "python examples/stability_runs.py --out runs/stability_v4"
    " --summary-to openmm_polarml/models/foundation/stability.json",
    "python examples/foundation_card.py",
]


def probe_references(model_dir: Path) -> list:
    """GFN2-xTB labels of the probe structures; missing ones are labelled and appended.

    Structures are matched by :func:`openmm_polarml.data.probes.probe_key`; only those absent
    from ``probe_references.extxyz.gz`` go to the label environment, and the file is rewritten
    atomically (a temporary file in the same folder, then ``os.replace``) with the stored frames
    unchanged, in their order, followed by the new ones. Some long-distance ion-pair frames never
    converge in GFN2-xTB and stay missing; they are retried (seconds) when the label
    environment exists and skipped without it."""
    from openmm_polarml.data import teachers

    path = model_dir / "probe_references.extxyz.gz"
    stored = read_frames(path) if path.exists() else []
    have = {probes.probe_key(a) for a in stored}
    missing = [a for a in probes.probe_structures() if probes.probe_key(a) not in have]
    if not missing:
        return stored
    try:
        frames, record = teachers.label("gfn2", missing)
    except teachers.TeacherUnavailableError as err:
        if not stored:
            raise
        print(f"{len(missing)} probe structures unlabelled, card uses the stored ones ({err})")
        return stored
    print(f"labelled probes: {record['frames']} frames, {record['dropped']} unconverged")
    if frames:
        write_frames(path, stored + frames)  # <path>.tmp, fsync, os.replace
        stored = read_frames(path)
    return stored


def data_rows(data_dir: str | Path) -> list[dict]:
    """Frames/atoms/elements per subset of the reference data in ``data_dir``
    (``data/reference`` of the repository, written by ``polarml data build``)."""
    from openmm_polarml.data.build import summarize

    return summarize(Path(data_dir))


def optional_json(path: Path):
    """The JSON record at ``path``, or None when the file does not exist."""
    return json.loads(path.read_text()) if path.exists() else None


def runs_of_this_model(stability: dict | None, model_dir: Path) -> dict | None:
    """The stability runs made with ``model_dir/model.pt`` (same SHA-256 of weights, head and
    network dtype as the run recorded); runs of earlier model files are left out."""
    from openmm_polarml.openmm.artifacts import model_fingerprint

    if not stability:
        return stability
    prints: dict = {}
    kept = {}
    for name, run in stability.items():
        key = (run.get("head"), run.get("dtype", "float64"))
        if key not in prints:
            model = load_model(model_dir / "model.pt", dtype=key[1], head=key[0])
            prints[key] = model_fingerprint(model)
        if run.get("model_sha256") == prints[key]:
            kept[name] = run
    return kept


def build_card(model_dir: str | Path, data_dir: str | Path) -> dict:
    """The card's record (``card.json``) of the model in ``model_dir``.

    Parameters
    ----------
    model_dir : str or Path
        Folder of the model: ``model.pt``, ``metrics.json`` and, when they exist, the studies'
        records (``stability.json``, ``ablation.json``, ``reference_rdf.json``,
        ``lattice_constants.json``, ``charge_model_table.json``). Writes ``probes.png`` there
        and may append newly labelled probes to ``probe_references.extxyz.gz``.
    data_dir : str or Path
        The reference data (``data/reference``) whose subsets the card counts.

    Returns
    -------
    dict
        ``data``, ``commands``, ``metrics``, the probe curves (``ion_pairs``,
        ``charged_clusters``, ``ion_water``, ``hh_contact``; energies in eV, distances in Å)
        and the optional records (None when absent or made with another model file).
    """
    model_dir = Path(model_dir)
    metrics = json.loads((model_dir / "metrics.json").read_text())
    references = probe_references(model_dir)
    model = load_model(model_dir / "model.pt", dtype="float64", head="gfn2")
    pairs = ion_pair_curves(model, references)
    clusters = charged_cluster_curve(model, references)
    ion_water = ion_water_curves(model, references)
    hh_contact = hh_contact_curves(model, references)
    probe_plot(pairs, clusters, model_dir / "probes.png", ion_water, hh_contact)
    stability = runs_of_this_model(optional_json(model_dir / "stability.json"), model_dir)
    ablation = optional_json(model_dir / "ablation.json")
    reference = optional_json(model_dir / "reference_rdf.json")
    if reference and not runs_of_this_model({"droplets": reference}, model_dir):
        reference = None  # made with another model file
    lattice = optional_json(model_dir / "lattice_constants.json")
    if lattice and not runs_of_this_model({"lattice": lattice}, model_dir):
        lattice = None  # made with another model file
    by_kind = optional_json(model_dir / "charge_model_table.json")
    card = {
        "data": data_rows(data_dir),
        "commands": STAGES,
        "metrics": metrics,
        "ion_pairs": pairs,
        "charged_clusters": clusters,
        "ion_water": ion_water,
        "hh_contact": hh_contact,
        "stability": stability,
        "reference_rdf": reference,
        "lattice": lattice,
        "ablation": ablation,
        "by_kind": by_kind,
    }
    return card


def card_columns(by_kind: dict) -> tuple[dict, dict]:
    """The per-kind tables and probe rows of ``charge_model_table.json`` that the card shows:
    the labels listed under its ``"card_columns"`` key, in that order (every label when the key
    is absent; the other labels stay in the file as the record of the ablations)."""
    results = {k: v for k, v in by_kind.items() if k not in ("probes", "card_columns")}
    probes_ = by_kind.get("probes", {})
    wanted = by_kind.get("card_columns") or list(results)
    missing = [k for k in wanted if k not in results]
    if missing:
        raise KeyError(f"charge_model_table.json lists card columns without results: {missing}")
    return {k: results[k] for k in wanted}, {k: probes_[k] for k in wanted if k in probes_}


def render(card: dict, model_dir: str | Path) -> str:
    """``MODEL_CARD.md`` of ``card`` (see :func:`build_card`); ``model_dir`` holds
    ``CARD_INTRO.md`` and ``config.yaml``."""
    model_dir = Path(model_dir)
    meta_path = model_dir / "config.yaml"
    lines = ["# Model card: `foundation` (the shipped default model)", ""]
    lines += (model_dir / "CARD_INTRO.md").read_text().splitlines() + [""]
    lines += [
        "## Data",
        "",
        "| subset | shards | frames | atoms | elements |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['subset']} | {r['shards_done']} | {r['frames']:,} | {r['atoms']:,} | {r['elements']} |"
        for r in card["data"]
    ]
    lines += ["", "Sources, licences and generation: `openmm_polarml/data/DATA_CARD.md`.", ""]
    lines += ["## Training (exact commands, from the repository root)", "", "```"]
    lines += card["commands"] + ["```", "", f"Configuration as trained: `{meta_path.name}`.", ""]
    lines += ["## Held-out test split (5 % of every subset, never trained on)", ""]
    lines += metrics_section(card["metrics"])
    lines += [
        "",
        "Field response: the row *xtb frames in a field* holds the GFN2-xTB frames in a homogeneous "
        "field of up to 0.5 V/Å; the dipole column compares the PQEq dipole with GFN2-xTB's on "
        "neutral finite frames (dipole = −∂E/∂field, so it is the linear field response).",
        "",
        "### Force MAE per element (meV/Å; test atoms in brackets)",
        "",
    ]
    lines += element_section(card["metrics"])
    if card.get("by_kind"):
        lines += ["", "### Error per kind of system, GFN2-xTB test frames (head `gfn2`)", ""]
        tables, probe_rows = card_columns(card["by_kind"])
        lines += [KIND_TABLE_NOTE, "", format_kind_table(tables)]
        if probe_rows:
            lines += ["", "Probes under each charge model (eV; effective charge e):", ""]
            lines += [format_probe_table(probe_rows)]
    lines += ["", "## Probes against GFN2-xTB (head `gfn2`)", "", "![probes](probes.png)", ""]
    lines += probe_section(card["ion_pairs"], card["charged_clusters"])
    if card.get("ion_water"):
        lines += ["", "### Ion–water binding curves", ""] + ion_water_section(card["ion_water"])
    if card.get("hh_contact"):
        lines += ["", "### Methyl H···water H contact", ""] + hh_contact_section(card["hh_contact"])
    lines += ["", "## Stability (NVT, 300 K)", ""] + stability_section(card["stability"])
    if card.get("reference_rdf"):
        lines += ["", "### RDF first peaks against the reference method (GFN2-xTB droplet MD)", ""]
        lines += reference_rdf_section(card["reference_rdf"])
    if card.get("lattice"):
        lines += ["", "### Lattice constants against the PBE teacher", ""]
        lines += lattice_section(card["lattice"])
    lines += ["", "## Ablation without PQEq", ""]
    if card["ablation"]:
        lines += ablation_section(card["ablation"])
    else:
        lines += ["Not run yet: needs a second training run of the same recipe with `pqeq: null`."]
    return "\n".join(lines)
