"""Exceptions raised by the PQEq engine: each message says what to fix."""


class PQEqError(ValueError):
    """Base class of every input or solver error of the PQEq engine."""


class UnknownElementError(PQEqError):
    """An atomic number has no PQEq parameters."""


class InvalidInputError(PQEqError):
    """Positions, cell or charges are malformed (NaN, inf, wrong shape)."""


class OverlappingAtomsError(PQEqError):
    """Two atoms are closer than the allowed minimum distance."""


class NonNeutralCellError(PQEqError):
    """A periodic cell carries a net charge and no neutralising background was requested."""


class CellTooSmallError(PQEqError):
    """The periodic cell is too small for the requested real-space cutoff."""


class ConvergenceError(PQEqError, RuntimeError):
    """The charge/shell solver did not reach the requested tolerance."""


class PolarizationCatastropheError(ConvergenceError):
    """The energy is unbounded below in the shell displacements (Hessian not positive definite)."""
