"""The compiled ``PQEqForce`` SWIG bindings (``pqeqplugin``), imported once with a rebuild hint.

:mod:`.plugin` (kernel plugins) and :mod:`.serialization` (downcasts) both take the force class
from here, so neither imports the other's module at import time in a loop.
"""

from __future__ import annotations

__all__ = ["PQEqForce", "REBUILD_HINT", "pqeqplugin"]

REBUILD_HINT = (
    "rebuild the native plugin against the installed openmm: "
    "`pip install --no-build-isolation --no-deps -e .` in the openmm_polarml checkout "
    "(openmm and the plugin must come from the same openmm version)"
)

try:
    from . import pqeqplugin
    from .pqeqplugin import PQEqForce
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        f"openmm_polarml.openmm: the compiled PQEqForce bindings are missing or broken ({exc}); "
        + REBUILD_HINT
    ) from exc
