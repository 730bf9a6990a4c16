"""Neural-network building blocks: radial basis, cutoff envelope, neighbour lists, interaction layers."""

from openmm_polarml.nn.interaction import InteractionLayer
from openmm_polarml.nn.neighbors import batched_neighbor_list
from openmm_polarml.nn.radial import BesselBasis, PolynomialCutoff

__all__ = ["BesselBasis", "PolynomialCutoff", "InteractionLayer", "batched_neighbor_list"]
