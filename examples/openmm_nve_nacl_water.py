"""NVE dynamics of NaCl in water with PQEqForce + TIP3P Lennard-Jones repulsion + flexible TIP3P bonds.

Measures the total-energy drift (meV/atom/ps, slope of a linear fit after an optional equilibration
window) for a list of solver tolerances. For long, resumable runs with a progress log use
benchmarks/nve_drift.py (same system and integrator).
Usage: python examples/openmm_nve_nacl_water.py --atoms 650 --ps 2 --tolerances 1e-5 1e-6 1e-8
(double precision, CPU platform; on 2 shared cores about 60-90 ms per 0.5 fs step at 611 atoms).
"""

from __future__ import annotations

import argparse
import os
import sys

import openmm.unit as u

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
from nve_drift import drift_fit, make_context  # noqa: E402


def run(
    atoms: int,
    ps: float,
    tol: float,
    dt_fs: float = 0.5,
    seed: int = 1,
    report_every: int = 20,
    cutoff: float = 0.7,
    ewald_tol: float = 1e-5,
    equilibrate_ps: float = 0.0,
):
    """Run NVE and return the drift of the total energy over t >= equilibrate_ps (meV/atom/ps)."""
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    ctx, integ, n_atoms = make_context(atoms, tol, dt_fs, cutoff, ewald_tol, seed, threads)
    n_steps = int(round(ps * 1000 / dt_fs))
    times, energies = [], []
    for k in range(0, n_steps + 1, report_every):
        if k:
            integ.step(report_every)
        st = ctx.getState(getEnergy=True)
        t = k * dt_fs / 1000
        if t >= equilibrate_ps - 1e-12:
            times.append(t)
            energies.append(
                (st.getPotentialEnergy() + st.getKineticEnergy()).value_in_unit(
                    u.kilojoule_per_mole
                )
            )
    slope, fluct = drift_fit(times, energies, n_atoms)
    return dict(
        atoms=n_atoms,
        tol=tol,
        ps=times[-1] if times else 0.0,
        equilibrate_ps=equilibrate_ps,
        drift_meV_per_atom_per_ps=slope,
        fluctuation_meV_per_atom=fluct,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--atoms", type=int, default=650)
    ap.add_argument("--ps", type=float, default=2.0)
    ap.add_argument("--equilibrate-ps", type=float, default=0.0)
    ap.add_argument("--tolerances", type=float, nargs="+", default=[1e-5, 1e-6, 1e-8])
    args = ap.parse_args()
    for tol in args.tolerances:
        print(run(args.atoms, args.ps, tol, equilibrate_ps=args.equilibrate_ps), flush=True)


if __name__ == "__main__":
    main()
