"""Import this package's pure modules in an interpreter that lacks its dependencies.

The label interpreter (``.venv-labels``: numpy, ase, the teachers) runs parts of the studies
with the teacher, such as the relaxations of :mod:`openmm_polarml.analysis.lattice`. Importing
``openmm_polarml.analysis.lattice`` there would run ``openmm_polarml/analysis/__init__.py``
(mdtraj, torch, ...); :func:`bare_subpackage` registers the sub-package without running its
``__init__``, so its modules that import only numpy and ase load.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

__all__ = ["bare_subpackage"]


def bare_subpackage(name: str) -> None:
    """Register ``openmm_polarml.<name>`` (e.g. ``"analysis"``) as a bare package whose
    ``__init__`` is not run; nothing happens when it is imported already."""
    full = f"{__package__}.{name}"
    module = types.ModuleType(full)
    module.__path__ = [str(Path(__file__).resolve().parent / name)]
    sys.modules.setdefault(full, module)
