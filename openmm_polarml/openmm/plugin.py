"""Loading the compiled ``PQEqForce`` plugin into OpenMM.

Importing this module imports the SWIG bindings (``pqeqplugin``, the API library) and loads the
kernel plugins in ``lib/plugins`` (Reference/CPU, CUDA when built). Failures that concern this
package are collected in :data:`PLUGIN_LOAD_FAILURES` and reported with a warning that says how
to fix them.
"""

from __future__ import annotations

import os
import warnings

import openmm

from .bindings import REBUILD_HINT, PQEqForce, pqeqplugin
from .serialization import install_pqeq_downcasts

__all__ = ["PQEqForce", "PLUGIN_LOAD_FAILURES", "plugin_directory"]

PLUGIN_LOAD_FAILURES: list[str] = []


def plugin_directory() -> str:
    """Directory holding the kernel plugins (Reference/CPU, CUDA when built)."""
    return os.path.join(
        os.path.dirname(os.path.abspath(pqeqplugin._pqeqplugin.__file__)), "lib", "plugins"
    )


def _load_plugins() -> None:
    directory = plugin_directory()
    if not os.path.isdir(directory):
        msg = f"openmm_polarml: plugin directory {directory} does not exist; " + REBUILD_HINT
        PLUGIN_LOAD_FAILURES.append(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return
    openmm.Platform.loadPluginsFromDirectory(directory)
    for failure in openmm.Platform.getPluginLoadFailures():
        if "PolarML" in failure or "openmm_polarml" in failure or directory in failure:
            PLUGIN_LOAD_FAILURES.append(failure)
    for failure in PLUGIN_LOAD_FAILURES:
        hint = ""
        if "CUDA" in failure or "cuda" in failure:
            hint = " (the CUDA kernels need the CUDA driver/toolkit the plugin was built with; the "
            hint += "Reference and CPU platforms are unaffected)"
        warnings.warn(
            f"openmm_polarml: failed to load an OpenMM plugin: {failure}{hint}; " + REBUILD_HINT,
            RuntimeWarning,
            stacklevel=2,
        )


_load_plugins()
install_pqeq_downcasts()
