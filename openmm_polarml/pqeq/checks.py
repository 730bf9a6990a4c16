"""Input checks of the PQEq engine: overlapping atoms and external fields (the native force
applies the same rules, ``csrc/platforms/common/include/PQEqInputChecks.h``)."""

from __future__ import annotations

import math

import torch

from .. import units
from .errors import InvalidInputError, OverlappingAtomsError

__all__ = ["MIN_ATOM_DISTANCE", "check_field", "check_overlaps"]

#: Å: atoms closer than this are refused (0.05 nm in the native force)
MIN_ATOM_DISTANCE = 0.5


def check_field(field: torch.Tensor) -> None:
    """Refuse a field (V/Å, ``[3]``) that is not finite or stronger than
    :data:`openmm_polarml.units.MAX_EXTERNAL_FIELD_V_PER_ANGSTROM`."""
    limit = units.MAX_EXTERNAL_FIELD_V_PER_ANGSTROM
    if field.shape != (3,) or not bool(torch.isfinite(field).all()):
        raise InvalidInputError(f"external_field must be three finite numbers (V/Å), got {field}")
    strength = float(torch.linalg.vector_norm(field.detach()))
    if strength > limit:
        raise InvalidInputError(
            f"external field of {strength:.3g} V/Å exceeds the limit of {limit} V/Å (10x the "
            "strongest training field, beyond dielectric breakdown): shells would leave their "
            "atoms; lower the field"
        )


def check_overlaps(coulomb, positions, cell) -> None:
    """Reject atom pairs closer than :data:`MIN_ATOM_DISTANCE`, from the operator's own cutoff
    pair list when it reaches that far (Ewald/PME/taper), else from a fresh search."""
    from ..neighbors import neighbor_pairs

    pairs = coulomb.pairs
    # a cutoff list (Ewald/PME/taper) is short; direct's all-pairs list would cost N² memory
    if MIN_ATOM_DISTANCE <= coulomb.pair_reach < math.inf:
        i, j, s = pairs.atom_i, pairs.atom_j, pairs.atom_shifts
    else:
        i, j, s = neighbor_pairs(positions, cell, cell is not None, MIN_ATOM_DISTANCE)
    vec = positions[j] - positions[i]  # [P, 3]
    if cell is not None and s.numel():
        vec = vec + s @ cell
    close = (vec * vec).sum(-1) < MIN_ATOM_DISTANCE**2  # [P]
    if bool(close.any()):
        k = int(torch.nonzero(close)[0])
        raise OverlappingAtomsError(
            f"atoms {int(i[k])} and {int(j[k])} are closer than {MIN_ATOM_DISTANCE} Å: "
            "remove duplicates or fix the coordinates"
        )
