"""Native OpenMM side of openmm_polarml: the PQEqForce plugin and its helpers.

Importing this module loads the compiled plugin (``PolarMLPQEq`` API library and the kernel
plugins in ``lib/plugins``) into OpenMM. Failures that concern this package are collected in
:data:`PLUGIN_LOAD_FAILURES` and reported with a warning that says how to fix them.

External field: three global context parameters (unit kJ/mol/nm/e)::

    PQEqFieldX, PQEqFieldY, PQEqFieldZ

Use :func:`field_to_openmm` / :func:`set_external_field` to convert from V/nm or V/Å
(1 V/nm = 96.4853 kJ/mol/nm/e, 1 V/Å = 964.853 kJ/mol/nm/e).
"""

from __future__ import annotations

import os
import warnings

import openmm

from .. import units

__all__ = [
    "PQEqForce",
    "FIELD_PARAMETERS",
    "PLUGIN_LOAD_FAILURES",
    "plugin_directory",
    "field_to_openmm",
    "set_external_field",
    "get_external_field",
    "createPQEqForce",
    "load_element_table",
]

FIELD_PARAMETERS = ("PQEqFieldX", "PQEqFieldY", "PQEqFieldZ")
PLUGIN_LOAD_FAILURES: list[str] = []

_REBUILD_HINT = (
    "rebuild the native plugin against the installed openmm: "
    "`pip install --no-build-isolation --no-deps -e .` in the openmm_polarml checkout "
    "(openmm and the plugin must come from the same openmm version)"
)

try:
    from . import pqeqplugin as _pqeqplugin
    from .pqeqplugin import PQEqForce
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        f"openmm_polarml.openmm: the compiled PQEqForce bindings are missing or broken ({exc}); "
        + _REBUILD_HINT
    ) from exc


def plugin_directory() -> str:
    """Directory holding the kernel plugins (Reference/CPU, CUDA when built)."""
    return os.path.join(
        os.path.dirname(os.path.abspath(_pqeqplugin._pqeqplugin.__file__)), "lib", "plugins"
    )


def _load_plugins() -> None:
    directory = plugin_directory()
    if not os.path.isdir(directory):
        msg = f"openmm_polarml: plugin directory {directory} does not exist; " + _REBUILD_HINT
        PLUGIN_LOAD_FAILURES.append(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return
    openmm.Platform.loadPluginsFromDirectory(directory)
    for failure in openmm.Platform.getPluginLoadFailures():
        if "PolarML" in failure or "openmm_polarml" in failure or directory in failure:
            PLUGIN_LOAD_FAILURES.append(failure)
    for failure in PLUGIN_LOAD_FAILURES:
        hint = ""
        if "CUDA" in failure or "cuda" in failure:
            hint = " (the CUDA kernels need the CUDA driver/toolkit the plugin was built with; the "
            hint += "Reference and CPU platforms are unaffected)"
        warnings.warn(
            f"openmm_polarml: failed to load an OpenMM plugin: {failure}{hint}; " + _REBUILD_HINT,
            RuntimeWarning,
            stacklevel=2,
        )


_load_plugins()


# ---------------------------------------------------------------------------------------------
# external field
def field_to_openmm(field, unit: str = "V/nm") -> tuple[float, float, float]:
    """Convert a field vector from ``unit`` ('V/nm', 'V/A' or 'V/Å', 'kJ/mol/nm/e') to kJ/mol/nm/e."""
    u = unit.replace("Å", "A").replace(" ", "")
    if u in ("V/nm",):
        f = units.V_PER_NM_TO_KJ_PER_MOL_NM_E
    elif u in ("V/A", "V/Angstrom"):
        f = units.V_PER_ANGSTROM_TO_KJ_PER_MOL_NM_E
    elif u in ("kJ/mol/nm/e", "kJ/(mol*nm*e)"):
        f = 1.0
    else:
        raise ValueError(f"unknown field unit {unit!r}; use 'V/nm', 'V/A' or 'kJ/mol/nm/e'")
    values = [float(x) for x in field]
    if len(values) != 3:
        raise ValueError("field must have three components")
    return (values[0] * f, values[1] * f, values[2] * f)


def set_external_field(context: openmm.Context, field, unit: str = "V/nm") -> None:
    """Set the homogeneous external field of every PQEqForce in ``context``."""
    for name, value in zip(FIELD_PARAMETERS, field_to_openmm(field, unit), strict=True):
        context.setParameter(name, value)


def get_external_field(context: openmm.Context, unit: str = "V/nm") -> tuple[float, float, float]:
    """Current field of a context, converted to ``unit``."""
    scale = field_to_openmm((1.0, 0.0, 0.0), unit)[0]
    return tuple(context.getParameter(n) / scale for n in FIELD_PARAMETERS)


# ---------------------------------------------------------------------------------------------
# element table and force construction
_ELEMENT_TABLE_CACHE: dict[str, dict] = {}

#: formal charges used for single-atom fragments (monatomic ions) when none are given
ION_CHARGES = {
    "Li": 1,
    "Na": 1,
    "K": 1,
    "Rb": 1,
    "Cs": 1,
    "Mg": 2,
    "Ca": 2,
    "Sr": 2,
    "Ba": 2,
    "Zn": 2,
    "F": -1,
    "Cl": -1,
    "Br": -1,
    "I": -1,
}


def load_element_table(path: str | None = None) -> dict[str, dict]:
    """PQEq element parameters from the shipped CSV, in OpenMM units.

    Returns ``{symbol: dict(chi, eta, radius, springK, shellCharge, polarizable)}`` with chi in
    kJ/mol/e, eta in kJ/mol/e², radius in nm and springK in kJ/mol/nm².
    """
    if path is None:
        path = os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            "data",
            "pqeq_parameters.csv",
        )
    if path in _ELEMENT_TABLE_CACHE:
        return _ELEMENT_TABLE_CACHE[path]
    table = {}
    with open(path) as fh:
        lines = [ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")]
    header = lines[0].split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=True))
        ks_ev_a2 = float(row["Ks_kcal_per_mol_A2"]) * units.KCAL_PER_MOL_TO_EV
        table[row["symbol"]] = dict(
            chi=float(row["chi0_eV"]) * units.EV_TO_KJ_PER_MOL,
            eta=float(row["eta0_eV"]) * units.EV_TO_KJ_PER_MOL,
            radius=float(row["rad_A"]) * units.ANGSTROM_TO_NM,
            springK=ks_ev_a2 * units.EV_TO_KJ_PER_MOL / units.ANGSTROM_TO_NM**2,
            shellCharge=float(row["shell_charge"]),
            polarizable=row["polarizable"].strip().lower() in ("true", "1", "yes"),
        )
    _ELEMENT_TABLE_CACHE[path] = table
    return table


def _to_nm(value):
    if value is None:
        return None
    if hasattr(value, "value_in_unit"):
        return value.value_in_unit(openmm.unit.nanometer)
    return float(value)


_METHODS = {
    "nocutoff": PQEqForce.NoCutoff,
    "direct": PQEqForce.NoCutoff,
    "ewald": PQEqForce.Ewald,
    "pme": PQEqForce.PME,
    "taper": PQEqForce.Taper,
    "tapernonperiodic": PQEqForce.TaperNonPeriodic,
}


def createPQEqForce(
    topology,
    nonbondedMethod="PME",
    cutoff=None,
    ewaldErrorTolerance: float = 1e-6,
    solverTolerance: float = 1e-6,
    fragments: str | list = "molecules",
    fragmentCharges=None,
    totalCharge: float = 0.0,
    fixedCharges: dict | None = None,
    parameters: str | None = None,
    polarizable: bool = True,
    exclusions=(),
):
    """Build a PQEqForce for an OpenMM ``Topology`` from the shipped element table.

    nonbondedMethod: 'NoCutoff', 'Ewald', 'PME', 'Taper', 'TaperNonPeriodic' or a PQEqForce enum.
    fragments: 'molecules' (connected components of the bond graph), 'residues', 'none' (one
    fragment of all equilibrated atoms with ``totalCharge``) or a list of atom-index lists.
    fragmentCharges: list (one per fragment), callable(list_of_atoms) -> charge, or None; None uses
    0 for every fragment except monatomic ions (:data:`ION_CHARGES`).
    fixedCharges: {atom_index: charge} for MM atoms that polarise the others but are not
    equilibrated (point charges). polarizable=False drops every shell (plain QEq).
    """
    table = load_element_table(parameters)
    force = PQEqForce()
    if isinstance(nonbondedMethod, str):
        nonbondedMethod = _METHODS[nonbondedMethod.lower()]
    force.setNonbondedMethod(nonbondedMethod)
    if cutoff is not None:
        force.setCutoffDistance(_to_nm(cutoff))
    force.setEwaldErrorTolerance(ewaldErrorTolerance)
    force.setSolverTolerance(solverTolerance)
    force.setTotalCharge(totalCharge)
    fixedCharges = dict(fixedCharges or {})
    atoms = list(topology.atoms())
    for atom in atoms:
        if atom.index in fixedCharges:
            force.addFixedChargeParticle(float(fixedCharges[atom.index]), 0.0)
            continue
        if atom.element is None:
            raise ValueError(f"atom {atom} has no element; give it a fixed charge instead")
        p = table[atom.element.symbol]
        force.addParticle(
            p["chi"],
            p["eta"],
            p["radius"],
            p["springK"],
            p["shellCharge"],
            bool(p["polarizable"] and polarizable),
        )
    for i, j in exclusions:
        force.addExclusion(int(i), int(j))
    groups = _fragment_groups(topology, atoms, fragments)
    if groups is not None:
        groups = [[i for i in g if i not in fixedCharges] for g in groups]
        groups = [g for g in groups if g]
        for k, group in enumerate(groups):
            if fragmentCharges is None:
                q = 0.0
                if len(group) == 1:
                    q = float(ION_CHARGES.get(atoms[group[0]].element.symbol, 0))
            elif callable(fragmentCharges):
                q = float(fragmentCharges([atoms[i] for i in group]))
            else:
                q = float(fragmentCharges[k])
            force.addFragment(group, q)
    return force


def _fragment_groups(topology, atoms, fragments):
    if isinstance(fragments, str):
        mode = fragments.lower()
        if mode == "none":
            return None
        if mode == "residues":
            return [[a.index for a in res.atoms()] for res in topology.residues()]
        if mode == "molecules":
            parent = list(range(len(atoms)))

            def find(i):
                while parent[i] != i:
                    parent[i] = parent[parent[i]]
                    i = parent[i]
                return i

            for bond in topology.bonds():
                a, b = find(bond[0].index), find(bond[1].index)
                if a != b:
                    parent[a] = b
            comps: dict[int, list[int]] = {}
            for i in range(len(atoms)):
                comps.setdefault(find(i), []).append(i)
            return sorted(comps.values(), key=lambda g: g[0])
        raise ValueError(f"unknown fragments mode {fragments!r}")
    return [list(map(int, g)) for g in fragments]
