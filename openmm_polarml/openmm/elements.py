"""The shipped PQEq element table in OpenMM units, and formal charges of monatomic ions."""

from __future__ import annotations

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
    key = str(path)
    if key in _ELEMENT_TABLE_CACHE:
        return _ELEMENT_TABLE_CACHE[key]
    from ..pqeq.parameters import load_element_table as read_table  # the one CSV parser

    table = {}
    for record in read_table(path).values():
        table[record.symbol] = dict(
            chi=record.chi * units.EV_TO_KJ_PER_MOL,
            eta=record.eta * units.EV_TO_KJ_PER_MOL,
            radius=record.radius * units.ANGSTROM_TO_NM,
            springK=record.spring * units.EV_TO_KJ_PER_MOL / units.ANGSTROM_TO_NM**2,
            shellCharge=record.shell_charge,
            polarizable=record.polarizable,
        )
    _ELEMENT_TABLE_CACHE[key] = table
    return table
