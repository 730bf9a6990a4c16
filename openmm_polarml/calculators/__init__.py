"""ASE calculators of openmm_polarml."""

from .model_calculator import PolarMLCalculator
from .pqeq_calculator import PQEqCalculator

__all__ = ["PolarMLCalculator", "PQEqCalculator"]
