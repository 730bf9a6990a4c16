"""TorchScript export of the short-range part (network + D3) for openmm-torch.

Attaching the artifact to an OpenMM System lives in :mod:`openmm_polarml.openmm`.
"""

from openmm_polarml.export.torchforce import (
    TorchForceModule,
    TorchForceModuleWithForces,
    export_model,
    load_exported,
)

__all__ = ["TorchForceModule", "TorchForceModuleWithForces", "export_model", "load_exported"]
