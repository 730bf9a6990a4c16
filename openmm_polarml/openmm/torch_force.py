"""Attach an exported TorchScript artifact to an OpenMM System through openmm-torch's TorchForce.

The optional backend (``createSystem(backend="torch")``); the default is ``openmm.PythonForce``
(:mod:`.python_backend`). With openmm >= 8.6 and openmmtorch 1.5, deserialising a ``TorchForce``
from XML crashes the process (upstream, in ``TorchForceProxy::deserialize``), so such a System
cannot be copied by openmmtools or openmm-ml: :func:`torch_force_xml_blocker` says so.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

__all__ = [
    "attach_torch_force",
    "reload_torch_plugins",
    "register_serialization",
    "torch_force_xml_blocker",
    "warn_if_not_xml_copyable",
]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def torch_force_xml_blocker() -> str | None:
    """Why a System holding a ``TorchForce`` cannot be deserialised from XML here, or None.

    openmm >= 8.6 with openmmtorch <= 1.5 (the newest release) segfaults inside
    ``TorchForceProxy::deserialize``; openmm 8.5.2 works. Serialising and running the force work
    on both.
    """
    from importlib import metadata

    import openmm

    try:
        torch_version = metadata.version("openmmtorch")
    except metadata.PackageNotFoundError:
        return None  # no TorchForce can be built: the torch backend falls back to PythonForce
    if _version(openmm.__version__) < (8, 6) or _version(torch_version) > (1, 5):
        return None
    return (
        f"openmm {openmm.__version__} with openmmtorch {torch_version}: deserialising a "
        "TorchForce from XML segfaults (upstream, in TorchForceProxy::deserialize; openmm 8.5.2 "
        "works), so XmlSerializer.deserialize, copy.deepcopy, openmmtools and openmm-ml cannot "
        "copy a System that holds one; use backend='python' (the default)"
    )


def warn_if_not_xml_copyable() -> None:
    """Warn (``RuntimeWarning``) when a ``TorchForce`` System could not be copied through XML."""
    blocker = torch_force_xml_blocker()
    if blocker is not None:
        warnings.warn(f"backend='torch': {blocker}", RuntimeWarning, stacklevel=3)


def attach_torch_force(system, artifact: str | Path, force_group: int | None = None):
    """Add a ``TorchForce`` running the exported short-range model to ``system``.

    Parameters
    ----------
    system : openmm.System
        The system; its particle order must match the exported atom order.
    artifact : str or Path
        File written by :func:`~openmm_polarml.export.export_model`.
    force_group : int, optional
        Force group of the new force.

    Returns
    -------
    openmmtorch.TorchForce
        The added force (periodic when the artifact was exported from a periodic structure; a periodic
        system with a non-periodic artifact is an error).
    """
    try:
        import openmmtorch
    except ImportError as err:  # pragma: no cover
        raise ImportError(
            "attach_torch_force needs openmm-torch: pip install openmmtorch==1.5 "
            "(or use the PythonForce backend)"
        ) from err
    from ..export.torchforce import load_exported

    reload_torch_plugins()
    _, meta = load_exported(artifact)
    expected = meta.get("num_particles", len(meta["numbers"]))
    if system.getNumParticles() != expected:
        raise ValueError(
            f"system has {system.getNumParticles()} particles, the artifact was exported for "
            f"{expected}"
        )
    if system.usesPeriodicBoundaryConditions() and not meta["periodic"]:
        raise ValueError(
            "the system is periodic but the artifact was exported for a "
            "non-periodic structure; export it from a periodic one"
        )
    periodic = bool(meta["periodic"])
    force = openmmtorch.TorchForce(str(artifact))
    force.setUsesPeriodicBoundaryConditions(periodic)
    force.setOutputsForces(bool(meta["outputs_forces"]))
    if force_group is not None:
        force.setForceGroup(int(force_group))
    system.addForce(force)
    return force


def reload_torch_plugins() -> None:
    """Load openmm-torch kernel plugins that failed because openmm was imported before torch.

    OpenMM loads its plugins at import; the TorchForce kernels need libtorch's CUDA runtime
    libraries, which are only on the search path once torch is imported.
    """
    import re

    import openmm
    import torch  # noqa: F401

    from ._import_failures import OPENMM_IMPORT_FAILURES

    done = getattr(reload_torch_plugins, "done", set())
    failures = set(OPENMM_IMPORT_FAILURES) | set(openmm.Platform.getPluginLoadFailures())
    for failure in sorted(failures):
        match = re.match(r"Error loading library (\S+OpenMMTorch\S+\.so):", failure)
        if match and "OpenCL" not in match.group(1) and match.group(1) not in done:
            try:
                openmm.Platform.loadPluginLibrary(match.group(1))
                done.add(match.group(1))
            except Exception:  # pragma: no cover - the platform stays unavailable
                pass
    reload_torch_plugins.done = done


#: what :func:`register_serialization` could not register (empty when everything loaded)
SERIALIZATION_FAILURES: list[str] = []


def register_serialization() -> list[str]:
    """Make ``XmlSerializer.deserialize`` work for every System this package builds.

    Imports torch first (its runtime libraries), the vesin TorchScript op the exported network
    uses, and openmm-torch (its ``TorchForce`` serialization proxy and kernels); the PQEqForce
    proxy comes with this package's plugin. Called when :mod:`openmm_polarml.openmm` is
    imported, so ``import openmm_polarml`` is enough in a fresh process.

    Returns
    -------
    list of str
        What could not be registered (also kept in :data:`SERIALIZATION_FAILURES`).
    """
    import logging

    import torch  # noqa: F401  (first: openmm-torch's kernels need its libraries)

    failures = []
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # openmm-torch 1.5 imports simtk.openmm, which logs a warning
    try:
        for module in ("vesin_torch", "openmmtorch"):
            try:
                __import__(module)
            except Exception as err:  # an optional backend: record, do not fail the import
                failures.append(f"{module}: {err}")
    finally:
        root.setLevel(level)
    reload_torch_plugins()
    SERIALIZATION_FAILURES[:] = failures
    return failures
