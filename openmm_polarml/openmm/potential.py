"""``PolarMLPotential``: an OpenMM System of the full model from a ``Topology``.

The System holds, in documented force groups (:data:`FORCE_GROUPS`):

- group 1, ``network``: the equivariant network (and D3 when it travels with the network) as an
  ``openmm.PythonForce`` running the eager module (:mod:`.python_backend`; the default, as in
  openmm-ml) or as an openmm-torch ``TorchForce`` (TorchScript artifact exported for this atom
  list, cached on disk, :mod:`.artifacts`; ``backend="torch"``);
- group 2, ``pqeq``: the native ``PQEqForce`` with the model's element parameters: charges
  equilibrated per fragment, shells relaxed, the homogeneous field as Context parameters;
- group 3, ``d3``: D3(BJ) through the native kernel (``openmm.PythonForce``) when it is built
  and ``d3Backend`` allows;
- group 0: everything else (``CMMotionRemover``).

Periodic exactly when the Topology has a box. Units at this interface are OpenMM's: nm, kJ/mol,
e, and V/nm for fields.
"""

from __future__ import annotations

import logging

import numpy as np
import openmm

from .. import units
from ..model.charge_state import charge_state_of_groups
from ..model.elements import check_elements, supported_elements
from ..pqeq.metadata import pqeq_metadata
from .defaults import DEFAULT_BACKEND, DEFAULT_MODEL, FORCE_GROUPS
from .fields import field_to_openmm
from .fragments import ml_fragments
from .mixed import createMixedSystem as build_mixed_system
from .pqeq_force import buildModelPQEqForce

__all__ = ["PolarMLPotential", "FORCE_GROUPS", "DEFAULT_MODEL", "DEFAULT_BACKEND"]

LOGGER = logging.getLogger(__name__)


_BACKENDS = ("python", "torch")


def repartition_hydrogen_mass(system: openmm.System, topology, hydrogenMass) -> None:
    """Set each bonded hydrogen's mass to ``hydrogenMass`` (amu), taking the difference from its
    bonded heavy atom; raises when a heavy atom would be left with no positive mass."""
    if hasattr(hydrogenMass, "value_in_unit"):
        hydrogenMass = hydrogenMass.value_in_unit(openmm.unit.dalton)
    hydrogenMass = float(hydrogenMass)
    amu = openmm.unit.dalton
    for a, b in topology.bonds():
        if (a.element is None) or (b.element is None):
            continue
        h, heavy = (a, b) if a.element.symbol == "H" else (b, a)
        if h.element.symbol != "H" or heavy.element.symbol == "H":
            continue
        moved = hydrogenMass - system.getParticleMass(h.index).value_in_unit(amu)
        left = system.getParticleMass(heavy.index).value_in_unit(amu) - moved
        if left <= 0.0:
            raise ValueError(
                f"hydrogenMass={hydrogenMass} amu leaves atom {heavy.index} ({heavy.element.symbol})"
                f" with {left:.3f} amu: choose a smaller hydrogen mass"
            )
        system.setParticleMass(h.index, hydrogenMass)
        system.setParticleMass(heavy.index, left)


def topology_numbers(topology, atoms=None) -> list[int]:
    """Atomic numbers of ``atoms`` (indices; default all) of a Topology; no element -> error."""
    every = list(topology.atoms())
    chosen = every if atoms is None else [every[i] for i in atoms]
    missing = [a for a in chosen if a.element is None]
    if missing:
        raise ValueError(
            f"{len(missing)} atoms have no element (first: {missing[0]} in residue "
            f"{missing[0].residue.name}); virtual sites and extra particles are not supported"
        )
    return [int(a.element.atomic_number) for a in chosen]


def _box_vectors_nm(topology):
    vectors = topology.getPeriodicBoxVectors()
    if vectors is None:
        return None
    return np.array([v.value_in_unit(openmm.unit.nanometer) for v in vectors])  # [3, 3] nm


def _min_width(box: np.ndarray) -> float:
    """Smallest perpendicular width (same unit as ``box``) of a cell of row vectors."""
    volume = abs(np.linalg.det(box))
    areas = [np.linalg.norm(np.cross(box[(i + 1) % 3], box[(i + 2) % 3])) for i in range(3)]
    return volume / max(areas)


def _check_split_box(force, box_nm) -> None:
    """Refuse, with what to do, a periodic box narrower than twice the split-charge bond cutoff
    (the native force's bonds join each pair through one image only)."""
    if box_nm is None or force.getChargeTransfer() != force.Split:
        return
    width, cutoff = _min_width(np.asarray(box_nm, dtype=float)), force.getSplitCutoff()  # nm
    if width < 2.0 * cutoff:
        cutoff_a, width_a = cutoff * units.NM_TO_ANGSTROM, width * units.NM_TO_ANGSTROM
        raise ValueError(
            f"this model moves charge along bonds up to {cutoff_a:g} Å long (split charges), so "
            f"OpenMM needs a periodic box at least {2 * cutoff_a:g} Å wide in every direction; "
            f"this one is {width_a:.2f} Å. Replicate the cell (e.g. ase Atoms.repeat, or a larger "
            "Modeller box); the ASE calculator PolarMLCalculator evaluates small cells as they are"
        )


def _check_geometry(numbers, box_nm):
    """An ase.Atoms of the atom list on a regular grid (the export's parity-check geometry)."""
    from ase import Atoms

    n = len(numbers)
    side = int(np.ceil(n ** (1.0 / 3.0)))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    if box_nm is None:
        positions = grid * 2.5  # Å
        return Atoms(numbers=numbers, positions=positions, pbc=False)
    cell = box_nm * units.NM_TO_ANGSTROM  # [3, 3] Å
    fractional = (grid + 0.5) / side  # [n, 3]
    return Atoms(numbers=numbers, scaled_positions=fractional, cell=cell, pbc=True)


class PolarMLPotential:
    """The polarizable ML potential (network + PQEq + D3) as OpenMM Systems.

    Parameters
    ----------
    model : None, str, Path or PolarMLModel
        A shipped model name (default :data:`DEFAULT_MODEL`), a model file, or a model.
    head : str, optional
        Readout head (level of theory) of a multi-head model; default: the model's default.
    dtype : str, optional
        ``"float32"`` or ``"float64"`` for the network (default: the model's own).
    cacheDir : str or Path, optional
        Folder for exported TorchScript artifacts (default ``$POLARML_CACHE_DIR`` or
        ``~/.cache/openmm_polarml/artifacts``).
    """

    def __init__(
        self, model=None, head: str | None = None, dtype: str | None = None, cacheDir=None
    ):
        from ..model.serialization import resolve_model

        self.model = resolve_model(DEFAULT_MODEL if model is None else model, dtype).eval()
        if head is not None:
            if hasattr(self.model, "set_head"):
                self.model.set_head(head)
            elif head != "default":
                raise ValueError(f"the model has a single head; head={head!r} is not available")
        self.head = head
        self.cacheDir = cacheDir
        self.elements = supported_elements(self.model)

    # -- checks -------------------------------------------------------------------------------
    def chargeModel(self) -> str:
        """The model's charge model: ``'molecules'`` (one charge constraint per molecule, formal
        charges) or ``'none'`` (one total-charge constraint), as in its training."""
        return str(self.model.config.get("fragments", "none"))

    def checkElements(self, numbers) -> None:
        """Raise ``ValueError`` naming every element of ``numbers`` the model was not trained on."""
        check_elements(self.model, numbers, self.elements)

    def _fragments(self, topology, atoms, fragments, fragmentCharges, totalCharge, positions=None):
        """ML-atom fragment groups and charges (e), checked against ``totalCharge``
        (:func:`.fragments.ml_fragments`); ``fragments=None`` is the model's charge model."""
        if fragments is None:
            fragments = self.chargeModel()
        return ml_fragments(topology, atoms, fragments, fragmentCharges, totalCharge, positions)

    # -- forces -------------------------------------------------------------------------------
    def _d3_native(self, d3Backend: str) -> bool:
        from ..model import d3_native

        if d3Backend not in ("auto", "native", "network"):
            raise ValueError(f"d3Backend must be 'auto', 'native' or 'network', not {d3Backend!r}")
        if not self.model.shortrange.has_d3 or d3Backend == "network":
            return False
        available = d3_native.native_available()
        if d3Backend == "native" and not available:
            raise RuntimeError("the native D3 kernel is not built; use d3Backend='network'")
        return available

    def _charge_state(self, atoms, groups, charges, totalCharge):
        """``[len(atoms)]`` reference charges (e) of the ML atoms from the fragments the PQEq
        force gets (``groups`` of particle indices, or None for one fragment), for a network
        that reads charge states; None otherwise."""
        if not self.model.shortrange.network.charge_input:
            return None
        local = {particle: k for k, particle in enumerate(atoms)}
        if groups is not None:
            groups = [[local[i] for i in g] for g in groups]
        state = charge_state_of_groups(len(atoms), groups, charges, float(totalCharge or 0.0))
        return [float(q) for q in state]

    def _network_force(
        self, system, numbers, box, atoms, backend, include_d3, positions, charge_state=None
    ):
        subset = None if len(atoms) == system.getNumParticles() else list(atoms)
        group = FORCE_GROUPS["network"]
        if backend == "torch":
            try:
                from .torch_force import warn_if_not_xml_copyable

                warn_if_not_xml_copyable()
                from .artifacts import cached_export
                from .torch_force import attach_torch_force

                geometry = _check_geometry(numbers, box)
                if positions is not None:
                    geometry.positions = np.asarray(positions)[list(atoms)] * units.NM_TO_ANGSTROM
                if charge_state is not None:  # one fragment per atom, at its reference charge
                    geometry.arrays["fragment"] = np.arange(len(atoms))
                    geometry.info["fragment_charges"] = list(charge_state)
                path = cached_export(
                    self.model,
                    geometry,
                    include_d3,
                    atom_indices=subset,
                    num_particles=system.getNumParticles() if subset else None,
                    directory=self.cacheDir,
                )
                return attach_torch_force(system, path, force_group=group)
            except ImportError as err:
                LOGGER.warning("openmm-torch unavailable (%s): using the PythonForce backend", err)
        from .python_backend import attach_python_force, network_module

        periodic = box is not None
        module = network_module(self.model, numbers, periodic, include_d3, subset, charge_state)
        recipe = {
            "config": self.model.config,
            "state": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "numbers": [int(z) for z in numbers],
            "periodic": periodic,
            "include_d3": bool(include_d3),
            "atom_indices": subset,
            "charge_state": charge_state,
        }
        return attach_python_force(system, module, periodic, force_group=group, recipe=recipe)

    def addForces(
        self,
        topology,
        system,
        atoms=None,
        backend: str = DEFAULT_BACKEND,
        d3Backend: str = "auto",
        totalCharge: float | None = 0.0,
        fragments=None,
        fragmentCharges=None,
        fixedCharges: dict | None = None,
        pqeqMethod: str | None = None,
        cutoff=None,
        ewaldErrorTolerance: float = 1e-6,
        solverTolerance: float = 1e-6,
        externalField=(0.0, 0.0, 0.0),
        positions=None,
        exclusions=(),
        checkNeutral: bool = True,
    ) -> dict:
        """Add the model's forces for ``atoms`` of ``topology`` to an existing ``system``.

        Parameters are those of :meth:`createSystem`; ``fixedCharges`` maps particle indices
        outside ``atoms`` to ``(charge e, Gaussian radius nm)`` sites of the PQEq force (ML/MM
        electrostatic embedding); every other particle outside ``atoms`` is a zero-charge site.
        ``exclusions`` lists particle pairs removed from ``PQEqForce``; ``checkNeutral=False``
        leaves the periodic net-charge check to the caller.

        Returns
        -------
        dict
            ``{"network": force, "pqeq": PQEqForce or None, "d3": force or None,
            "mlCharge": charge of the ML atoms (e)}``.
        """
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, not {backend!r}")
        n_particles = system.getNumParticles()
        atoms = list(range(n_particles)) if atoms is None else [int(i) for i in atoms]
        bad = [i for i in atoms if not 0 <= i < n_particles]
        if bad or len(set(atoms)) != len(atoms):
            raise ValueError(
                f"ML atom indices must be distinct and in [0, {n_particles}); got {bad[:5] or 'duplicates'}"
            )
        numbers = topology_numbers(topology, atoms)
        self.checkElements(numbers)
        box = _box_vectors_nm(topology)
        if box is not None:
            self._check_box(box, cutoff)
        native_d3 = self._d3_native(d3Backend) and len(atoms) == n_particles
        added = {"network": None, "pqeq": None, "d3": None, "mlCharge": float(totalCharge or 0)}
        include_d3 = self.model.shortrange.has_d3 and not native_d3
        groups = charges = None  # the fragments, found once for the network and PQEq
        if self.model.pqeq is not None or self.model.shortrange.network.charge_input:
            groups, charges = self._fragments(
                topology, atoms, fragments, fragmentCharges, totalCharge, positions
            )
        charge_state = self._charge_state(atoms, groups, charges, totalCharge)
        added["network"] = self._network_force(
            system, numbers, box, atoms, backend, include_d3, positions, charge_state
        )
        if native_d3:
            from .d3_force import attach_d3_force

            added["d3"] = attach_d3_force(
                system, self.model, numbers=numbers, force_group=FORCE_GROUPS["d3"]
            )
        if self.model.pqeq is not None:
            added["pqeq"], added["mlCharge"] = self._pqeq_force(
                system, atoms, numbers, box, totalCharge, groups, charges, fixedCharges,
                pqeqMethod, cutoff, ewaldErrorTolerance, solverTolerance, externalField,
                exclusions, checkNeutral,
            )  # fmt: skip
        return added

    def _check_box(self, box, cutoff) -> None:
        half = 0.5 * _min_width(box)  # nm
        pq_cut = cutoff if cutoff is not None else getattr(self.model.pqeq, "cutoff", None)
        if hasattr(pq_cut, "value_in_unit"):
            pq_cut = pq_cut.value_in_unit(openmm.unit.nanometer)
        elif pq_cut is not None and cutoff is None:
            pq_cut = pq_cut * units.ANGSTROM_TO_NM  # the model's cutoff is in Å
        if pq_cut is not None and pq_cut > half + 1e-12:
            raise ValueError(
                f"the PQEq real-space cutoff {pq_cut:.3f} nm exceeds half the smallest box width "
                f"({half:.3f} nm); enlarge the box or pass a smaller cutoff"
            )

    def _pqeq_force(
        self, system, atoms, numbers, box, totalCharge, groups, charges, fixedCharges,
        pqeqMethod, cutoff, ewaldErrorTolerance, solverTolerance, externalField,
        exclusions=(), checkNeutral=True,
    ):  # fmt: skip
        """The PQEqForce of the ML atoms (fragments ``groups``/``charges`` from
        :meth:`_fragments`) with fixed-charge sites elsewhere; returns (force, ML charge e)."""

        n_particles = system.getNumParticles()
        fixed = {i: (0.0, 0.0) for i in range(n_particles)}
        for i in atoms:
            del fixed[i]
        for i, site in (fixedCharges or {}).items():
            if int(i) not in fixed:
                raise ValueError(f"fixed charge on particle {i}, which is an ML atom")
            fixed[int(i)] = (float(site[0]), float(site[1]))
        mm_charge = sum(q for q, _ in fixed.values())
        ml_charge = float(totalCharge or 0.0) if groups is None else sum(charges)
        if checkNeutral and box is not None and abs(ml_charge + mm_charge) > 1e-6:
            raise ValueError(
                f"the periodic system carries a net charge of {ml_charge + mm_charge:+.6g} e (ML "
                f"{ml_charge:+.6g}, fixed sites {mm_charge:+.6g}); add counter-ions to neutralise it"
            )
        all_numbers = [0] * n_particles
        for i, z in zip(atoms, numbers, strict=True):
            all_numbers[i] = z
        if hasattr(cutoff, "value_in_unit"):
            cutoff = cutoff.value_in_unit(openmm.unit.nanometer)
        force = buildModelPQEqForce(
            pqeq_metadata(self.model, numbers),
            all_numbers,
            box is not None,
            method=pqeqMethod,
            cutoff=cutoff,
            total_charge=ml_charge,
            fragments=groups,
            fragment_charges=charges,
            fixed_charges=fixed,
            ewald_error_tolerance=ewaldErrorTolerance,
            solver_tolerance=solverTolerance,
        )
        _check_split_box(force, box)
        for i, j in exclusions:
            force.addExclusion(int(i), int(j))
        force.setDefaultExternalField(*field_to_openmm(externalField, "V/nm"))
        force.setForceGroup(FORCE_GROUPS["pqeq"])
        system.addForce(force)
        return force, ml_charge

    # -- systems ------------------------------------------------------------------------------
    def createSystem(
        self,
        topology,
        totalCharge: float = 0.0,
        fragments=None,
        fragmentCharges=None,
        externalField=(0.0, 0.0, 0.0),
        backend: str = DEFAULT_BACKEND,
        removeCMMotion: bool = True,
        d3Backend: str = "auto",
        pqeqMethod: str | None = None,
        cutoff=None,
        ewaldErrorTolerance: float = 1e-6,
        solverTolerance: float = 1e-6,
        positions=None,
        hydrogenMass=None,
    ) -> openmm.System:
        """An OpenMM System of the full model for ``topology``.

        Parameters
        ----------
        topology : openmm.app.Topology
            Atoms (elements), bonds (molecules) and, for a periodic System, the box.
        totalCharge : float
            Total charge (e); must equal the sum of the fragment charges, and be 0 when periodic.
        fragments : str, list of list of int or None
            Charge-conserving groups: ``'molecules'`` (connected bonded components),
            ``'residues'``, ``'none'`` (one group of all atoms, charge ``totalCharge``: crystals
            and reactive systems that transfer charge between molecules) or explicit index lists.
            Default None: the model's charge model (:meth:`chargeModel`), the one it was
            trained with, so that MD solves the same function as training.
        fragmentCharges : list, callable or None
            Charge (e) per fragment, ``callable(list_of_atoms) -> e``, or None: residue
            templates (water, ions, amino/nucleic acids; unknown residues 0, logged).
        externalField : sequence of 3 float
            Default homogeneous field (V/nm); change it at run time with
            :func:`~openmm_polarml.openmm.set_external_field` (Context parameters
            ``PQEqFieldX/Y/Z`` in kJ/mol/nm/e).
        backend : str
            ``'python'`` (default, :data:`DEFAULT_BACKEND`): ``openmm.PythonForce`` running the
            eager network, as openmm-ml does; the System survives XML (the force pickles the
            model's configuration and weights). ``'torch'``: openmm-torch ``TorchForce`` of a
            TorchScript export (falls back to ``'python'`` with a logged message when openmm-torch
            cannot load; with openmm >= 8.6 and openmmtorch 1.5 such a System cannot be
            deserialised from XML, so openmmtools and openmm-ml cannot copy it: a warning says
            so, see ``docs/backends.md``).
        removeCMMotion : bool
            Add a ``CMMotionRemover``.
        d3Backend : str
            ``'auto'`` (native kernel when built, else with the network), ``'native'`` or
            ``'network'`` (D3 inside the network force).
        pqeqMethod : str, optional
            ``'ewald'``, ``'pme'``, ``'taper'`` or ``'direct'``; default: the model's, with a
            model trained with ``'ewald'`` run by smooth PME (the same lattice sum to
            ``ewaldErrorTolerance``, several times faster; see :func:`buildModelPQEqForce`).
        cutoff : float or Quantity, optional
            PQEq real-space cutoff (nm); default: the model's, else min(0.6 nm, half the box).
        ewaldErrorTolerance, solverTolerance : float
            Lattice-sum accuracy; charge/shell solver tolerance (eV/e, eV/Å).
        positions : array or Quantity, optional
            Positions (nm) used only for the export's parity check (default: a grid).
        hydrogenMass : float or Quantity, optional
            Mass (amu) given to every hydrogen; the difference is taken from the heavy atom it is
            bonded to (hydrogen mass repartitioning, as in ``ForceField.createSystem``), so the
            total mass and the potential energy surface are unchanged. Allows ~1 fs steps with
            flexible water. Hydrogens without a bond in the Topology keep their mass.

        Returns
        -------
        openmm.System
        """
        if hasattr(positions, "value_in_unit"):
            positions = positions.value_in_unit(openmm.unit.nanometer)
        system = openmm.System()
        for atom in topology.atoms():
            if atom.element is None:
                topology_numbers(topology)  # raises with the atom's name
            system.addParticle(atom.element.mass)
        box = topology.getPeriodicBoxVectors()
        if box is not None:
            system.setDefaultPeriodicBoxVectors(*box)
        self.addForces(
            topology, system, None, backend, d3Backend, totalCharge, fragments, fragmentCharges,
            None, pqeqMethod, cutoff, ewaldErrorTolerance, solverTolerance, externalField, positions,
        )  # fmt: skip
        if hydrogenMass is not None:
            repartition_hydrogen_mass(system, topology, hydrogenMass)
        if removeCMMotion:
            system.addForce(openmm.CMMotionRemover())
        return system

    def createMixedSystem(self, topology, mmSystem, mlAtoms, **kwargs) -> openmm.System:
        """ML/MM System: ``mlAtoms`` by the model inside ``mmSystem``.

        See :func:`openmm_polarml.openmm.mixed.createMixedSystem` for the options (electrostatic
        or mechanical embedding, MM site radii, ML region charge).
        """
        return build_mixed_system(self, topology, mmSystem, mlAtoms, **kwargs)
