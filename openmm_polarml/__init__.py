"""openmm_polarml: polarizable machine-learning potentials (equivariant GNN + PQEq + D3) for OpenMM.

Data flow: structures -> neighbour list -> network -> E0; element parameters -> PQEq solve
(charges, shells, field, Ewald/PME) -> E_PQEq; -> forces and stress; training, export,
OpenMM attachment and analysis on top. Units: eV, Å, e inside; kJ/mol, nm at the OpenMM boundary.
"""

__version__ = "0.1.0"
