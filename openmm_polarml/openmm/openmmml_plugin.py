"""openmm-ml registration: ``openmmml.MLPotential('polarml', modelPath=..., head=...)``.

Registered through the ``openmmml.potentials`` entry point (pyproject.toml), so after installing
openmm_polarml::

    from openmmml import MLPotential
    potential = MLPotential("polarml")                 # the shipped default model
    system = potential.createSystem(topology)          # network + PQEq + D3
    mixed = potential.createMixedSystem(topology, mmSystem, mlAtoms)

``createSystem`` accepts the keywords of
:meth:`~openmm_polarml.openmm.PolarMLPotential.createSystem` (``totalCharge``, ``fragments``,
``fragmentCharges``, ``externalField``, ``backend``, ...); the network is an ``openmm.PythonForce``
unless ``backend="torch"``, as openmm-ml's own models. openmm-ml's default
``createMixedSystem(embedding="mechanical")`` couples the regions with the MM force field's
charges; the model is long-ranged (``getMLLongRange``: its PQEq term sums periodic images), so in
a periodic System openmm-ml subtracts the MM charges' ML–ML lattice sum. With openmm-ml >= 1.8,
``embedding="electrostatic"`` is the polarizable electrostatic embedding of
:meth:`~openmm_polarml.openmm.PolarMLPotential.createMixedSystem` (the MM charges polarise the ML
region through ``PQEqForce``).
"""

from __future__ import annotations

from openmmml.mlpotential import MLPotentialImpl, MLPotentialImplFactory

__all__ = ["PolarMLPotentialImplFactory", "PolarMLPotentialImpl", "EMBEDDINGS"]

#: the embeddings this potential implements itself (openmm-ml >= 1.8 asks for them)
EMBEDDINGS = ("electrostatic",)


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

    def getMLLongRange(self) -> bool:
        """True when the model has a PQEq term (its electrostatics sum periodic images), so that
        openmm-ml's mechanical embedding removes the MM charges' ML–ML lattice sum (openmm-ml
        >= 1.8); False for a model without PQEq (network and D3 are local)."""
        return self.potential.model.pqeq is not None

    def getSupportedEmbeddings(self) -> list[str]:
        """``['electrostatic']``: the polarizable embedding (openmm-ml >= 1.8)."""
        return list(EMBEDDINGS)

    def createMixedSystem(
        self, topology, system, atoms, forceGroup, interpolate, embedding, returnInfo=False, **args
    ):
        """ML/MM System of ``embedding='electrostatic'`` (openmm-ml >= 1.8 calls this).

        ``args`` are those of :func:`openmm_polarml.openmm.mixed.createMixedSystem` (``mmRadii``,
        ``totalCharge``, ``fragments``, ``backend``, ...); a non-zero ``forceGroup`` puts the
        added forces into that group. ``interpolate`` (``lambda_interpolate``) is not supported.
        """
        if embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {EMBEDDINGS}, not {embedding!r}")
        if interpolate:
            raise ValueError(
                "interpolate=True is not supported by the polarml electrostatic embedding; use "
                "embedding='mechanical' to interpolate"
            )
        n_before = system.getNumForces()
        mixed = self.potential.createMixedSystem(
            topology, system, atoms, embedding=embedding, **args
        )
        if forceGroup:
            for i in range(n_before, mixed.getNumForces()):
                mixed.getForce(i).setForceGroup(int(forceGroup))
        if returnInfo:
            return {
                "system": mixed,
                "topology": topology,
                "oldToNew": list(range(topology.getNumAtoms())),
            }
        return mixed
