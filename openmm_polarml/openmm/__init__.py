"""The OpenMM face of openmm_polarml.

Importing this package loads the compiled ``PQEqForce`` plugin into OpenMM (:mod:`.plugin`).

Start from :class:`PolarMLPotential` (:mod:`.potential`): ``createSystem(topology)``.

Modules (data flow): :mod:`.elements` (PQEq element table) and :mod:`.fragments` → :mod:`.pqeq_force`
(``PQEqForce`` builders); :mod:`.python_backend` (the network as ``openmm.PythonForce``, the
default), :mod:`.torch_force` (the exported network as openmm-torch ``TorchForce``, optional)
and :mod:`.d3_force` (D3 through the native kernel as ``openmm.PythonForce``); :mod:`.fields`
(runtime external fields as Context parameters, V/nm at the boundary).
"""

from ._import_failures import OPENMM_IMPORT_FAILURES
from .d3_force import attach_d3_force
from .elements import ION_CHARGES, load_element_table
from .field_protocols import FieldDipoleRecorder, FieldProtocol, pe_loop
from .fields import (
    FIELD_PARAMETERS,
    born_charges_from_context,
    field_to_openmm,
    get_external_field,
    set_external_field,
)
from .fragments import fragment_groups, molecule_groups
from .plugin import PLUGIN_LOAD_FAILURES, PQEqForce, plugin_directory
from .potential import DEFAULT_BACKEND, DEFAULT_MODEL, FORCE_GROUPS, PolarMLPotential
from .pqeq_force import attach_pqeq_force, buildModelPQEqForce, createPQEqForce
from .reporters import PQEQ_REPORT_UNITS, PQEqReporter
from .serialization import as_pqeq_force, install_pqeq_downcasts
from .torch_force import attach_torch_force, register_serialization

__all__ = [
    "PQEqReporter",
    "PQEQ_REPORT_UNITS",
    "FieldProtocol",
    "FieldDipoleRecorder",
    "pe_loop",
    "as_pqeq_force",
    "install_pqeq_downcasts",
    "OPENMM_IMPORT_FAILURES",
    "PolarMLPotential",
    "FORCE_GROUPS",
    "DEFAULT_MODEL",
    "DEFAULT_BACKEND",
    "buildModelPQEqForce",
    "PQEqForce",
    "PLUGIN_LOAD_FAILURES",
    "plugin_directory",
    "FIELD_PARAMETERS",
    "field_to_openmm",
    "set_external_field",
    "born_charges_from_context",
    "get_external_field",
    "ION_CHARGES",
    "load_element_table",
    "fragment_groups",
    "molecule_groups",
    "createPQEqForce",
    "attach_pqeq_force",
    "attach_torch_force",
    "attach_d3_force",
    "register_serialization",
]

register_serialization()  # TorchForce and vesin for XmlSerializer.deserialize in a fresh process
