"""On-disk cache of TorchScript artifacts exported for one model and one Topology.

Exporting scripts the network for a fixed atom list and checks the file against the eager model,
which takes seconds to minutes. :func:`cached_export` keys each artifact by a SHA-256 over the
model (configuration and every weight), the selected head, the atom list, periodicity and export
options and the software versions, so the same system is exported once. The cache folder is
``$POLARML_CACHE_DIR`` or ``~/.cache/openmm_polarml/artifacts``; files are written to a
temporary name and renamed, so an interrupted export never leaves a broken artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = ["cache_directory", "model_fingerprint", "cached_export"]


def cache_directory() -> Path:
    """The artifact cache folder (created on first use)."""
    root = os.environ.get("POLARML_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "openmm_polarml"
    path = base / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_fingerprint(model) -> str:
    """SHA-256 over a model's configuration and state dict (names, dtypes, shapes, values)."""
    digest = hashlib.sha256()
    config = dict(model.config)
    if config.get("fragments", "none") == "none":  # the implicit charge model of earlier models
        config.pop("fragments", None)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f"{name}:{array.dtype}:{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _export_key(model, numbers, periodic: bool, options: dict) -> str:
    import e3nn
    import vesin_torch

    from openmm_polarml import __version__

    record = {
        "model": model_fingerprint(model),
        "numbers": [int(z) for z in numbers],
        "periodic": bool(periodic),
        "options": options,
        "versions": [__version__, torch.__version__, e3nn.__version__, vesin_torch.__version__],
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def cached_export(
    model,
    atoms,
    include_d3: bool,
    outputs_forces: bool = False,
    atom_indices=None,
    num_particles: int | None = None,
    directory: str | Path | None = None,
) -> Path:
    """Path of the artifact of ``model`` for ``atoms``' atom list, exported on a cache miss.

    Parameters
    ----------
    model : PolarMLModel
        The model (head already selected).
    atoms : ase.Atoms
        Atom order, elements, periodicity; its geometry is the export's parity-check geometry.
    include_d3, outputs_forces, atom_indices, num_particles
        As in :func:`openmm_polarml.export.export_model`.
    directory : str or Path, optional
        Cache folder (default :func:`cache_directory`).

    Returns
    -------
    Path
        The TorchScript file.
    """
    from ..export import export_model

    options = {
        "include_d3": bool(include_d3),
        "outputs_forces": bool(outputs_forces),
        "atom_indices": None if atom_indices is None else [int(i) for i in atom_indices],
        "num_particles": num_particles,
    }
    folder = Path(directory) if directory is not None else cache_directory()
    folder.mkdir(parents=True, exist_ok=True)
    keyed = dict(options)
    if model.shortrange.network.charge_input:  # the artifact holds the atoms' charge states
        from ..model.charge_state import charge_state_of_atoms

        state = charge_state_of_atoms(atoms, model.config.get("fragments", "none"))
        keyed["charge_state"] = [round(float(q), 12) for q in state]
    path = folder / f"{_export_key(model, atoms.numbers, atoms.pbc.all(), keyed)[:32]}.pt"
    if path.exists():
        return path
    handle, tmp = tempfile.mkstemp(suffix=".pt.tmp", dir=folder)
    os.close(handle)
    try:
        export_model(model, atoms, tmp, **options)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
