"""openmm-ml registration: ``openmmml.MLPotential('polarml', modelPath=..., head=...)``.

Registered through the ``openmmml.potentials`` entry point (pyproject.toml), so after installing
openmm_polarml::

    from openmmml import MLPotential
    potential = MLPotential("polarml")                 # the shipped default model
    system = potential.createSystem(topology)          # network + PQEq + D3
    mixed = potential.createMixedSystem(topology, mmSystem, mlAtoms)

``createSystem`` accepts the keywords of
:meth:`~openmm_polarml.openmm.PolarMLPotential.createSystem` (``totalCharge``, ``fragments``,
``fragmentCharges``, ``externalField``, ``backend``, ...). openmm-ml's ``createMixedSystem`` is
mechanical embedding (the MM force field's charges couple the regions); the polarizable
electrostatic embedding is :meth:`~openmm_polarml.openmm.PolarMLPotential.createMixedSystem`.
"""

from __future__ import annotations

from openmmml.mlpotential import MLPotentialImpl, MLPotentialImplFactory

__all__ = ["PolarMLPotentialImplFactory", "PolarMLPotentialImpl"]


class PolarMLPotentialImplFactory(MLPotentialImplFactory):
    """Creates :class:`PolarMLPotentialImpl` objects for openmm-ml."""

    def createImpl(self, name: str, modelPath=None, head=None, dtype=None, **args):
        return PolarMLPotentialImpl(name, modelPath, head, dtype, **args)


class PolarMLPotentialImpl(MLPotentialImpl):
    """openmm-ml implementation backed by :class:`~openmm_polarml.openmm.PolarMLPotential`.

    Parameters
    ----------
    name : str
        The registered name (``'polarml'``).
    modelPath : str or Path, optional
        A model file or shipped model name (default: the shipped default model).
    head : str, optional
        Readout head of a multi-head model.
    dtype : str, optional
        ``'float32'`` or ``'float64'``.
    """

    def __init__(self, name, modelPath=None, head=None, dtype=None, cacheDir=None):
        from .potential import PolarMLPotential

        self.name = name
        self.potential = PolarMLPotential(modelPath, head=head, dtype=dtype, cacheDir=cacheDir)

    def addForces(self, topology, system, atoms, forceGroup, **args):
        """Add the model's forces for ``atoms`` (None: all) to ``system``.

        A non-zero ``forceGroup`` puts every added force into that group (openmm-ml's
        interpolation uses it); otherwise the groups of :data:`~openmm_polarml.openmm.FORCE_GROUPS`.
        """
        subset = atoms is not None and len(list(atoms)) != system.getNumParticles()
        if subset:
            args.setdefault("d3Backend", "network")
            args.setdefault("checkNeutral", False)  # the MM charges complete the neutral cell
            args.setdefault("totalCharge", None)
        added = self.potential.addForces(topology, system, atoms, **args)
        if forceGroup:
            for key in ("network", "pqeq", "d3"):
                if added[key] is not None:
                    added[key].setForceGroup(int(forceGroup))
