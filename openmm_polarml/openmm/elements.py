"""The shipped PQEq element table in OpenMM units, and formal charges of monatomic ions."""

from __future__ import annotations

import os

from .. import units
from ..pqeq.charge_groups import ION_CHARGES  # formal charges (e) of monatomic ions

__all__ = ["ION_CHARGES", "load_element_table"]

_ELEMENT_TABLE_CACHE: dict[str, dict] = {}


def load_element_table(path: str | None = None) -> dict[str, dict]:
    """PQEq element parameters from the shipped CSV, in OpenMM units.

    Parameters
    ----------
    path : str, optional
        A CSV in the format of ``openmm_polarml/data/pqeq_parameters.csv`` (the default).

    Returns
    -------
    dict
        ``{symbol: dict(chi, eta, radius, springK, shellCharge, polarizable)}`` with chi in
        kJ/mol/e, eta in kJ/mol/e², radius in nm and springK in kJ/mol/nm².
    """
    if path is None:
        path = os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            "data",
            "pqeq_parameters.csv",
        )
    if path in _ELEMENT_TABLE_CACHE:
        return _ELEMENT_TABLE_CACHE[path]
    table = {}
    with open(path) as fh:
        lines = [ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")]
    header = lines[0].split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=True))
        ks_ev_a2 = float(row["Ks_kcal_per_mol_A2"]) * units.KCAL_PER_MOL_TO_EV
        table[row["symbol"]] = dict(
            chi=float(row["chi0_eV"]) * units.EV_TO_KJ_PER_MOL,
            eta=float(row["eta0_eV"]) * units.EV_TO_KJ_PER_MOL,
            radius=float(row["rad_A"]) * units.ANGSTROM_TO_NM,
            springK=ks_ev_a2 * units.EV_TO_KJ_PER_MOL / units.ANGSTROM_TO_NM**2,
            shellCharge=float(row["shell_charge"]),
            polarizable=row["polarizable"].strip().lower() in ("true", "1", "yes"),
        )
    _ELEMENT_TABLE_CACHE[path] = table
    return table
