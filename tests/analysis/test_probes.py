"""Ion–water probe of the model card: geometry of the structures, the binding-curve analysis on
analytic Morse curves, the card's incremental labelling and the committed GFN2-xTB labels."""

import numpy as np
import pytest
from ase import Atoms

from openmm_polarml.analysis import card_sections, model_card
from openmm_polarml.analysis import probes as analysis
from openmm_polarml.data import probes, read_frames
from openmm_polarml.model.serialization import pretrained_path

REFERENCES = pretrained_path("foundation").parent / "probe_references.extxyz.gz"
#: e, charge of each ion
CHARGES = {"Na": 1, "Cl": -1}


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    """Degrees between two vectors."""
    return float(np.degrees(np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b))))


def _antiparallel(a: np.ndarray, b: np.ndarray) -> bool:
    """True when a and b point in opposite directions along one line (float64 precision)."""
    sine = np.linalg.norm(np.cross(a, b)) / (np.linalg.norm(a) * np.linalg.norm(b))
    return bool(sine < 1e-14 and a @ b < 0)


@pytest.mark.parametrize("ion", ["Na", "Cl"])
def test_ion_water_structures_have_the_stated_geometry_and_charges(ion):
    alone, water, *pairs = probes.ion_water_curve(ion)
    assert alone.get_chemical_symbols() == [ion] and alone.info["charge"] == CHARGES[ion]
    assert water.get_chemical_formula() == "H2O" and water.info["charge"] == 0
    assert (alone.info["part"], water.info["part"]) == ("ion", "water")
    assert [a.info["r"] for a in pairs] == list(probes.ION_WATER_DISTANCES[ion])
    for a in pairs:
        assert a.get_chemical_symbols() == ["O", "H", "H", ion]
        assert a.info["charge"] == CHARGES[ion] and a.info["part"] == "pair"
        assert a.info["probe"] == "ion_water" and a.info["ion"] == ion
        np.testing.assert_allclose(a.positions[:3], water.positions, atol=0, rtol=0)  # rigid
        o, h1, h2, x = a.positions
        assert np.linalg.norm(x - o) == pytest.approx(a.info["r"], abs=1e-12)
        assert np.linalg.norm(h1 - o) == pytest.approx(0.9572, abs=1e-12)
        assert np.linalg.norm(h2 - o) == pytest.approx(0.9572, abs=1e-12)
        assert _angle(h1 - o, h2 - o) == pytest.approx(104.52, abs=1e-10)
        if ion == "Na":  # on the C2 axis, on the O side: opposite the H bisector
            assert _antiparallel(x - o, (h1 + h2) / 2 - o)
        else:  # Cl···H–O collinear, beyond the H
            assert _antiparallel(o - h1, x - h1)
            assert np.linalg.norm(x - h1) == pytest.approx(a.info["r"] - 0.9572, abs=1e-12)


def test_ion_water_rejects_an_unknown_ion():
    with pytest.raises(ValueError, match="K"):
        probes.ion_water_curve("K")


def test_probe_structures_append_the_ion_water_curves_after_the_old_probes():
    frames = probes.probe_structures()
    n_old = len(probes.ION_PAIRS) * len(probes.ION_PAIR_DISTANCES)
    n_old += 2 + len(probes.CLUSTER_SEPARATIONS)
    assert [a.info["probe"] for a in frames[:n_old]] == ["ion_pair"] * (n_old - 11) + [
        "charged_clusters"
    ] * 11
    n_ion_water = sum(len(d) + 2 for d in probes.ION_WATER_DISTANCES.values())
    new, newest = frames[n_old : n_old + n_ion_water], frames[n_old + n_ion_water :]
    assert {a.info["probe"] for a in new} == {"ion_water"}
    assert [a.info["probe"] for a in newest] == ["hh_contact"] * (
        len(probes.HH_CONTACT_MOLECULES) * (len(probes.HH_CONTACT_DISTANCES) + 2)
    )
    keys = [probes.probe_key(a) for a in frames]
    assert len(set(keys)) == len(keys)  # every structure has its own name


def test_curve_minimum_is_the_vertex_of_the_parabola_and_falls_back_at_the_ends():
    r = np.array([1.0, 1.3, 1.5, 1.6, 2.0])
    m = analysis.curve_minimum(r, 0.7 * (r - 1.42) ** 2 - 0.9)
    assert (m["r_grid_A"], m["e_grid_eV"]) == (1.5, pytest.approx(0.7 * 0.08**2 - 0.9, abs=1e-15))
    assert m["r_A"] == pytest.approx(1.42, abs=1e-12)
    assert m["e_eV"] == pytest.approx(-0.9, abs=1e-12)
    edge = analysis.curve_minimum(r, -r)  # minimum at the last point: no parabola
    assert (edge["r_A"], edge["e_eV"]) == (2.0, -2.0) == (edge["r_grid_A"], edge["e_grid_eV"])


def _morse(r, depth: float, width: float, r_e: float) -> np.ndarray:
    """Morse binding curve (eV) with minimum −depth at r_e (Å); width in 1/Å."""
    return depth * ((1.0 - np.exp(-width * (np.asarray(r) - r_e))) ** 2 - 1.0)


def _vertex(x: np.ndarray, y: np.ndarray) -> float:
    """Abscissa of the parabola's vertex through three points (Lagrange form)."""
    (x0, x1, x2), (y0, y1, y2) = x, y
    num = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
    return x1 - 0.5 * num / ((x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0))


#: (depth eV, width 1/Å, r_e Å) of the reference and of the fake model, per ion
#: (depth eV, a 1/Å, r_e Å) of the reference, the fake model (one constraint), the fake model
#: with ion and water as fragments
MORSE = {
    "Na": ((1.33, 1.6, 2.06), (0.9, 1.4, 2.17), (0.6, 1.5, 2.25)),
    "Cl": ((0.49, 1.3, 3.04), (0.62, 1.5, 2.93), (0.7, 1.4, 2.98)),
}
#: eV, separated-limit energies of ion and water (reference, fake model): any offsets
LIMITS = {"Na": ((5.3, -137.9), (1.8, -137.2)), "Cl": ((-130.2, -137.9), (-126.5, -137.2))}


def _synthetic_references(ion: str, r: np.ndarray) -> list:
    """Ion-water frames whose reference energy is a Morse curve over the separated limits."""
    (e_ion, e_water), morse = LIMITS[ion][0], MORSE[ion][0]
    frames = probes.ion_water_curve(ion, distances=r[::-1])  # unsorted on purpose
    for a in frames:
        a.info["energy"] = {"ion": e_ion, "water": e_water}.get(a.info["part"])
        if a.info["part"] == "pair":
            a.info["energy"] = e_ion + e_water + float(_morse(a.info["r"], *morse))
    return frames


def _fake_model_energies(model, frames, fragments=None):
    out = []
    for a in frames:
        e_ion, e_water = LIMITS[a.info["ion"]][1]
        morse = MORSE[a.info["ion"]][1 if fragments is None else 2]
        if fragments is not None and a.info["part"] == "pair":
            groups, charges = fragments(a)
            assert [a.get_chemical_symbols()[g[0]] for g in groups] == ["O", a.info["ion"]]
            assert charges == [0.0, a.info["charge"]]
        pair = e_ion + e_water + float(_morse(a.info.get("r", 0.0), *morse))
        out.append({"ion": e_ion, "water": e_water, "pair": pair}[a.info["part"]])
    return np.array(out)


def test_ion_water_curves_recover_analytic_morse_minima_and_mae(monkeypatch):
    monkeypatch.setattr(analysis, "model_energies", _fake_model_energies)
    grids = {"Na": np.linspace(1.4, 5.0, 37), "Cl": np.linspace(2.3, 6.0, 38)}
    references = [a for ion, r in grids.items() for a in _synthetic_references(ion, r)]
    references.append(Atoms("H"))  # frames of other probes are ignored
    references[-1].info = {"probe": "ion_pair", "energy": 0.0}
    curves = analysis.ion_water_curves(None, references)
    assert list(curves) == ["Na", "Cl"]
    for ion, r in grids.items():
        c, (ref_morse, model_morse, held_morse) = curves[ion], MORSE[ion]
        ref, pred, held = _morse(r, *ref_morse), _morse(r, *model_morse), _morse(r, *held_morse)
        np.testing.assert_allclose(c["r_A"], r, rtol=0, atol=1e-12)
        np.testing.assert_allclose(c["reference_eV"], ref, rtol=0, atol=1e-10)
        np.testing.assert_allclose(c["model_eV"], pred, rtol=0, atol=1e-10)
        np.testing.assert_allclose(c["model_fragments_eV"], held, rtol=0, atol=1e-10)
        window = ref - ref.min() < analysis.ION_WATER_MAE_WINDOW
        assert 0 < window.sum() < len(r)  # the repulsive wall is left out
        assert c["mae_points"] == window.sum()
        assert c["mae_eV"] == pytest.approx(np.abs(pred - ref)[window].mean(), abs=1e-10)
        assert c["mae_fragments_eV"] == pytest.approx(np.abs(held - ref)[window].mean(), abs=1e-10)
        for name, energy, (depth, _, r_e) in (
            ("reference", ref, ref_morse),
            ("model", pred, model_morse),
            ("model_fragments", held, held_morse),
        ):
            k = int(np.argmin(energy))
            assert c[f"r_min_grid_{name}_A"] == r[k]
            x = _vertex(r[k - 1 : k + 2], energy[k - 1 : k + 2])
            assert c[f"r_min_{name}_A"] == pytest.approx(x, abs=1e-9)
            assert c[f"r_min_{name}_A"] == pytest.approx(r_e, abs=1e-2)  # a tenth of the grid step
            assert c[f"binding_{name}_eV"] == pytest.approx(-depth, abs=2e-3)


def test_an_ion_without_its_separated_limit_is_left_out(monkeypatch):
    monkeypatch.setattr(analysis, "model_energies", _fake_model_energies)
    references = _synthetic_references("Na", np.linspace(1.8, 3.0, 7))
    without_water = [a for a in references if a.info["part"] != "water"]
    assert analysis.ion_water_curves(None, without_water) == {}


def _label_stub(calls: list):
    def label(teacher, candidates):
        calls.append((teacher, [probes.probe_key(a) for a in candidates]))
        frames = []
        for a in candidates[1:]:  # the first one "does not converge"
            b = a.copy()
            b.info["energy"] = -1.0 - len(b)
            frames.append(b)
        return frames, {"frames": len(frames), "dropped": 1}

    return label


def test_card_labels_only_the_missing_probe_structures(tmp_path, monkeypatch):
    from openmm_polarml.data import teachers, write_frames

    everything = probes.probe_structures()
    stored = everything[:5]
    for k, a in enumerate(stored):
        a.info["energy"] = float(k)
    write_frames(tmp_path / "probe_references.extxyz.gz", stored)
    before = (tmp_path / "probe_references.extxyz.gz").read_bytes()
    calls = []
    monkeypatch.setattr(teachers, "label", _label_stub(calls))
    frames = model_card.probe_references(tmp_path)
    keys = [probes.probe_key(a) for a in everything]
    assert calls == [("gfn2", keys[5:])]  # only the missing ones, in probe order
    assert [probes.probe_key(a) for a in frames] == keys[:5] + keys[6:]
    assert [a.info["energy"] for a in frames[:5]] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert not list(tmp_path.glob("*.tmp"))  # written through a temporary file, then replaced
    after = (tmp_path / "probe_references.extxyz.gz").read_bytes()
    assert after != before
    model_card.probe_references(tmp_path)  # the unconverged one is retried, nothing else
    assert calls[-1] == ("gfn2", [keys[5]])


def test_card_keeps_the_stored_labels_without_the_label_environment(tmp_path, monkeypatch):
    from openmm_polarml.data import teachers, write_frames

    def unavailable(teacher, candidates):
        raise teachers.TeacherUnavailableError("no label environment")

    stored = probes.probe_structures()[:3]
    for a in stored:
        a.info["energy"] = -2.0
    write_frames(tmp_path / "probe_references.extxyz.gz", stored)
    monkeypatch.setattr(teachers, "label", unavailable)
    assert len(model_card.probe_references(tmp_path)) == 3
    with pytest.raises(teachers.TeacherUnavailableError):
        model_card.probe_references(tmp_path / "empty")


def test_card_renders_the_ion_water_table():
    curve = {
        "r_A": [2.0, 2.1, 5.0],
        "reference_eV": [-1.2, -1.3, -0.4],
        "model_eV": [-0.7, -0.72, -0.1],
        "mae_eV": 0.5,
        "mae_points": 3,
        "r_min_reference_A": 2.054,
        "r_min_model_A": 1.995,
        "binding_reference_eV": -1.3335,
        "binding_model_eV": -0.7294,
        "model_fragments_eV": [-0.5, -0.52, -0.06],
        "mae_fragments_eV": 0.6,
        "r_min_model_fragments_A": 2.046,
        "binding_model_fragments_eV": -0.5281,
    }
    text = "\n".join(card_sections.ion_water_section({"Na": curve}))
    row = (
        "| Na⁺–OH₂ (C2 axis) | 3 | 2.05 | 2.00 / 2.05 | -1.333 | -0.729 / -0.528 "
        "| 0.500 / 0.600 (3 points) | 5.0 Å: -0.400 / -0.100 / -0.060 |"
    )
    assert row in text
    assert "Na–O 2.41 Å and Cl–O 3.18 Å" in text and "Chem. Rev. 93, 1157 (1993)" in text


def _stored():
    return {probes.probe_key(a): a for a in read_frames(REFERENCES)}


def test_committed_references_hold_every_probe_structure_with_gfn2_labels():
    """Every structure except the long-distance ion pairs whose GFN2-xTB SCF never converges."""
    stored = _stored()
    missing = [a for a in probes.probe_structures() if probes.probe_key(a) not in stored]
    assert all(a.info["probe"] == "ion_pair" and a.info["r"] >= 3.7 for a in missing)
    assert len(missing) == 13  # NaCl ≥ 6 Å, LiF ≥ 3.7 Å, KCl ≥ 5 Å (see the card's point counts)
    for a in probes.probe_structures():
        b = stored.get(probes.probe_key(a))
        if b is None:
            continue
        assert np.isfinite(b.info["energy"]) and b.info["charge"] == a.info["charge"]
        assert b.info["level"] == "gfn2" and b.info["label_method"] == "GFN2-xTB (tblite)"
        assert "tblite=0.8.0" in b.info["label_code"]
        assert b.get_chemical_symbols() == a.get_chemical_symbols()
        np.testing.assert_allclose(b.positions, a.positions, rtol=0, atol=1e-8)


def test_committed_gfn2_minima_of_the_ion_water_curves():
    """GFN2-xTB's own gas-phase minima: Na–O ≈ 2.05 Å, Cl–O ≈ 3.03 Å, both shorter than the
    first-shell distances in water."""
    frames = list(_stored().values())
    for ion, (low, high) in {"Na": (2.0, 2.1), "Cl": (2.95, 3.1)}.items():
        mine = [a for a in frames if a.info["probe"] == "ion_water" and a.info["ion"] == ion]
        r, binding = analysis._binding(mine, np.array([a.info["energy"] for a in mine]))
        m = analysis.curve_minimum(r, binding)
        assert low < m["r_A"] < high < analysis.FIRST_SHELL_EXPERIMENT_A[ion]
        assert m["e_eV"] < 0 and np.all(np.isfinite(binding))


def test_card_renders_stability_rows_with_their_settings():
    entry = {
        "atoms": 192, "head": "gfn2", "dt_fs": 1.0, "dtype": "float32", "hydrogen_mass_amu": 2.0,
        "ps_done": 7.5, "failure": None, "min_distance_A": 1.371, "ms_per_step": 201.4,
        "pqeq_method": "pme",
        "rdf_first_peaks": {"O-O": {"model_A": 2.781, "reference_A": 2.8}},
    }  # fmt: skip
    text = "\n".join(card_sections.stability_section({"water64": entry}))
    row = (
        "| water64 | 192 | gfn2 | 1 fs, float32 network, H 2 amu, PQEq pme | 7.50 "
        "| intact so far (short run) "
        "| 1.37 | – | 201 | O-O 2.78 / 2.80 |"
    )
    assert row in text  # a run recorded before the H...H criterion has no minimum
    entry["min_hh_A"] = 1.562
    text = "\n".join(card_sections.stability_section({"water64": entry}))
    assert "| intact so far (short run) | 1.37 | 1.56 | 201 |" in text
    failed = {**entry, "failure": "bond broken", "hydrogen_mass_amu": None, "dtype": "float64"}
    del failed["pqeq_method"]  # recorded before the setting existed: explicit-k Ewald
    text = "\n".join(card_sections.stability_section({"water64": failed}))
    assert "| 1 fs, float64 network, PQEq ewald | 7.50 | failed (bond broken) |" in text


def test_card_renders_the_reference_method_peaks():
    peak = lambda r, spread: {"peak_A": r, "halves_spread_A": spread}  # noqa: E731
    reference = {
        "protocol": "same droplets, same Langevin MD.",
        "results": {
            "na_water24": {
                "gfn2": {"ps": 5.0, "Na-O": peak(3.21, 0.03), "ion": {"nearest_O_A": 2.94,
                         "from_centre_A": 0.71}},
                "model": {"ps": 4.0, "Na-O": peak(2.15, 0.04), "ion": {"nearest_O_A": 2.08,
                          "from_centre_A": 3.9}},
            }
        },
    }  # fmt: skip
    text = "\n".join(card_sections.reference_rdf_section(reference))
    assert "| na_water24 | Na-O | 3.21 ± 0.03 | 2.15 ± 0.04 | -1.06 | 4.0 |" in text
    assert "na_water24: nearest O 2.94 Å, 0.7 Å from the droplet's centre (GFN2-xTB)" in text
    assert "| ion |" not in text  # the placement record is not a pair row
    assert "same droplets, same Langevin MD." in text


def test_card_renders_the_lattice_constants():
    lattice = {
        "method": "isotropic relaxation",
        "crystals": {"KCl": {"teacher_A": 6.40, "model_A": 6.464, "experiment_A": 6.293}},
    }
    text = "\n".join(card_sections.lattice_section(lattice))
    assert "| KCl | 6.400 | 6.464 | +1.0 % | 6.293 |" in text
    assert "isotropic relaxation" in text


def test_card_shows_only_stability_runs_of_its_own_model_file():
    from openmm_polarml.model.serialization import load_model
    from openmm_polarml.openmm.artifacts import model_fingerprint

    folder = pretrained_path("foundation").parent
    mine = model_fingerprint(load_model(folder / "model.pt", dtype="float32", head="gfn2"))
    runs = {
        "water64": {"head": "gfn2", "dtype": "float32", "model_sha256": mine},
        "older": {"head": "gfn2", "dtype": "float32", "model_sha256": "0" * 64},
        "other_head": {"head": "pbe", "dtype": "float32", "model_sha256": mine},
    }
    assert list(model_card.runs_of_this_model(runs, folder)) == ["water64"]


@pytest.mark.parametrize("name", probes.HH_CONTACT_MOLECULES)
def test_hh_contact_structures_put_a_water_h_on_the_methyl_ch_axis(name):
    from openmm_polarml.data.contacts import MOLECULES

    assert name not in MOLECULES  # a probe, not a training pair
    frames = probes.hh_contact_curve(name)
    molecule, water = frames[0], frames[1]
    assert [a.info["part"] for a in frames] == ["molecule", "water"] + ["pair"] * (len(frames) - 2)
    carbon, hydrogen = probes._methyl_hydrogen(molecule)
    n = len(molecule)
    for pair in frames[2:]:
        assert pair.info["charge"] == 0 and pair.info["molecule_atoms"] == n
        np.testing.assert_allclose(pair.positions[:n], molecule.positions, atol=1e-12)
        near = n + 1  # the water's first H
        assert pair.get_distance(hydrogen, near) == pytest.approx(pair.info["r"], abs=1e-9)
        ch = pair.positions[hydrogen] - pair.positions[carbon]
        assert _antiparallel(ch, pair.positions[near] - pair.positions[n])  # C–H···H–O straight
        np.testing.assert_allclose(
            pair[n:].get_all_distances(), water.get_all_distances(), atol=1e-12
        )  # rigid water
        between = pair.get_all_distances()[:n, n:]
        assert between.min() == pytest.approx(pair.info["r"], abs=1e-9)  # the closest pair


def test_hh_contact_curves_subtract_the_separated_parts(monkeypatch):
    frames = probes.hh_contact_curve("C3H8", distances=(1.5, 1.0, 1.25, 3.0))
    limits = {"molecule": (-300.0, -301.0), "water": (-137.0, -138.0)}  # (reference, model) eV

    def repulsion(r, scale):
        return scale * np.exp(-3.0 * (r - 1.0))

    for a in frames:
        ref_limit = limits.get(a.info["part"], (limits["molecule"][0] + limits["water"][0],))[0]
        a.info["energy"] = ref_limit + (repulsion(a.info["r"], 0.9) if "r" in a.info else 0.0)

    def fake(model, atoms_list, fragments=None):
        out = []
        for a in atoms_list:
            groups, charges = fragments(a)
            n = a.info["molecule_atoms"]
            expected = (
                [list(range(n)), list(range(n, len(a)))]
                if a.info["part"] == "pair"
                else [list(range(len(a)))]
            )
            assert groups == expected and charges == [0.0] * len(groups)
            if a.info["part"] == "pair":
                out.append(
                    limits["molecule"][1] + limits["water"][1] + repulsion(a.info["r"], -0.2)
                )
            else:
                out.append(limits[a.info["part"]][1])
        return np.array(out)

    monkeypatch.setattr(analysis, "model_energies", fake)
    curve = analysis.hh_contact_curves(None, frames)["C3H8"]
    r = np.array([1.0, 1.25, 1.5, 3.0])
    np.testing.assert_allclose(curve["r_A"], r, atol=0)
    np.testing.assert_allclose(curve["reference_eV"], repulsion(r, 0.9), atol=1e-9)
    np.testing.assert_allclose(curve["model_eV"], repulsion(r, -0.2), atol=1e-9)
    assert curve["at_1_reference_eV"] == pytest.approx(0.9) and curve[
        "at_1_model_eV"
    ] == pytest.approx(-0.2)
    assert curve["mae_eV"] == pytest.approx(np.mean(1.1 * repulsion(r, 1.0)))
    assert analysis.hh_contact_curves(None, frames[1:]) == {}  # no molecule alone: left out


def test_committed_gfn2_hh_contact_curves_are_repulsive():
    """GFN2-xTB: a water H 1.0 Å from a methyl H costs well over 0.5 eV, rising monotonically."""
    frames = list(_stored().values())
    for name in probes.HH_CONTACT_MOLECULES:
        mine = [a for a in frames if a.info["probe"] == "hh_contact" and a.info["pair"] == name]
        r, binding = analysis._binding(mine, np.array([a.info["energy"] for a in mine]), "molecule")
        assert len(r) == len(probes.HH_CONTACT_DISTANCES)
        assert binding[r == 1.0][0] > 0.5 and np.all(np.diff(binding[r <= 2.0]) < 0)
        assert abs(binding[-1]) < 0.05  # 4 Å: separated


def test_card_shows_the_listed_per_kind_columns_in_order():
    row = {"energy_mae_mev_per_atom": 1.0, "forces_mae_mev_per_A": 2.0, "frames": 3}
    by_kind = {
        "a/none": {"water": row},
        "b/molecules": {"water": row},
        "c/molecules": {"water": row},
        "probes": {"a/none": {"x": 1.0}, "c/molecules": {"x": 2.0}},
    }
    tables, probe_rows = model_card.card_columns(by_kind)
    assert list(tables) == ["a/none", "b/molecules", "c/molecules"]  # no list: every result
    by_kind["card_columns"] = ["c/molecules", "a/none"]
    tables, probe_rows = model_card.card_columns(by_kind)
    assert list(tables) == ["c/molecules", "a/none"] and list(probe_rows) == list(tables)
    by_kind["card_columns"] = ["d/molecules"]
    with pytest.raises(KeyError, match="d/molecules"):
        model_card.card_columns(by_kind)
