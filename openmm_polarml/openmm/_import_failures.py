"""OpenMM's plugin load failures from its own import, kept before this package loads its plugins.

``Platform.loadPluginsFromDirectory`` replaces OpenMM's list of load failures; openmm-torch's
kernels fail at OpenMM's import when torch was not imported first, and
:func:`~openmm_polarml.openmm.torch_force.reload_torch_plugins` needs that record.
"""

import openmm

OPENMM_IMPORT_FAILURES = tuple(openmm.Platform.getPluginLoadFailures())
