"""Homogeneous external electric fields as Context parameters of ``PQEqForce``.

The field enters the PQEq energy as −F·μ. Its three components are global Context parameters
in OpenMM units (kJ/mol/nm/e)::

    PQEqFieldX, PQEqFieldY, PQEqFieldZ

1 V/nm = 96.4853 kJ/mol/nm/e and 1 V/Å = 964.853 kJ/mol/nm/e (:mod:`openmm_polarml.units`).
The helpers here take V/nm by default and convert at the boundary.
"""

from __future__ import annotations

import math

import openmm

from .. import units

__all__ = [
    "FIELD_PARAMETERS",
    "born_charges_from_context",
    "field_to_openmm",
    "get_external_field",
    "set_external_field",
]

FIELD_PARAMETERS = ("PQEqFieldX", "PQEqFieldY", "PQEqFieldZ")


def _unit_scale(unit: str) -> float:
    u = unit.replace("Å", "A").replace(" ", "")
    if u == "V/nm":
        return units.V_PER_NM_TO_KJ_PER_MOL_NM_E
    if u in ("V/A", "V/Angstrom"):
        return units.V_PER_ANGSTROM_TO_KJ_PER_MOL_NM_E
    if u in ("kJ/mol/nm/e", "kJ/(mol*nm*e)"):
        return 1.0
    raise ValueError(f"unknown field unit {unit!r}; use 'V/nm', 'V/A' or 'kJ/mol/nm/e'")


def field_to_openmm(field, unit: str = "V/nm") -> tuple[float, float, float]:
    """Convert a field vector from ``unit`` ('V/nm', 'V/A' or 'V/Å', 'kJ/mol/nm/e') to kJ/mol/nm/e.

    Parameters
    ----------
    field : sequence of 3 float
        Field components in ``unit``.
    unit : str
        Unit of ``field``.
    """
    scale = _unit_scale(unit)
    values = [float(x) for x in field]
    if len(values) != 3:
        raise ValueError(f"field must have three components, got {len(values)}")
    out = (values[0] * scale, values[1] * scale, values[2] * scale)
    strength = math.sqrt(sum(v * v for v in out)) / units.V_PER_ANGSTROM_TO_KJ_PER_MOL_NM_E
    limit = units.MAX_EXTERNAL_FIELD_V_PER_ANGSTROM
    if not strength <= limit:  # also NaN
        raise ValueError(
            f"field of {strength:.3g} V/Å ({values} {unit}) exceeds the limit of {limit} V/Å (10x "
            "the strongest training field, beyond dielectric breakdown): shells would leave "
            "their atoms; lower the field"
        )
    return out


def set_external_field(context: openmm.Context, field, unit: str = "V/nm") -> None:
    """Set the homogeneous external field of every PQEqForce in ``context``.

    Works on a running simulation: the next force evaluation sees the new field.

    Parameters
    ----------
    context : openmm.Context
        A Context whose System holds a PQEqForce.
    field : sequence of 3 float
        Field in ``unit`` (default V/nm).
    unit : str
        'V/nm', 'V/A' or 'kJ/mol/nm/e'.
    """
    for name, value in zip(FIELD_PARAMETERS, field_to_openmm(field, unit), strict=True):
        context.setParameter(name, value)


def get_external_field(context: openmm.Context, unit: str = "V/nm") -> tuple[float, float, float]:
    """Current field of a context, converted to ``unit`` (default V/nm)."""
    scale = _unit_scale(unit)
    return tuple(context.getParameter(n) / scale for n in FIELD_PARAMETERS)


def born_charges_from_context(context: openmm.Context, step: float = 1e-3):
    """Born effective charges Z*_{i,αβ} = ∂f_iβ/∂F_α (e) of the current positions, ``[N, 3, 3]``.

    Central differences of the forces at fields ±``step`` (V/Å) along each axis around the
    Context's current field, which is restored afterwards. Only PQEqForce couples to the field, so
    every other force cancels. With split charges (``PQEqForce.Split``) the result does not depend
    on where an atom's periodic image is stored and Σ_i Z*_i = 0 in a neutral system.
    """
    import numpy as np

    start = get_external_field(context, "V/A")
    to_ev_per_angstrom = units.ANGSTROM_TO_NM / units.EV_TO_KJ_PER_MOL  # (kJ/mol/nm) -> eV/Å
    rows = []
    try:
        for axis in range(3):
            forces = []
            for sign in (1.0, -1.0):
                field = list(start)
                field[axis] += sign * step
                set_external_field(context, field, "V/A")
                state = context.getState(getForces=True)
                f = state.getForces(asNumpy=True).value_in_unit(
                    openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
                )
                forces.append(np.asarray(f) * to_ev_per_angstrom)  # [N, 3] eV/Å
            rows.append((forces[0] - forces[1]) / (2.0 * step))  # [N, β] e
    finally:
        set_external_field(context, start, "V/A")
    return np.stack(rows, axis=1)  # [N, α, β]
