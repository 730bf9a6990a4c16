"""Proton transfer in H₅O₂⁺: the structure, relaxed scans along δ, trajectory checks, the plot.

δ = d(O₁–H*) − d(O₂–H*) (Å) for the shared proton H*, with the O–O distance held fixed.
:func:`relaxed_scan` works with any ASE calculator (the model here, GFN2-xTB in the label
interpreter: this module imports only numpy at module level). The metadynamics run:
:mod:`openmm_polarml.openmm.proton_transfer_md`. Energies in eV, free energies in kJ/mol.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["DELTAS_A", "O1", "SHARED", "O2", "zundel", "relaxed_scan", "check_complex", "plot"]

#: Å, the δ grid of the relaxed scans
DELTAS_A = np.round(np.arange(-0.8, 0.801, 0.1), 3)

O1, SHARED, O2 = 0, 1, 4  # atom indices in zundel(): O1 H* H H O2 H H (molecule order)


def zundel(oo: float, delta: float = -0.6):
    """Staggered H₅O₂⁺ (D2d without H*) along x with H* on the O–O axis at ``delta`` (Å);
    charge +1 in ``info``. The S4 axis along x maps δ to −δ, so E(δ) = E(−δ)."""
    from ase import Atoms

    half = oo / 2
    positions = [
        (-half, 0, 0), (delta / 2, 0.0, 0.0),
        (-half - 0.33, 0.91, 0.0), (-half - 0.33, -0.91, 0.0),
        (half, 0, 0), (half + 0.33, 0.0, 0.91), (half + 0.33, 0.0, -0.91),
    ]  # fmt: skip
    atoms = Atoms("OH3OH2", positions=positions)
    atoms.info["charge"] = 1.0
    return atoms


def relaxed_scan(calc, oo: float, structures: list | None = None) -> list[float]:
    """Energies (eV) of the relaxed scan over :data:`DELTAS_A`: each point relaxed from the
    staggered start with H* placed at its δ (no walking, so no conformer hysteresis); the
    relaxed structures are appended to ``structures`` when given."""
    from ase.constraints import FixInternals
    from ase.optimize import BFGS

    energies = []
    for delta in DELTAS_A:
        atoms = zundel(oo, float(delta))
        atoms.set_constraint(FixInternals(
            bonds=[[oo, [O1, O2]]],
            bondcombos=[[float(delta), [[O1, SHARED, 1.0], [O2, SHARED, -1.0]]]],
        ))  # fmt: skip
        atoms.calc = calc
        if not BFGS(atoms, logfile=None).run(fmax=0.01, steps=400):
            raise RuntimeError(f"relaxation at delta {delta:+.2f} A not converged")
        energies.append(float(atoms.get_potential_energy()))
        if structures is not None:
            structures.append(atoms.copy())
    return energies


def check_complex(folder: Path, topology, oo: float) -> str | None:
    """Why the MD is not a proton-transfer trajectory (None when it is): every other hydrogen
    within 1.3 Å of an oxygen, the shared one within O–O/2 + 0.3 Å (it passes the midpoint),
    and δ inside the bias range (±1 Å), in every frame."""
    import mdtraj

    traj = mdtraj.load_dcd(str(folder / "trajectory.dcd"),
                           top=mdtraj.Topology.from_openmm(topology))  # fmt: skip
    x = traj.xyz * 10.0  # Å, [frames, atoms, 3]
    hydrogens = [a.index for a in traj.topology.atoms if a.element.symbol == "H"]
    to_o = np.minimum(np.linalg.norm(x[:, hydrogens] - x[:, [O1]], axis=-1),
                      np.linalg.norm(x[:, hydrogens] - x[:, [O2]], axis=-1))  # fmt: skip
    limit = np.array([oo / 2 + 0.3 if h == SHARED else 1.3 for h in hydrogens])
    broken = to_o > limit  # [frames, hydrogens]
    if broken.any():
        frame = int(np.argmax(broken.any(axis=1)))  # the first frame that breaks
        k = int(np.argmax(broken[frame]))
        return (f"hydrogen {hydrogens[k]} left the complex ({to_o[frame, k]:.2f} Å from both O) "
                f"at frame {frame}")  # fmt: skip
    delta = np.linalg.norm(x[:, SHARED] - x[:, O1], axis=-1) - np.linalg.norm(
        x[:, SHARED] - x[:, O2], axis=-1
    )
    if np.abs(delta).max() > 1.0:
        return f"δ left the bias range (|δ| up to {np.abs(delta).max():.2f} Å)"
    return None


def plot(summary: dict, path: Path) -> None:
    """Both relaxed scans (kJ/mol above their minima) and the metadynamics F(δ)."""
    import matplotlib.pyplot as plt

    from openmm_polarml.units import EV_TO_KJ_PER_MOL

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for key, label in (
        ("gfn2_scan_eV", "GFN2-xTB relaxed scan"),
        ("model_scan_eV", "model relaxed scan"),
    ):
        e = np.array(summary[key]) * EV_TO_KJ_PER_MOL
        ax.plot(DELTAS_A, e - e.min(), "o-", label=label)
    md = summary.get("metadynamics")
    if md and "failure" not in md:
        ax.plot(md["delta_A"], md["free_energy_kj_mol"], "-", label=f"model F(δ), 300 K ({md['simulated_ps']:.0f} ps)")  # fmt: skip
    ax.set(xlabel="δ = d(O₁H*) − d(O₂H*) / Å", ylabel="kJ/mol", ylim=(-2, 60),
           title=f"H₅O₂⁺ proton transfer, O–O {summary['oo_A']} Å")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
