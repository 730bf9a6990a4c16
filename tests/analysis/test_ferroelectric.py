"""Study 2's analysis on synthetic states whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from openmm_polarml import units
from openmm_polarml.analysis.ferroelectric import (
    BATIO3_BORN_DFPT,
    classify_phase,
    displacement_polarization,
    loop_metrics,
    perovskite_born_tensors,
    transition_temperatures,
)

A = 4.0  # Å


def cubic_batio3(repeat: int = 2) -> Atoms:
    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return Atoms("BaTiO3", scaled_positions=frac, cell=[A] * 3, pbc=True).repeat(repeat)


def test_oxygen_tensors_follow_their_ti_o_chain():
    atoms = cubic_batio3(1)
    z = perovskite_born_tensors(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array)
    assert np.allclose(z[2], np.diag([-2.11, -2.11, -5.69]))  # O at (½, ½, 0): Ti along z
    assert np.allclose(z[3], np.diag([-2.11, -5.69, -2.11]))
    assert np.allclose(z.sum(0), 0.0, atol=1e-12)  # the DFPT values obey the sum rule


def test_ti_shift_gives_its_polarisation_whatever_the_image_and_strain():
    ref = cubic_batio3(2)
    born = perovskite_born_tensors(ref.get_chemical_symbols(), ref.positions, ref.cell.array)
    shift = 0.1  # Å, every Ti along z
    moved = ref.positions.copy()
    ti = np.array(ref.get_chemical_symbols()) == "Ti"
    moved[ti, 2] += shift
    wrapped = moved.copy()
    wrapped[0] += ref.cell.array[0]  # another image of one Ba
    strain = np.diag([1.01, 1.0, 0.99])
    cells = np.stack([ref.cell.array, ref.cell.array, ref.cell.array @ strain])
    frames = np.stack([moved, wrapped, moved @ strain])
    p = displacement_polarization(frames, cells, ref.positions, ref.cell.array, born)
    n_ti, volume = int(ti.sum()), abs(np.linalg.det(ref.cell.array))
    expected = BATIO3_BORN_DFPT["Ti"] * shift * n_ti / volume * units.E_PER_ANGSTROM2_TO_C_PER_M2
    assert p[0] == pytest.approx([0.0, 0.0, expected], abs=1e-12)
    assert p[1] == pytest.approx(p[0], abs=1e-12)
    assert p[2][2] == pytest.approx(expected * 0.99 / np.linalg.det(strain), rel=1e-9)


@pytest.mark.parametrize(
    "vector, phase",
    [
        ([0.0, 0.01, -0.02], "C"),
        ([0.0, 0.0, 0.26], "T"),
        ([0.2, -0.2, 0.01], "O"),
        ([0.15, 0.16, -0.15], "R"),
        ([0.3, 0.1, 0.0], "O?"),
    ],
)
def test_phase_from_polarisation(vector, phase):
    assert classify_phase(vector) == phase


def test_transitions_of_a_heating_run():
    temps = [50, 100, 150, 200, 250, 300, 350, 400]
    phases = ["R", "R", "O", "O", "T", "T?", "C", "C"]
    assert transition_temperatures(temps, phases) == {"R-O": 125.0, "O-T": 225.0, "T-C": 325.0}


def test_loop_metrics_of_a_model_hysteresis():
    """P = Ps tanh((E ∓ Ec)/w) on the rising/falling branch of a sinusoidal field."""
    t = np.linspace(0.0, 2.0, 4001)  # two periods
    e = 10.0 * np.sin(2 * np.pi * t)
    rising = np.gradient(e) > 0
    ps, ec, w = 0.3, 4.0, 0.5
    p = ps * np.tanh((e - np.where(rising, ec, -ec)) / w)
    m = loop_metrics(e, p)
    assert m["coercive_field"] == pytest.approx(ec, abs=1e-2)
    assert m["remanent_polarization"] == pytest.approx(ps * np.tanh(ec / w), rel=1e-3)
    assert m["polarization_reversals"] >= 3
