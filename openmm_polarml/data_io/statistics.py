"""Dataset statistics: per-element reference energies by least squares, force RMS, neighbours."""

from __future__ import annotations

import torch

from openmm_polarml.data_io import keys as K

MAX_Z = 94


def reference_energies(
    frames: list, energies: list | None = None, ridge: float = 1e-3
) -> torch.Tensor:
    """Per-element energies ``e_Z`` from a ridge-regularised least-squares fit (eV).

    Minimises ``Σ_frames (E − Σ_Z n_Z e_Z)² + λ Σ_Z (e_Z − ē)²`` with ``ē`` the mean energy per
    atom and ``λ = ridge · mean(diag(NᵀN))``: without the ridge, elements seen in few frames get
    wild values (hundreds of eV) that do not transfer to other structures.

    Parameters
    ----------
    frames : list of dict
        Frames from :func:`~openmm_polarml.data_io.dataset.atoms_to_frame`.
    energies : list of float, optional
        Target energies (eV); defaults to each frame's ``energy``.
    ridge : float
        Relative ridge strength (0: plain least squares).

    Returns
    -------
    torch.Tensor
        ``[95]`` float64; ``ē`` for absent elements.
    """
    counts = torch.zeros(len(frames), MAX_Z + 1, dtype=torch.float64)
    for b, f in enumerate(frames):
        counts[b] += torch.bincount(f[K.NUMBERS], minlength=MAX_Z + 1).double()
    if energies is None:
        target = torch.tensor([float(f[K.ENERGY][0]) for f in frames], dtype=torch.float64)
    else:
        target = torch.as_tensor(energies, dtype=torch.float64)
    n = counts.sum(1)
    mean = float(target.sum() / n.sum().clamp_min(1.0))
    present = counts.sum(0) > 0
    a = counts[:, present]
    normal = a.T @ a
    lam = ridge * float(torch.diagonal(normal).mean()) if ridge > 0 else 0.0
    eye = torch.eye(normal.shape[0], dtype=torch.float64)
    rhs = a.T @ (target - n * mean)
    if lam > 0:
        delta = torch.linalg.solve(normal + lam * eye, rhs)
    else:
        delta = torch.linalg.lstsq(a, (target - n * mean).unsqueeze(-1), driver="gelsd")
        delta = delta.solution.squeeze(-1)
    out = torch.full((MAX_Z + 1,), mean, dtype=torch.float64)
    out[present] += delta
    return out


def dataset_statistics(frames: list, r_max: float = 5.0) -> dict:
    """Summary numbers used to initialise a model and reported by the CLI.

    Returns
    -------
    dict
        ``n_frames``, ``n_atoms``, ``elements`` (sorted Z), ``force_rms`` (eV/Å),
        ``avg_num_neighbors`` (within ``r_max``), ``energy_per_atom_mean`` (eV).
    """
    from openmm_polarml.data_io.dataset import collate
    from openmm_polarml.neighbors import batched_neighbor_list

    batch = collate(frames)
    forces = batch[K.FORCES][batch[K.HAS_FORCES][batch[K.BATCH]]]
    nl = batched_neighbor_list(
        batch[K.POSITIONS], batch[K.CELL], batch[K.PBC], batch[K.PTR], float(r_max), True
    )
    n_atoms = int(batch[K.NUMBERS].numel())
    return {
        "n_frames": len(frames),
        "n_atoms": n_atoms,
        "elements": sorted(set(batch[K.NUMBERS].tolist())),
        "force_rms": float(forces.pow(2).mean().sqrt()) if forces.numel() else 1.0,
        "avg_num_neighbors": float(nl[0].numel()) / max(n_atoms, 1),
        "energy_per_atom_mean": float((batch[K.ENERGY] / batch[K.N_ATOMS]).mean()),
    }


def charge_state_energies(
    frames: list,
    energies: list,
    charge_states: list,
    ridge: float = 1e-3,
    ridge_on: str = "shifts",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element energy corrections and charge-state energies from one least-squares fit (eV).

    Fits ``ΔE_frame ≈ Σ_i [δe_Z(i) + c1_Z(i) q⁰_i]`` to energy errors ΔE: the change of the
    element shifts and the linear column of the charge-energy table of a network with a charge
    input (the quadratic column stays zero here and is left to training: an ion seen at one charge
    makes q⁰ and q⁰² nearly collinear, and a fit of both turns noise into large opposite terms).
    Neutral frames (q⁰ = 0) pin the shifts, charged fragments the charge terms, so an ion's offset
    against the neutral atom is fitted where the data show it. The ridge (relative to the mean
    diagonal of the normal matrix) pulls the shift corrections towards zero and leaves the charge
    terms free: an element seen only as an ion at one charge makes its count and charge columns
    collinear, and the ridge on the shift then puts the offset into the charge term (Na⁺ in
    water) rather than into the shift; terms the data cannot separate at all get the
    minimum-norm solution. That is the choice when the charge terms are new (they start at zero).
    When they were already trained and the fit corrects a model for another level of theory
    (fine-tuning), ``ridge_on="charges"`` puts the ridge on the charge terms instead: an element
    seen only as an ion then moves its shift (the new level's atomic reference energy) and keeps
    the ion offset it learnt.

    Parameters
    ----------
    frames : list of dict
        Frames (their atomic numbers).
    energies : list of float
        Energy error of each frame (eV).
    charge_states : list of torch.Tensor
        ``[n]`` reference charges q⁰ (e) of each frame's atoms.
    ridge : float
        Relative ridge strength (0: minimum-norm least squares).
    ridge_on : str
        ``"shifts"`` (default) or ``"charges"``: the columns the ridge pulls towards zero.

    Returns
    -------
    shift_corrections : torch.Tensor
        ``[95]`` (eV); zero for absent elements.
    charge_energy : torch.Tensor
        ``[95, 2]`` (eV/e, eV/e²): ``c1`` fitted (zero for elements never charged), ``c2`` zero.
    """
    width = MAX_Z + 1
    design = torch.zeros(len(frames), 2 * width, dtype=torch.float64)  # [B, counts|q]
    for b, (f, q) in enumerate(zip(frames, charge_states, strict=True)):
        z = f[K.NUMBERS].long()
        q = torch.as_tensor(q, dtype=torch.float64)
        design[b, :width] += torch.bincount(z, minlength=width).double()
        design[b, width:] += torch.bincount(z, weights=q, minlength=width)
    target = torch.as_tensor(energies, dtype=torch.float64)  # [B]
    used = design.abs().sum(0) > 0
    a = design[:, used]
    # ridge on one kind of column only, as extra rows of the least-squares problem; gelsd
    # takes the minimum norm where the data do not separate terms (water's O and H, say)
    scale = float((a * a).sum(0).mean())
    if ridge_on not in ("shifts", "charges"):
        raise ValueError(f"ridge_on must be 'shifts' or 'charges', got {ridge_on!r}")
    weights = torch.zeros(2 * width, dtype=torch.float64)
    weights[slice(None, width) if ridge_on == "shifts" else slice(width, None)] = ridge * scale
    rows = torch.diag(weights[used].sqrt())[weights[used] > 0]  # [k, m]
    stacked = torch.cat([a, rows])  # [B + k, m]
    rhs = torch.cat([target, target.new_zeros(rows.shape[0])])
    delta = torch.linalg.lstsq(stacked, rhs.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
    full = torch.zeros(2 * width, dtype=torch.float64)
    full[used] = delta
    table = torch.zeros(width, 2, dtype=torch.float64)
    table[:, 0] = full[width:]
    return full[:width], table
