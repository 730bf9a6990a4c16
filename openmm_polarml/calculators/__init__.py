"""ASE calculators of openmm_polarml."""

from .pqeq_calculator import PQEqCalculator

__all__ = ["PQEqCalculator"]
