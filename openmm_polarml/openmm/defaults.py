"""Defaults of the OpenMM face, in one place that every module of ``openmm_polarml.openmm`` can
import without importing the potential itself."""

from __future__ import annotations

__all__ = ["FORCE_GROUPS", "DEFAULT_MODEL", "DEFAULT_BACKEND"]

#: force group of each term of a System built by :class:`~openmm_polarml.openmm.PolarMLPotential`
FORCE_GROUPS = {"network": 1, "pqeq": 2, "d3": 3}

#: the shipped model loaded when none is named
DEFAULT_MODEL = "foundation"

#: the network force used when none is named: ``openmm.PythonForce``, as openmm-ml 1.8 uses
DEFAULT_BACKEND = "python"
