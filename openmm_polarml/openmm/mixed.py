"""Polarizable ML/MM: the model for a region of an MM System, with electrostatic embedding.

``createMixedSystem(potential, topology, mmSystem, mlAtoms)`` returns a copy of ``mmSystem`` in
which the ML atoms are described by the model and

- **electrostatic embedding** (default): every MM particle's fixed charge becomes a
  fixed-charge site of the model's ``PQEqForce`` (a point charge, or a Gaussian of the element's
  PQEq radius with ``mmRadii='pqeq'``), so the MM charges polarise the ML charges and shells and
  feel the ML charges back. All Coulomb terms leave the MM ``NonbondedForce``: its particle
  charges are zeroed, ML–ML exceptions are zeroed, and MM–MM exceptions keep their scaled
  (1-4) charge products while the same pairs are excluded from ``PQEqForce``, so MM–MM
  electrostatics are unchanged and nothing is counted twice. MM Lennard-Jones between the
  regions stays; ML–ML Lennard-Jones and bonded terms inside the ML region are removed;
- **mechanical embedding** (``embedding='mechanical'``): ML–MM electrostatics stay the MM
  force field's fixed-charge Coulomb, and ``PQEqForce`` equilibrates the ML region alone.

Net charges: the ML region's charge is the sum of its fragment charges (residue templates or
``fragmentCharges``); the MM region keeps its force-field charges. A periodic mixed System must
be neutral overall (ML + MM): a net charge is an error that names both parts. Covalent bonds
between the regions (link atoms) are not supported and raise an error.
"""

from __future__ import annotations

import copy

import openmm

from .defaults import DEFAULT_BACKEND

__all__ = ["createMixedSystem"]

_BONDED = {
    "HarmonicBondForce": (2, "getBondParameters", "setBondParameters", "getNumBonds"),
    "HarmonicAngleForce": (3, "getAngleParameters", "setAngleParameters", "getNumAngles"),
    "PeriodicTorsionForce": (4, "getTorsionParameters", "setTorsionParameters", "getNumTorsions"),
    "RBTorsionForce": (4, "getTorsionParameters", "setTorsionParameters", "getNumTorsions"),
}


def _zero_internal_bonded(system, ml: set[int]) -> None:
    """Zero the force constants of bonded terms whose atoms all lie in the ML region."""
    for force in system.getForces():
        name = type(force).__name__
        if name in _BONDED:
            n_atoms, getter, setter, counter = _BONDED[name]
            for k in range(getattr(force, counter)()):
                params = list(getattr(force, getter)(k))
                if set(params[:n_atoms]) <= ml:
                    if name == "RBTorsionForce":
                        params[n_atoms:] = [0.0] * 6
                    else:
                        params[-1] = 0.0 * params[-1]  # the force constant, unit kept
                    getattr(force, setter)(k, *params)
        elif name in _OTHER_BONDED:
            counter, getter, first, n_atoms = _OTHER_BONDED[name]
            for k in range(getattr(force, counter)()):
                if set(getattr(force, getter)(k)[first : first + n_atoms]) <= ml:
                    raise ValueError(
                        f"{name} has terms inside the ML region; remove them from mmSystem first"
                    )


_OTHER_BONDED = {
    "CMAPTorsionForce": ("getNumTorsions", "getTorsionParameters", 1, 8),
    "CustomBondForce": ("getNumBonds", "getBondParameters", 0, 2),
    "CustomAngleForce": ("getNumAngles", "getAngleParameters", 0, 3),
    "CustomTorsionForce": ("getNumTorsions", "getTorsionParameters", 0, 4),
}


def _remove_ml_constraints(system, ml: set[int]) -> None:
    for k in reversed(range(system.getNumConstraints())):
        i, j, _ = system.getConstraintParameters(k)
        if i in ml or j in ml:
            system.removeConstraint(k)


def _check_no_link_bonds(topology, ml: set[int]) -> None:
    for a, b in topology.bonds():
        if (a.index in ml) != (b.index in ml):
            raise ValueError(
                f"bond {a.residue.name}{a.residue.id}:{a.name} - {b.residue.name}{b.residue.id}:"
                f"{b.name} crosses the ML/MM boundary; link atoms are not supported: choose "
                "mlAtoms as whole molecules"
            )


def _nonbonded(system):
    forces = [f for f in system.getForces() if isinstance(f, openmm.NonbondedForce)]
    if len(forces) != 1:
        raise ValueError(f"mmSystem must have exactly one NonbondedForce, found {len(forces)}")
    for f in system.getForces():
        if type(f).__name__.startswith("Amoeba") or isinstance(f, openmm.DrudeForce):
            raise ValueError(
                f"{type(f).__name__} is not supported; use a fixed-charge MM force field"
            )
    return forces[0]


def _electrostatic_embedding(nonbonded, ml: set[int]):
    """Move every charge out of ``nonbonded``; returns MM charges (e) and MM–MM exclusions."""
    e = openmm.unit.elementary_charge
    charges = {}
    for i in range(nonbonded.getNumParticles()):
        q, sigma, epsilon = nonbonded.getParticleParameters(i)
        if i not in ml:
            charges[i] = q.value_in_unit(e)
        nonbonded.setParticleParameters(i, 0.0 * q, sigma, epsilon)
    exclusions = []
    for k in range(nonbonded.getNumExceptions()):
        i, j, qq, sigma, epsilon = nonbonded.getExceptionParameters(k)
        if i in ml and j in ml:
            nonbonded.setExceptionParameters(k, i, j, 0.0 * qq, sigma, 0.0 * epsilon)
        elif i not in ml and j not in ml:
            exclusions.append((i, j))  # its scaled charge product stays in the NonbondedForce
    return charges, exclusions


def _zero_ml_pairs(nonbonded, ml: list[int]) -> None:
    """ML–ML pairs: no Lennard-Jones and no Coulomb in the MM force (the model has them)."""
    existing = {}
    for k in range(nonbonded.getNumExceptions()):
        i, j, qq, sigma, epsilon = nonbonded.getExceptionParameters(k)
        existing[(min(i, j), max(i, j))] = k
    for a, i in enumerate(ml):
        for j in ml[a + 1 :]:
            key = (min(i, j), max(i, j))
            if key in existing:
                k = existing[key]
                _, _, qq, sigma, epsilon = nonbonded.getExceptionParameters(k)
                nonbonded.setExceptionParameters(k, i, j, 0.0 * qq, sigma, 0.0 * epsilon)
            else:
                nonbonded.addException(i, j, 0.0, 1.0, 0.0)


def _pqeq_radius_nm(potential, atomic_number: int, cache: dict) -> float:
    """The model's PQEq Gaussian radius (nm) of an element, looked up once per element."""
    if atomic_number not in cache:
        import torch

        from .. import units

        params = potential.model.pqeq.element_parameters.per_atom(torch.tensor([atomic_number]))
        cache[atomic_number] = float(params["radius"][0]) * units.ANGSTROM_TO_NM
    return cache[atomic_number]


def _mm_radii(potential, topology, mm_charges: dict, mmRadii) -> dict:
    """``{particle: (charge e, Gaussian radius nm)}`` for the MM sites."""
    if mmRadii is None:
        return {i: (q, 0.0) for i, q in mm_charges.items()}
    atoms = list(topology.atoms())
    sites, radii = {}, {}
    for i, q in mm_charges.items():
        element = atoms[i].element
        if mmRadii == "pqeq":
            if element is None:
                raise ValueError(f"MM atom {atoms[i]} has no element for mmRadii='pqeq'")
            radius = _pqeq_radius_nm(potential, element.atomic_number, radii)
        else:
            radius = float(mmRadii.get(element.symbol if element else "", 0.0))
        sites[i] = (q, radius)
    return sites


def createMixedSystem(
    potential,
    topology,
    mmSystem,
    mlAtoms,
    embedding: str = "electrostatic",
    mmRadii=None,
    removeConstraints: bool = True,
    totalCharge: float | None = None,
    fragments=None,
    fragmentCharges=None,
    backend: str = DEFAULT_BACKEND,
    pqeqMethod: str | None = None,
    externalField=(0.0, 0.0, 0.0),
    ewaldErrorTolerance: float = 1e-6,
    solverTolerance: float = 1e-6,
):
    """A copy of ``mmSystem`` with ``mlAtoms`` described by the model (see module docstring).

    Parameters
    ----------
    potential : PolarMLPotential
        The model.
    topology : openmm.app.Topology
        Topology of ``mmSystem``.
    mmSystem : openmm.System
        A fixed-charge MM System with one ``NonbondedForce``.
    mlAtoms : sequence of int
        Particle indices of the ML region (whole molecules).
    embedding : str
        ``'electrostatic'`` (MM charges polarise the ML region through ``PQEqForce``) or
        ``'mechanical'`` (ML–MM Coulomb from the MM charges).
    mmRadii : None, 'pqeq' or dict
        MM sites as point charges (None), Gaussians of the element's PQEq radius, or a
        ``{symbol: radius nm}`` map.
    removeConstraints : bool
        Remove constraints that involve ML atoms (the model's molecules are flexible).
    totalCharge : float, optional
        Charge (e) of the ML region; must match its fragment charges (default: their sum).
    fragments, fragmentCharges, backend, pqeqMethod, externalField, ewaldErrorTolerance, solverTolerance
        As in :meth:`PolarMLPotential.createSystem` (for the ML region; ``pqeqMethod``
        defaults to ``'pme'`` for periodic Systems).

    Returns
    -------
    openmm.System
    """
    if embedding not in ("electrostatic", "mechanical"):
        raise ValueError(f"embedding must be 'electrostatic' or 'mechanical', not {embedding!r}")
    n = mmSystem.getNumParticles()
    if topology.getNumAtoms() != n:
        raise ValueError(f"topology has {topology.getNumAtoms()} atoms, mmSystem {n} particles")
    ml_list = sorted(int(i) for i in mlAtoms)
    out_of_range = [i for i in ml_list if not 0 <= i < n]
    if out_of_range or not ml_list or len(set(ml_list)) != len(ml_list):
        raise ValueError(
            f"mlAtoms must be distinct particle indices in [0, {n}); got {out_of_range[:5] or ml_list[:5]}"
        )
    ml = set(ml_list)
    _check_no_link_bonds(topology, ml)
    system = copy.deepcopy(mmSystem)
    nonbonded = _nonbonded(system)
    _zero_internal_bonded(system, ml)
    if removeConstraints:
        _remove_ml_constraints(system, ml)
    fixed, exclusions = None, ()
    if embedding == "electrostatic":
        charges, exclusions = _electrostatic_embedding(nonbonded, ml)
        fixed = _mm_radii(potential, topology, charges, mmRadii)
    _zero_ml_pairs(nonbonded, ml_list)
    periodic = system.usesPeriodicBoundaryConditions()
    added = potential.addForces(
        topology,
        system,
        ml_list,
        backend=backend,
        d3Backend="network",
        totalCharge=totalCharge,
        fragments=fragments,
        fragmentCharges=fragmentCharges,
        fixedCharges=fixed,
        exclusions=exclusions,
        pqeqMethod=pqeqMethod or ("pme" if periodic else None),
        ewaldErrorTolerance=ewaldErrorTolerance,
        solverTolerance=solverTolerance,
        externalField=externalField,
        checkNeutral=embedding == "electrostatic",
    )
    if embedding == "mechanical" and periodic:
        mm_net = sum(
            nonbonded.getParticleParameters(i)[0].value_in_unit(openmm.unit.elementary_charge)
            for i in range(n)
            if i not in ml
        )
        ml_net = added["mlCharge"]
        if abs(mm_net + ml_net) > 1e-6:
            raise ValueError(
                f"the periodic system carries a net charge of {mm_net + ml_net:+.6g} e (ML "
                f"{ml_net:+.6g}, MM {mm_net:+.6g}); add counter-ions to neutralise it"
            )
    return system
