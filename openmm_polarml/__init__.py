"""openmm_polarml: polarizable machine-learning potentials (equivariant GNN + PQEq + D3) for OpenMM.

Data flow: structures -> neighbour list -> network -> E0; element parameters -> PQEq solve
(charges, shells, field, Ewald/PME) -> E_PQEq; -> forces and stress; training, export,
OpenMM attachment and analysis on top. Units: eV, Å, e inside; kJ/mol, nm at the OpenMM boundary.
"""

__version__ = "0.1.0"


def _register_openmm() -> None:
    """With OpenMM installed, load the plugin and the serialization proxies, so that a System
    this package built deserialises after ``import openmm_polarml`` alone. Never fails the
    import: problems are kept in ``openmm_polarml.OPENMM_REGISTRATION_ERROR``."""
    import importlib.util

    global OPENMM_REGISTRATION_ERROR
    if importlib.util.find_spec("openmm") is None:
        return
    try:
        import openmm_polarml.openmm  # noqa: F401
    except Exception as err:  # pragma: no cover - a broken OpenMM install
        OPENMM_REGISTRATION_ERROR = f"{type(err).__name__}: {err}"


OPENMM_REGISTRATION_ERROR: str | None = None
_register_openmm()
