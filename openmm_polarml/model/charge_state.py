"""Each atom's charge state, the network's charge input: the reference charges q⁰ of the charge model.

q⁰ is the total charge of an atom's fragment spread evenly over the fragment's atoms (e): a
monatomic ion of the ``molecules`` charge model carries its formal charge (Na⁺ +1, Cl⁻ −1), each
atom of NO₃⁻ −1/4, an atom of a neutral molecule 0; with one fragment per structure (the ``none``
charge model, or a structure whose formal charges do not add up) every atom carries Q/N. These
are the split-charge model's reference charges too (:func:`openmm_polarml.pqeq.split_charge.
reference_charges`), so training, the ASE calculators and OpenMM give the network the same input
from the same fragments.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from openmm_polarml.data_io import keys as K

__all__ = [
    "charge_state_of_atoms",
    "charge_state_of_batch",
    "charge_state_of_frame",
    "charge_state_of_groups",
]


def charge_state_of_groups(
    n_atoms: int,
    groups: Sequence[Sequence[int]] | None,
    charges: Sequence[float] | torch.Tensor | None,
    total_charge: float = 0.0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """``[n_atoms]`` reference charges q⁰ (e) of one structure.

    Parameters
    ----------
    n_atoms : int
        Number of atoms.
    groups : sequence of sequences of int, or None
        Atom indices of each fragment (together every atom once); None: one fragment.
    charges : sequence of float, or None
        Total charge (e) of each fragment (None: all neutral).
    total_charge : float
        Total charge (e) of the structure, used when ``groups`` is None.
    dtype : torch.dtype
        Output dtype.
    """
    if groups is None:
        return torch.full((n_atoms,), float(total_charge) / max(n_atoms, 1), dtype=dtype)
    if charges is None:
        charges = [0.0] * len(groups)
    if len(charges) != len(groups):
        raise ValueError(f"{len(charges)} fragment charges for {len(groups)} fragments")
    out = torch.full((n_atoms,), float("nan"), dtype=dtype)
    for group, charge in zip(groups, charges, strict=True):
        index = torch.as_tensor(group, dtype=torch.long).reshape(-1)
        if index.numel() == 0:
            raise ValueError("a fragment without atoms")
        out[index] = float(charge) / index.numel()
    if torch.isnan(out).any():
        missing = torch.nonzero(torch.isnan(out)).flatten()[:8].tolist()
        raise ValueError(f"atoms {missing} belong to no fragment; the fragments must cover all")
    return out


def charge_state_of_batch(data: dict, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``[N]`` reference charges q⁰ (e) of a collated batch (its fragments, fragment charges and
    total charges; frames without fragments are one fragment)."""
    ptr = data[K.PTR].tolist()
    dtype = dtype or data[K.POSITIONS].dtype
    totals = data.get(K.TOTAL_CHARGE)
    groups_of = data.get(K.FRAGMENTS)
    charges_of = data.get(K.FRAGMENT_CHARGES)
    parts = []
    for b in range(len(ptr) - 1):
        groups = None if groups_of is None else groups_of[b]
        charges = None if charges_of is None else charges_of[b]
        if charges is not None:
            charges = torch.as_tensor(charges).tolist()
        total = 0.0 if totals is None else float(totals[b])
        parts.append(charge_state_of_groups(ptr[b + 1] - ptr[b], groups, charges, total, dtype))
    return torch.cat(parts).to(data[K.POSITIONS].device)  # [N]


def charge_state_of_frame(frame: dict, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``[n]`` reference charges q⁰ (e) of one uncollated frame
    (:func:`~openmm_polarml.data_io.atoms_to_frame`)."""
    n = int(frame[K.NUMBERS].shape[0])
    groups = frame.get(K.FRAGMENTS, [None])[0]
    charges = frame.get(K.FRAGMENT_CHARGES, [None])[0]
    total = float(frame[K.TOTAL_CHARGE][0]) if K.TOTAL_CHARGE in frame else 0.0
    if charges is not None:
        charges = torch.as_tensor(charges).tolist()
    return charge_state_of_groups(n, groups, charges, total, dtype)


def charge_state_of_atoms(atoms, fragments: str = "none", dtype=torch.float64) -> torch.Tensor:
    """``[n]`` reference charges q⁰ (e) of an ``ase.Atoms`` under the charge model ``fragments``
    (explicit ``atoms.arrays["fragment"]`` labels first, as in
    :func:`~openmm_polarml.data_io.dataset.frame_charge_groups`)."""
    from openmm_polarml.data_io import atoms_to_frame

    return charge_state_of_frame(atoms_to_frame(atoms, fragments), dtype)
