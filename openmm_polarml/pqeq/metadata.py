"""A model's PQEq settings and element parameters as plain data (eV, Å): what the native
``PQEqForce`` and an exported artifact's metadata are built from."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # the model imports this package; annotations only
    from openmm_polarml.model.full import PolarMLModel


def pqeq_metadata(model: PolarMLModel, elements) -> dict | None:
    """The model's PQEq settings and element parameters (eV, Å) for ``elements`` (Z), or None.

    Under split-charge equilibration (``charge_transfer='split'``) the settings carry
    ``split_cutoff`` (Å) and every element its ``bond_hardness`` κ (eV/e²)."""
    if model.pqeq is None:
        return None
    pq = model.pqeq
    elements = sorted(set(int(z) for z in elements))
    params = pq.element_parameters.per_atom(torch.tensor(elements))
    charge_transfer = getattr(pq, "charge_transfer", "global")
    if charge_transfer == "split":
        params = {**params, "bond_hardness": pq.bond_hardness.per_atom(torch.tensor(elements))}
    offsets = model.head_chi_offsets() if hasattr(model, "head_chi_offsets") else None
    if offsets is not None:  # the selected head's electronegativity offsets
        params = {
            **params,
            "chi": params["chi"] + offsets[torch.tensor(elements)].to(params["chi"]),
        }
    return {
        "settings": {
            "long_range": getattr(pq, "long_range", None),
            "mode": getattr(pq, "mode", None),
            "tolerance": getattr(pq, "tolerance", None),
            "accuracy": getattr(pq, "accuracy", None),
            "cutoff": getattr(pq, "cutoff", None),
            "charge_transfer": charge_transfer,
            "split_cutoff": getattr(pq, "split_cutoff", None),
        },
        "units": {
            "chi": "eV",
            "eta": "eV",
            "radius": "angstrom",
            "spring": "eV/angstrom^2",
            "shell_charge": "e",
            "alpha": "1/angstrom^2",
            "bond_hardness": "eV/e^2",
            "split_cutoff": "angstrom",
        },
        "elements": {
            str(z): {k: float(v[i].detach()) for k, v in params.items()}
            for i, z in enumerate(elements)
        },
    }
