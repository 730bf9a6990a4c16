"""The quickstart's field response: induced polarisation, per-element charge shifts, plots.

Compares two PQEq reports (:class:`~openmm_polarml.openmm.reporters.PQEqReporter` NetCDF) of
the same system, one without and one with a homogeneous field along z: the mean polarisation
(C/m²) and the mean charge per element (e), and plots the RDFs of the field-free run beside the
charge distributions of both (``quickstart.png``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openmm_polarml.analysis.pqeq_report import load_pqeq_report
from openmm_polarml.analysis.trajectory import compute_rdfs, load_trajectory

__all__ = ["field_response", "format_field_response", "plot_field_response"]


def _symbols(topology) -> np.ndarray:
    return np.array([a.element.symbol for a in topology.atoms()])


def field_response(topology, reports: dict) -> dict:
    """Mean polarisation and per-element mean charges without and with the field.

    Parameters
    ----------
    topology : openmm.app.Topology
        The system of both runs.
    reports : dict
        ``{"nofield": path, "field": path}`` of the two PQEq reports.

    Returns
    -------
    dict
        ``polarization_off`` and ``polarization_on`` ([3] C/m², frame means) and ``charges``:
        element -> (mean charge without, with the field) in e.
    """
    off, on = (load_pqeq_report(reports[k]) for k in ("nofield", "field"))
    symbols = _symbols(topology)
    charges = {}
    for symbol in sorted(set(symbols)):
        mask = symbols == symbol
        charges[symbol] = (off.charges[:, mask].mean(), on.charges[:, mask].mean())
    return {
        "polarization_off": np.nanmean(off.polarization_si, axis=0),
        "polarization_on": np.nanmean(on.polarization_si, axis=0),
        "charges": charges,
    }


def format_field_response(response: dict, field: float) -> str:
    """The induced polarisation along z and the charge shift per element at ``field`` (V/nm)."""
    p_off, p_on = response["polarization_off"], response["polarization_on"]
    lines = [
        f"\ninduced polarisation along z at {field} V/nm: {p_on[2] - p_off[2]:+.4e} C/m^2 (field off {p_off[2]:+.3e}, on {p_on[2]:+.3e})"
    ]
    for symbol, (q_off, q_on) in response["charges"].items():
        lines.append(
            f"  <q({symbol})>: {q_off:+.4f} e without field, {q_on:+.4f} e with field (shift {q_on - q_off:+.2e} e)"
        )
    return "\n".join(lines)


def plot_field_response(topology, out: Path, reports: dict, field: float) -> Path:
    """``out/quickstart.png``: RDFs of ``trajectory_nofield.dcd`` (r in nm; pairs with water O
    when there are any) and the charge distributions without and with ``field`` (V/nm)."""
    import matplotlib.pyplot as plt

    off, on = (load_pqeq_report(reports[k]) for k in ("nofield", "field"))
    symbols = _symbols(topology)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for symbol in sorted(set(symbols)):
        mask = symbols == symbol
        ax[1].hist(off.charges[:, mask].ravel(), bins=40, alpha=0.6, label=f"{symbol} (no field)")
        ax[1].hist(
            on.charges[:, mask].ravel(),
            bins=40,
            alpha=0.6,
            histtype="step",
            label=f"{symbol} ({field} V/nm)",
        )
    ax[1].set_xlabel("PQEq charge (e)")
    ax[1].legend(fontsize=7)
    traj = load_trajectory(out / "trajectory_nofield.dcd", out / "topology.pdb")
    rdfs = {k: v for k, v in compute_rdfs(traj).items() if "H" not in k.split("-")}
    # with a few ions in a water box, ion-ion RDFs are single pairs (noise): show water's
    with_water = {k: v for k, v in rdfs.items() if "O" in k.split("-")}
    for name, (r, g) in (with_water or rdfs).items():
        ax[0].plot(r, g, label=name)
    ax[0].set_xlabel("r (nm)")
    ax[0].set_ylabel("g(r)")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "quickstart.png", dpi=120)
    return out / "quickstart.png"
