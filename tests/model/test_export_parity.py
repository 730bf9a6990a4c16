"""The export's parity check: fixed tolerance, float32 calibration against float64, rejection."""

import pytest

from openmm_polarml.export import export_model
from openmm_polarml.export.parity import check_parity, eager_reference
from tests.model.helpers import crystal, tiny_model


def test_float32_beyond_the_fixed_tolerance_is_judged_against_float64(tmp_path):
    model = tiny_model("float32")
    atoms = crystal(11)
    # 1e-12 is far below float32 rounding: only the float64-calibrated criterion can accept it
    meta = export_model(model, atoms, tmp_path / "m.pt", outputs_forces=True, tolerance=1e-12)
    parity = meta["parity"]
    assert parity["eager_float32_forces_error"] > 0.0  # the float64 comparison was made
    # independent of the criterion: the accepted artifact is float32-accurate against float64
    e64, f64 = eager_reference(tiny_model("float64"), atoms, include_d3=False)
    assert parity["forces_vs_float64"] < 1e-4 * max(1.0, float(f64.abs().max()))
    assert parity["energy_vs_float64"] < 1e-5 * max(1.0, abs(e64))


def test_a_wrong_artifact_is_rejected_in_float32_and_float64():
    atoms = crystal(11)
    for dtype in ("float32", "float64"):
        model = tiny_model(dtype)
        energy, forces = eager_reference(model, atoms, include_d3=False)
        check_parity(model, atoms, energy, forces, include_d3=False)  # the eager values pass
        wrong = forces.clone()
        wrong[0, 0] += 1e-2 * max(1.0, float(forces.abs().max()))
        with pytest.raises(RuntimeError, match="disagrees with the eager model"):
            check_parity(model, atoms, energy, wrong, include_d3=False)
        with pytest.raises(RuntimeError, match="disagrees with the eager model"):
            check_parity(model, atoms, energy + 1e-2 * max(1.0, abs(energy)), forces, False)
