"""Markdown tables of the model card, one function per section.

Each ``*_section`` turns one record of ``card.json`` (test-split metrics, probe curves,
stability runs, reference-method RDF peaks, lattice constants, the PQEq ablation) into a list of
Markdown lines; :func:`openmm_polarml.analysis.model_card.render` assembles them. Energies in eV
or meV/atom, forces in meV/Å, distances in Å, stresses in GPa, dipoles in e·Å, as each header
states.
"""

from __future__ import annotations

from ase.data import chemical_symbols

from openmm_polarml.analysis.probes import (
    FIRST_SHELL_EXPERIMENT_A,
    HH_CONTACT_REPORT_A,
    ION_WATER_MAE_WINDOW,
)

__all__ = [
    "SUBSETS",
    "STABILITY_TARGET_PS",
    "metrics_section",
    "element_section",
    "probe_section",
    "ion_water_section",
    "hh_contact_section",
    "ablation_section",
    "stability_section",
    "reference_rdf_section",
    "lattice_section",
]

#: test-split key of ``metrics.json`` -> row name in the card
SUBSETS = {
    "test_dft": "dft (real PBE)",
    "test_sevenn": "sevenn (SevenNet-0 teacher)",
    "test_xtb": "xtb (GFN2-xTB)",
    "test_xtb_in_field": "xtb frames in a field",
    "test_xtb_solvated": "xtb solvated peptide (active learning, GFN2-xTB)",
    "test_xtb_contacts": "xtb peptide-water contacts (active learning 2, GFN2-xTB)",
}


#: ps of NVT each stability system must survive (the issue's acceptance)
STABILITY_TARGET_PS = 20.0


def _fmt(value: float | None, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits; NaN or None (a run not started) as an en dash."""
    return "–" if value is None or value != value else f"{value:.{digits}g}"


def metrics_section(metrics: dict) -> list[str]:
    """Held-out errors per subset of ``metrics.json``: energy (meV/atom), forces (meV/Å),
    stress (GPa) and dipole (e·Å) MAE/RMSE."""
    lines = [
        "| subset | E MAE (meV/atom) | E RMSE | F MAE (meV/Å) | F RMSE | stress MAE (GPa) "
        "| dipole MAE (e·Å) | frames skipped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, name in SUBSETS.items():
        if key not in metrics:
            continue
        m = metrics[key]
        dip = m.get("dipole_e_A", {"mae": float("nan")})
        lines.append(
            f"| {name} | {_fmt(m['energy_mev_per_atom']['mae'])} "
            f"| {_fmt(m['energy_mev_per_atom']['rmse'])} | {_fmt(m['forces_mev_per_A']['mae'])} "
            f"| {_fmt(m['forces_mev_per_A']['rmse'])} | {_fmt(m['stress_gpa']['mae'])} "
            f"| {_fmt(dip['mae'])} | {m.get('skipped_frames', 0)} |"
        )
    return lines


def element_section(metrics: dict) -> list[str]:
    """Force MAE (meV/Å) per element (rows) and subset (columns)."""
    keys = [k for k in SUBSETS if k != "test_xtb_in_field" and k in metrics]
    zs = sorted({int(z) for k in keys for z in metrics[k]["per_element_forces_mev_per_A"]})
    lines = ["| element | " + " | ".join(SUBSETS[k] for k in keys) + " |"]
    lines.append("|---|" + "---:|" * len(keys))
    for z in zs:
        cells = []
        for k in keys:
            r = metrics[k]["per_element_forces_mev_per_A"].get(str(z))
            cells.append("" if r is None else f"{r['mae']:.0f} ({r['count']})")
        lines.append(f"| {chemical_symbols[z]} | " + " | ".join(cells) + " |")
    return lines


def probe_section(pairs: dict, clusters: dict) -> list[str]:
    """Ion-pair curves (eV, Å) and the charged-cluster interaction against the separation R
    (Å): GFN2-xTB, the model and the Coulomb energy of unit charges (eV)."""
    lines = [
        "| ion pair | points | curve MAE (eV; points < 5 eV above the minimum) | r_min GFN2 (Å) "
        "| r_min model (Å) |",
        "|---|---:|---:|---:|---:|",
    ]
    for pair, c in pairs.items():
        lines.append(
            f"| {pair} | {len(c['r_A'])} | {c['mae_eV']:.3f} ({c['mae_points']} points) "
            f"| {c['r_min_reference_A']:.1f} "
            f"| {c['r_min_model_A']:.1f} |"
        )
    lines += [
        "",
        "| R (Å) | GFN2-xTB (eV) | model (eV) | −k/R, ±1 e (eV) |",
        "|---:|---:|---:|---:|",
    ]
    for r, ref, pred, coul in zip(
        clusters["r_A"],
        clusters["reference_eV"],
        clusters["model_eV"],
        clusters["coulomb_unit_charges_eV"],
        strict=True,
    ):
        lines.append(f"| {r:.0f} | {ref:.3f} | {pred:.3f} | {coul:.3f} |")
    lines.append("")
    lines.append(
        f"Shape MAE (each curve relative to R = {clusters['r_A'][-1]:.0f} Å): "
        f"{clusters['shape_mae_eV']:.3f} eV. Effective charge of each cluster from the 1/R tail "
        f"(10–{clusters['r_A'][-1]:.0f} Å): GFN2-xTB {clusters['effective_charge_reference_e']:.2f} e, "
        f"model {clusters['effective_charge_model_e']:.2f} e."
    )
    return lines


def ion_water_section(curves: dict) -> list[str]:
    """Minimum and binding energy of each ion–water curve, GFN2-xTB vs the model under its own
    charge model (as trained) and with ion and water as separate fragments (as in MD)."""
    lines = [
        "| ion–water | points | r_min GFN2 (Å) | r_min model: as trained / fragments (Å) "
        "| E_bind GFN2 (eV) | E_bind model: as trained / fragments (eV) "
        f"| curve MAE: as trained / fragments (eV; points < {ION_WATER_MAE_WINDOW:g} eV above "
        "the minimum) | E_bind at r_max: GFN2 / as trained / fragments (eV) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    names = {"Na": "Na⁺–OH₂ (C2 axis)", "Cl": "Cl⁻···H–OH (linear)"}
    for ion, c in curves.items():
        lines.append(
            f"| {names.get(ion, ion)} | {len(c['r_A'])} | {c['r_min_reference_A']:.2f} "
            f"| {c['r_min_model_A']:.2f} / {c['r_min_model_fragments_A']:.2f} "
            f"| {c['binding_reference_eV']:.3f} "
            f"| {c['binding_model_eV']:.3f} / {c['binding_model_fragments_eV']:.3f} "
            f"| {c['mae_eV']:.3f} / {c['mae_fragments_eV']:.3f} ({c['mae_points']} points) "
            f"| {c['r_A'][-1]:.1f} Å: {c['reference_eV'][-1]:.3f} / {c['model_eV'][-1]:.3f} "
            f"/ {c['model_fragments_eV'][-1]:.3f} |"
        )
    lines += [
        "",
        "*As trained*: the model's own charge model (`model.config['fragments']`, the one its "
        "training frames were solved with and the default of `PolarMLPotential.createSystem` and "
        "the ASE calculators); *fragments*: the ion and the water each holding its own charge, "
        "as `fragments='molecules'` gives in MD. Under one total-charge constraint (`none`, the "
        "stage-5 model) PQEq moves charge between the ion and a distant water, so that curve "
        "does not reach zero at long range; under `molecules` (the shipped model) the two "
        "columns are the same function.",
    ]
    exp = FIRST_SHELL_EXPERIMENT_A
    lines += [
        "",
        "One rigid water (O–H 0.9572 Å, H–O–H 104.52°) and one ion; E_bind = E(pair) − E(ion) − "
        "E(water), at the minimum of the parabola through the lowest grid point and its "
        "neighbours. For comparison, the first-shell ion–O distances in water are "
        f"Na–O {exp['Na']:.2f} Å and Cl–O {exp['Cl']:.2f} Å (X-ray/neutron diffraction; Ohtaki "
        "& Radnai, Chem. Rev. 93, 1157 (1993)). A gas-phase ion–monomer minimum is shorter than "
        "the first-shell peak of the liquid (one water instead of a full, mutually repelling "
        "shell), so the meaningful comparison for the model is against GFN2-xTB, its `gfn2` "
        "head's reference. In condensed phase the gas-phase minimum is not the first-shell "
        "peak: GFN2-xTB's own droplet MD (stability section) puts Na⁺'s first shell much "
        "further out than this minimum.",
    ]
    return lines


def hh_contact_section(curves: dict) -> list[str]:
    """Short-range H···H repulsion, GFN2-xTB vs the model, at the :data:`HH_CONTACT_REPORT_A`
    distances."""
    head = " | ".join(f"{x:g} Å: GFN2 / model (eV)" for x in HH_CONTACT_REPORT_A)
    lines = [f"| molecule + water | {head} | curve MAE (eV) |", "|---|" + "---:|" * 4]
    for name, c in curves.items():
        cells = " | ".join(
            f"{c[f'at_{x:g}_reference_eV']:+.2f} / {c[f'at_{x:g}_model_eV']:+.2f}"
            for x in HH_CONTACT_REPORT_A
        )
        lines.append(f"| {name} | {cells} | {c['mae_eV']:.3f} |")
    lines += [
        "",
        "A rigid water with one H on the axis of a methyl C–H bond (collinear C–H···H–O), "
        "E(pair) − E(molecule) − E(water), the molecule and the water each neutral (as in MD). "
        "Neither molecule is among the pairs of the `xtb_dimer_contacts` training subset. The "
        "packed clusters of the `xtb` subset never put hydrogens of two molecules closer than "
        "1.5 Å; the stage-3 and stage-4 models had no repulsion below that (ethane: GFN2 +0.86 "
        "eV at 1.0 Å, stage 4 −0.13 eV) and bound waters to methyl hydrogens of solvated "
        "alanine dipeptide at H···H 0.9–1.1 Å in MD; stage 5 added the contact subsets.",
    ]
    return lines


def ablation_section(ablation: dict) -> list[str]:
    """Test errors of the two ablation arms (``examples/ablation_pqeq.py``) by frame kind."""
    lines = [
        f"Same network, GFN2-xTB data and schedule ({ablation['epochs']} epochs from scratch, "
        "`examples/ablation_pqeq.yaml` / `ablation_no_pqeq.yaml`), scored on the same test split.",
        "",
        "| frames | count | E MAE with PQEq (meV/atom) | without | F MAE with PQEq (meV/Å) "
        "| without | dipole MAE with PQEq (e·Å) | without |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, n in ablation["frames"].items():
        a, b = ablation["pqeq"].get(kind), ablation["no_pqeq"].get(kind)
        if a and b:
            lines.append(
                f"| {kind} | {n} | {a['energy_mev_per_atom']:.1f} | {b['energy_mev_per_atom']:.1f} "
                f"| {a['forces_mev_per_A']:.1f} | {b['forces_mev_per_A']:.1f} "
                f"| {_fmt(a['dipole_e_A'])} | {_fmt(b['dipole_e_A'])} |"
            )
    return lines


def stability_section(stability) -> list[str]:
    """Rows of ``examples/stability_runs.py``'s summary (per system), against the 20 ps target."""
    if not stability:
        return ["Not run yet for this model (`examples/stability_runs.py`)."]
    lines = [
        "| system | atoms | head | settings | ps done (of 20) | status | min distance (Å) "
        "| min H···H (Å) | ms/step (1 thread) | RDF first peaks model / experiment (Å) |",
        "|---|---:|---|---|---:|---|---:|---:|---:|---|",
    ]
    for name, s in stability.items():
        peaks = "; ".join(
            f"{pair} {p['model_A']:.2f} / {p['reference_A']:.2f}"
            for pair, p in (s.get("rdf_first_peaks") or {}).items()
        )
        if s.get("failure"):
            status = f"failed ({s['failure']})"
        elif s["ps_done"] >= STABILITY_TARGET_PS:
            status = "passed"
        elif not s.get("ps_done"):
            status = "not started"
        else:
            status = "intact so far (short run)"
        mass = s.get("hydrogen_mass_amu")
        settings = f"{s['dt_fs']:g} fs, {s.get('dtype', 'float64')} network" + (
            f", H {mass:g} amu" if mass else ""
        )
        settings += f", PQEq {s.get('pqeq_method', 'ewald')}"
        lines.append(
            f"| {name} | {s['atoms']} | {s['head']} | {settings} | {s['ps_done']:.2f} "
            f"| {status} | {_fmt(s['min_distance_A'])} "
            f"| {_fmt(s['min_hh_A'] if s.get('min_hh_A') is not None else float('nan'))} "
            f"| {_fmt(s['ms_per_step'] or float('nan'))} "
            f"| {peaks} |"
        )
    lines += [
        "",
        "Intact means no bond longer than 1.3x its initial length, no two non-bonded atoms "
        "closer than 0.6x their covalent-radius sum and no two non-bonded hydrogens closer "
        "than 1.3 Å (`openmm_polarml/analysis/integrity.py`; the stage-4 model failed the last "
        "in solvated alanine dipeptide at 4.2 ps, waters bound to methyl H at 0.9–1.1 Å). "
        "A system passes once it has run 20 ps intact; re-running "
        "`python examples/stability_runs.py --ps 20` continues every system from its checkpoint. "
        "RDF peaks of runs much shorter than the target are noise, not a structural result. "
        "The runs solve the model's own charge model (the default of `createSystem`, recorded in "
        "the model). The minimisation before each run falls back to step-limited FIRE where "
        "OpenMM's L-BFGS trial step lands atoms on each other (`openmm_polarml.openmm.minimize`). "
        "PQEq "
        "`ewald` (explicit k-vectors) and `pme` are the same lattice sum to the error tolerance "
        "1e-6; PME is the faster default since the liquid electrolyte runs. The "
        "experimental peaks are the liquid's; the table below compares the model with its "
        "reference method run the same way.",
    ]
    return lines


def reference_rdf_section(reference) -> list[str]:
    """First peaks of ``examples/reference_rdf.py``: model vs GFN2-xTB, same droplet MD."""
    lines = [
        "| droplet | pair | GFN2-xTB (Å) | model (Å) | model − GFN2 (Å) | ps per engine |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for system, r in reference["results"].items():
        for pair, g in r["gfn2"].items():
            if isinstance(g, dict) and "peak_A" in g and pair in r["model"]:
                m = r["model"][pair]
                lines.append(
                    f"| {system} | {pair} | {g['peak_A']:.2f} ± {g['halves_spread_A']:.2f} "
                    f"| {m['peak_A']:.2f} ± {m['halves_spread_A']:.2f} "
                    f"| {m['peak_A'] - g['peak_A']:+.2f} | {min(r['gfn2']['ps'], r['model']['ps']):.1f} |"
                )
    placement = [
        f"{system}: nearest O {r[e]['ion']['nearest_O_A']:.2f} Å, "
        f"{r[e]['ion']['from_centre_A']:.1f} Å from the droplet's centre ({name})"
        for system, r in reference["results"].items()
        for e, name in (("gfn2", "GFN2-xTB"), ("model", "model"))
        if "ion" in r[e]
    ]
    lines += ["", "Where the ion sits (means over the production frames):", ""]
    lines += [f"- {p}" for p in placement]
    return lines + [
        "",
        "Same protocol for both engines (`examples/reference_rdf.py`): " + reference["protocol"],
        "± is half the difference between the peaks of the two halves of the production run. "
        "For scale, the liquids' experimental first peaks are O–O 2.80, "
        f"Na–O {FIRST_SHELL_EXPERIMENT_A['Na']:.2f} and Cl–O {FIRST_SHELL_EXPERIMENT_A['Cl']:.2f} Å "
        "(bulk, not droplets).",
    ]


def lattice_section(lattice) -> list[str]:
    """Rows of ``examples/lattice_constants.py``: relaxed cubic lattice constants."""
    lines = [
        "| crystal | SevenNet-0 (Å) | model `pbe` (Å) | model − SevenNet-0 | experiment (Å) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in lattice["crystals"].items():
        rel = 100.0 * (row["model_A"] / row["teacher_A"] - 1.0)
        lines.append(
            f"| {name} | {row['teacher_A']:.3f} | {row['model_A']:.3f} | {rel:+.1f} % "
            f"| {row['experiment_A']:.3f} |"
        )
    return lines + ["", f"Method (`examples/lattice_constants.py`): {lattice['method']}."]
