"""PQEq: polarizable charge equilibration with Gaussian cores and shells (Naserifar & Goddard 2017).

Data flow: element parameters (:mod:`.parameters`) → site Coulomb operator with the chosen
long-range treatment (:mod:`.electrostatics`) → energy E(q, d) (:mod:`.energy`) → constrained
minimum over charges and shells (:mod:`.solver`) → energy, forces, stress, dipole (:mod:`.engine`).
"""

from .engine import PQEq
from .errors import (
    CellTooSmallError,
    ConvergenceError,
    InvalidInputError,
    NonNeutralCellError,
    OverlappingAtomsError,
    PolarizationCatastropheError,
    PQEqError,
    UnknownElementError,
)
from .parameters import ElementParameters, load_element_table

__all__ = [
    "PQEq",
    "ElementParameters",
    "load_element_table",
    "PQEqError",
    "UnknownElementError",
    "InvalidInputError",
    "OverlappingAtomsError",
    "NonNeutralCellError",
    "CellTooSmallError",
    "ConvergenceError",
    "PolarizationCatastropheError",
]
