"""Models: the equivariant network (E0), D3(BJ), and the full network + PQEq + D3 model."""

from openmm_polarml.model.builder import build_model, resolve_config
from openmm_polarml.model.d3 import D3BJ, load_d3_tables
from openmm_polarml.model.full import PolarMLModel
from openmm_polarml.model.network import EquivariantNetwork
from openmm_polarml.model.presets import PRESETS, preset
from openmm_polarml.model.shortrange import ShortRange

__all__ = [
    "build_model",
    "resolve_config",
    "D3BJ",
    "load_d3_tables",
    "PolarMLModel",
    "EquivariantNetwork",
    "PRESETS",
    "preset",
    "ShortRange",
]
