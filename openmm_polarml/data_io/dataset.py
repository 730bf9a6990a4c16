"""Read structures with ase and turn them into (batched) dicts of tensors."""

from __future__ import annotations

import numpy as np
import torch

from openmm_polarml.data_io import keys as K


def read_frames(path: str, index: str = ":") -> list:
    """All frames of any file ase reads (extxyz, .traj, ase.db, ...), as ``ase.Atoms``.

    Gzip'd extxyz is decompressed in memory first: ase seeks inside the file, and every seek
    in a ``GzipFile`` decompresses from the start (quadratic in the file's length).
    """
    import ase.io

    name = str(path)
    if name.endswith((".xyz.gz", ".extxyz.gz")):
        import gzip
        import io

        with gzip.open(name, "rt") as fh:
            text = io.StringIO(fh.read())
        frames = ase.io.read(text, index=index, format="extxyz")
    else:
        frames = ase.io.read(name, index=index)
    return frames if isinstance(frames, list) else [frames]


def _result(atoms, name: str):
    calc = atoms.calc
    if calc is not None and name in getattr(calc, "results", {}):
        return calc.results[name]
    for store in (atoms.info, atoms.arrays):
        for key in (name, f"REF_{name}", f"ref_{name}", f"dft_{name}"):
            if key in store:
                return store[key]
    return None


#: ``atoms.arrays`` key of explicit per-atom fragment labels (with ``info["fragment_charges"]``)
FRAGMENT_ARRAY = "fragment"
#: the charge models a frame can be prepared for (see :mod:`openmm_polarml.pqeq.charge_groups`)
FRAGMENT_MODES = ("none", "molecules")


def frame_charge_groups(atoms, fragments: str = "none"):
    """Fragments of ``atoms`` for the PQEq solve, or None for one fragment of all atoms.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure; explicit labels in ``atoms.arrays["fragment"]`` (integers, one per atom)
        with their charges in ``atoms.info["fragment_charges"]`` (e, one per label in increasing
        order; default 0) take precedence over ``fragments``.
    fragments : str
        ``"none"`` (one total-charge constraint) or ``"molecules"`` (the rule of
        :func:`openmm_polarml.pqeq.charge_groups.charge_groups_of_atoms`).

    Returns
    -------
    tuple of (list of list of int, list of float) or None
    """
    if FRAGMENT_ARRAY in atoms.arrays:
        labels = np.asarray(atoms.arrays[FRAGMENT_ARRAY])
        if labels.dtype.kind not in "iu":
            raise ValueError(
                f"atoms.arrays[{FRAGMENT_ARRAY!r}] must hold integer fragment labels, got "
                f"dtype {labels.dtype}"
            )
        unique = np.unique(labels)
        charges = atoms.info.get("fragment_charges", [0.0] * len(unique))
        if len(charges) != len(unique):
            raise ValueError(
                f"atoms.info['fragment_charges'] has {len(charges)} entries for {len(unique)} "
                f"fragment labels {unique.tolist()}; give one charge (e) per label"
            )
        groups = [np.flatnonzero(labels == u).tolist() for u in unique]
        return groups, [float(q) for q in charges]
    if fragments not in FRAGMENT_MODES:
        raise ValueError(f"fragments must be one of {FRAGMENT_MODES}, got {fragments!r}")
    if fragments == "none":
        return None
    from openmm_polarml.pqeq.charge_groups import charge_groups_of_atoms

    result = charge_groups_of_atoms(atoms)
    return None if len(result.groups) == 1 else (result.groups, result.charges)


def atoms_to_frame(atoms, fragments: str = "none") -> dict:
    """One ``ase.Atoms`` -> dict of float64 tensors with a leading frame axis for per-frame keys.

    Labels are taken from the attached calculator results, or from ``info``/``arrays`` entries
    named ``energy``/``forces``/``stress``/``dipole`` (optionally prefixed ``REF_``). Total charge
    from ``info["charge"]``, external field (V/Å) from ``info["external_field"]``. Fragments
    (atom groups with their own total charges) from :func:`frame_charge_groups` with
    ``fragments``: the keys ``fragments``/``fragment_charges`` hold one-element lists (None for
    a single fragment) that :func:`collate` joins into per-frame lists.
    """
    f64 = torch.float64
    n = len(atoms)
    pbc = torch.as_tensor(np.asarray(atoms.pbc, dtype=bool)).reshape(1, 3)
    frame = {
        K.POSITIONS: torch.as_tensor(np.asarray(atoms.positions), dtype=f64),
        K.NUMBERS: torch.as_tensor(np.asarray(atoms.numbers), dtype=torch.long),
        K.CELL: torch.as_tensor(np.asarray(atoms.cell.array), dtype=f64).reshape(1, 3, 3),
        K.PBC: pbc,
    }
    energy = _result(atoms, "energy")
    if energy is None:
        energy = _result(atoms, "free_energy")
    forces = _result(atoms, "forces")
    stress = _result(atoms, "stress")
    dipole = _result(atoms, "dipole")
    frame[K.ENERGY] = torch.tensor([0.0 if energy is None else float(energy)], dtype=f64)
    frame[K.FORCES] = (
        torch.zeros(n, 3, dtype=f64)
        if forces is None
        else torch.as_tensor(np.asarray(forces), dtype=f64)
    )
    if stress is not None:
        s = np.asarray(stress, dtype=float)
        if s.shape == (6,):
            xx, yy, zz, yz, xz, xy = s
            s = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        stress_t = torch.as_tensor(s, dtype=f64).reshape(1, 3, 3)
    else:
        stress_t = torch.zeros(1, 3, 3, dtype=f64)
    frame[K.STRESS] = stress_t
    frame[K.DIPOLE] = torch.as_tensor(
        np.zeros(3) if dipole is None else np.asarray(dipole), dtype=f64
    ).reshape(1, 3)
    frame[K.TOTAL_CHARGE] = torch.tensor([float(atoms.info.get("charge", 0.0))], dtype=f64)
    field = atoms.info.get("external_field", None)
    frame[K.FIELD] = torch.as_tensor(
        np.zeros(3) if field is None else np.asarray(field, dtype=float), dtype=f64
    ).reshape(1, 3)
    groups = frame_charge_groups(atoms, fragments)
    if groups is not None or fragments != "none":
        frame[K.FRAGMENTS] = [None if groups is None else [torch.as_tensor(g) for g in groups[0]]]
        frame[K.FRAGMENT_CHARGES] = [
            None if groups is None else torch.as_tensor(groups[1], dtype=f64)
        ]
    frame[K.HAS_ENERGY] = torch.tensor([energy is not None])
    frame[K.HAS_FORCES] = torch.tensor([forces is not None])
    frame[K.HAS_STRESS] = torch.tensor([stress is not None and bool(pbc.all())])
    frame[K.HAS_DIPOLE] = torch.tensor([dipole is not None])
    return frame


def frame_to_atoms(frame: dict):
    """Inverse of :func:`atoms_to_frame` for the geometry (no labels)."""
    from ase import Atoms

    return Atoms(
        numbers=frame[K.NUMBERS].numpy(),
        positions=frame[K.POSITIONS].numpy(),
        cell=frame[K.CELL][0].numpy(),
        pbc=frame[K.PBC][0].numpy(),
    )


def collate(frames: list, dtype: torch.dtype = torch.float64) -> dict:
    """Concatenate frames into one batch; adds ``batch [N]``, ``ptr [B+1]``, ``n_atoms [B]``."""
    out = {}
    keys = dict.fromkeys(k for f in frames for k in f)
    for key in keys:
        if key in (K.FRAGMENTS, K.FRAGMENT_CHARGES):  # per-frame lists, None: one fragment
            out[key] = [f.get(key, [None])[0] for f in frames]
            continue
        out[key] = torch.cat([f[key] for f in frames])
        if out[key].is_floating_point():
            out[key] = out[key].to(dtype)
    n_atoms = torch.tensor([f[K.NUMBERS].shape[0] for f in frames], dtype=torch.long)
    out[K.N_ATOMS] = n_atoms
    out[K.PTR] = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(n_atoms, 0)])
    out[K.BATCH] = torch.repeat_interleave(torch.arange(len(frames)), n_atoms)
    return out


def split_indices(n: int, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> list:
    """Random train/validation/test split of ``range(n)`` (lists of indices)."""
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen).tolist()
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    if len(fractions) < 3:
        return [perm[:n_train], perm[n_train : n_train + n_val]]
    return [perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]]
