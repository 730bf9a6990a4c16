"""TorchScript export of the short-range part (+ D3) for openmm-torch, and OpenMM attachment."""

from openmm_polarml.export.d3_force import attach_d3_force
from openmm_polarml.export.openmm import attach_pqeq_force, attach_to_system
from openmm_polarml.export.torchforce import (
    TorchForceModule,
    TorchForceModuleWithForces,
    export_model,
    load_exported,
)

__all__ = [
    "TorchForceModule",
    "TorchForceModuleWithForces",
    "export_model",
    "load_exported",
    "attach_to_system",
    "attach_pqeq_force",
    "attach_d3_force",
]
