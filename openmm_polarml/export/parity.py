"""Parity of an exported TorchForce artifact with the eager model it came from.

The artifact and the eager model run the same arithmetic in a different operation order (TorchScript
fuses and reorders), so they differ by rounding. In float64 that is ~1e-12 relative and a fixed
relative tolerance is the right test. In float32 the rounding grows with the system: coordinates are
stored with a relative precision of ~6e-8, so the absolute error of every interatomic distance (and
hence of every force) grows with the box size, and the energy error grows with the number of atoms.
A fixed 1e-5 relative force tolerance is below float32's own accuracy for boxes of ~5 nm (12,000
atoms: the eager float32 model itself is 1.8e-5 off its float64 evaluation). There, the artifact is
accepted when it is as accurate as the eager float32 model: its error against the float64 eager model
is at most twice the eager float32 model's own error (plus the fixed tolerance). The eager energy
error can cancel by chance, so it is floored by the random-walk rounding estimate eps·sqrt(N)·|E|.
"""

from __future__ import annotations

import torch

from openmm_polarml import units
from openmm_polarml.model.builder import fresh_copy

DEFAULT_TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
FLOAT32_CALIBRATION_FACTOR = 2.0  # artifact error allowed, in units of the eager float32 error
FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


def eager_reference(model, atoms, include_d3: bool):
    """Energy (kJ/mol) and forces ([N, 3] kJ/mol/nm, float64) of the eager model in its dtype."""
    from openmm_polarml.data_io import atoms_to_frame, collate

    frame = atoms_to_frame(atoms, model.config.get("fragments", "none"))  # charge states
    data = collate([frame], dtype=model.shortrange.network.shift.dtype)
    out = model(data, compute_forces=True, include_pqeq=False, include_d3=include_d3)
    energy = float(out["energy"][0].detach()) * units.EV_TO_KJ_PER_MOL
    forces = out["forces"].detach().double() * (units.EV_TO_KJ_PER_MOL / units.ANGSTROM_TO_NM)
    return energy, forces  # forces: [N, 3]


def _deviation(energy: float, forces: torch.Tensor, ref_energy: float, ref_forces: torch.Tensor):
    de = abs(energy - ref_energy)
    df = float((forces.double() - ref_forces).abs().max()) if ref_forces.numel() else 0.0
    return de, df


def check_parity(
    model,
    atoms,
    energy: float,
    forces: torch.Tensor,
    include_d3: bool,
    tolerance: float | None = None,
) -> dict:
    """Compare an artifact's energy and forces with the eager model; raise if they disagree.

    Parameters
    ----------
    model : PolarMLModel
        The eager model (its dtype is the artifact's).
    atoms : ase.Atoms
        The geometry both were evaluated at.
    energy : float
        Artifact energy, kJ/mol.
    forces : torch.Tensor
        Artifact forces on ``atoms``, [N, 3] kJ/mol/nm.
    include_d3 : bool
        Whether the artifact holds D3.
    tolerance : float, optional
        Relative tolerance (default 1e-10 in float64, 1e-5 in float32); energy relative to
        max(1, |E|), forces to max(1, max|F|).

    Returns
    -------
    dict
        ``energy_kj_per_mol`` and ``forces_kj_per_mol_nm`` (max abs. differences to the eager model
        in the same dtype); in float32 beyond the fixed tolerance also the float64 comparison.
    """
    dtype = model.shortrange.network.shift.dtype
    tol = tolerance if tolerance is not None else DEFAULT_TOLERANCE.get(dtype, 1e-5)
    e_ref, f_ref = eager_reference(model, atoms, include_d3)
    de, df = _deviation(energy, forces, e_ref, f_ref)
    scale_e = max(1.0, abs(e_ref))
    scale_f = max(1.0, float(f_ref.abs().max()) if f_ref.numel() else 1.0)
    parity = {"energy_kj_per_mol": de, "forces_kj_per_mol_nm": df}
    if de <= tol * scale_e and df <= tol * scale_f:
        return parity
    if dtype == torch.float32:
        parity.update(_float32_calibrated(model, atoms, energy, forces, (e_ref, f_ref), include_d3))
        # the eager energy error can cancel by chance: floor it by a random-walk rounding estimate
        rounding_e = FLOAT32_EPS * len(atoms) ** 0.5 * scale_e
        eager_e = max(parity["eager_float32_energy_error"], rounding_e)
        allowed_e = tol * scale_e + FLOAT32_CALIBRATION_FACTOR * eager_e
        allowed_f = (
            tol * scale_f + FLOAT32_CALIBRATION_FACTOR * parity["eager_float32_forces_error"]
        )
        if parity["energy_vs_float64"] <= allowed_e and parity["forces_vs_float64"] <= allowed_f:
            return parity
    raise RuntimeError(
        f"exported artifact disagrees with the eager model: |dE| = {de:.3e} kJ/mol, "
        f"max |dF| = {df:.3e} kJ/mol/nm (tolerance {tol:g} relative"
        + (
            f"; against float64 the artifact is off by {parity['energy_vs_float64']:.3e} kJ/mol and "
            f"{parity['forces_vs_float64']:.3e} kJ/mol/nm, the eager float32 model by "
            f"{parity['eager_float32_energy_error']:.3e} and {parity['eager_float32_forces_error']:.3e})"
            if "energy_vs_float64" in parity
            else ")"
        )
    )


def _float32_calibrated(model, atoms, energy, forces, eager32, include_d3: bool) -> dict:
    """Errors of the artifact and of the eager float32 model against the eager float64 model."""
    e64, f64 = eager_reference(fresh_copy(model).to(torch.float64), atoms, include_d3)
    de_art, df_art = _deviation(energy, forces, e64, f64)
    de_eager, df_eager = _deviation(eager32[0], eager32[1], e64, f64)
    return {
        "energy_vs_float64": de_art,
        "forces_vs_float64": df_art,
        "eager_float32_energy_error": de_eager,
        "eager_float32_forces_error": df_eager,
    }
