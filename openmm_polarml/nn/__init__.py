"""Neural-network building blocks: radial basis, cutoff envelope, interaction layers (neighbour lists: :mod:`openmm_polarml.neighbors`)."""

from openmm_polarml.neighbors import batched_neighbor_list
from openmm_polarml.nn.interaction import InteractionLayer
from openmm_polarml.nn.radial import BesselBasis, PolynomialCutoff

__all__ = ["BesselBasis", "PolynomialCutoff", "InteractionLayer", "batched_neighbor_list"]
