"""Attach an exported artifact to an OpenMM System through openmm-torch's TorchForce."""

from __future__ import annotations

from pathlib import Path


def attach_to_system(system, artifact: str | Path, force_group: int | None = None):
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
        raise ImportError("attach_to_system needs openmm-torch: pip install openmmtorch") from err
    from openmm_polarml.export.torchforce import load_exported

    _reload_torch_plugins()
    _, meta = load_exported(artifact)
    if system.getNumParticles() != len(meta["numbers"]):
        raise ValueError(
            f"system has {system.getNumParticles()} particles, the artifact was exported for "
            f"{len(meta['numbers'])}"
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


def _reload_torch_plugins() -> None:
    """Load openmm-torch kernel plugins that failed because openmm was imported before torch.

    OpenMM loads its plugins at import; the TorchForce kernels need libtorch's CUDA runtime
    libraries, which are only on the search path once torch is imported.
    """
    import re

    import openmm
    import torch  # noqa: F401

    done = getattr(_reload_torch_plugins, "done", set())
    for failure in openmm.Platform.getPluginLoadFailures():
        match = re.match(r"Error loading library (\S+OpenMMTorch\S+\.so):", failure)
        if match and "OpenCL" not in match.group(1) and match.group(1) not in done:
            try:
                openmm.Platform.loadPluginLibrary(match.group(1))
                done.add(match.group(1))
            except Exception:  # pragma: no cover - the platform stays unavailable
                pass
    _reload_torch_plugins.done = done


_METHODS = {"direct": "NoCutoff", "ewald": "Ewald", "pme": "PME", "taper": "Taper"}


def attach_pqeq_force(
    system,
    artifact: str | Path,
    method: str | None = None,
    total_charge: float = 0.0,
    fragments: list | None = None,
    fragment_charges: list | None = None,
    ewald_error_tolerance: float = 1e-6,
    solver_tolerance: float = 1e-6,
    force_group: int | None = None,
):
    """Add the native ``PQEqForce`` with the model's own element parameters (artifact metadata).

    Together with :func:`attach_to_system` this gives the full model (network + D3 + PQEq) in
    OpenMM. The particle order is the exported atom order.

    Parameters
    ----------
    system : openmm.System
        The system.
    artifact : str or Path
        Exported model whose metadata carries PQEq parameters.
    method : str, optional
        ``direct``, ``ewald``, ``pme`` or ``taper``; default: the model's own long-range setting.
    total_charge : float
        Total charge (e) when no fragments are given.
    fragments, fragment_charges : list, optional
        Atom-index groups and their charges (e).
    ewald_error_tolerance, solver_tolerance : float
        Accuracy settings of the native force.
    force_group : int, optional
        Force group of the new force.

    Returns
    -------
    PQEqForce
        The added force.
    """
    from openmm_polarml import units
    from openmm_polarml.export.torchforce import load_exported
    from openmm_polarml.openmm import PQEqForce

    _, meta = load_exported(artifact)
    pq = meta.get("pqeq")
    if not pq:
        raise ValueError("the artifact's model has no PQEq term")
    method = method or pq["settings"].get("long_range") or "ewald"
    name = _METHODS[method]
    if method == "taper" and not meta["periodic"]:
        name = "TaperNonPeriodic"
    force = PQEqForce()
    force.setNonbondedMethod(getattr(PQEqForce, name))
    cutoff = pq["settings"].get("cutoff")
    if cutoff is not None and method in ("ewald", "pme"):
        force.setCutoffDistance(float(cutoff) * units.ANGSTROM_TO_NM)
    force.setEwaldErrorTolerance(ewald_error_tolerance)
    force.setSolverTolerance(solver_tolerance)
    force.setTotalCharge(float(total_charge))
    energy = units.EV_TO_KJ_PER_MOL
    for z in meta["numbers"]:
        p = pq["elements"][str(z)]
        force.addParticle(
            p["chi"] * energy,  # kJ/mol/e
            p["eta"] * energy,  # kJ/mol/e²
            p["radius"] * units.ANGSTROM_TO_NM,  # nm
            p["spring"] * energy / units.ANGSTROM_TO_NM**2,  # kJ/mol/nm²
            -p["shell_charge"],  # the shell carries −Z_i
            p["spring"] > 0.0,
        )
    for k, group in enumerate(fragments or []):
        force.addFragment([int(i) for i in group], float(fragment_charges[k]))
    if force_group is not None:
        force.setForceGroup(int(force_group))
    system.addForce(force)
    return force
