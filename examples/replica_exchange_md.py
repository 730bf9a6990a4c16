"""Parallel tempering (openmmtools) of the main job's NaF crystal with the shipped model.

The main job's crystal, as a System of ``PolarMLPotential().createSystem`` with the default
backend (network + D3 as an ``openmm.PythonForce``, native ``PQEqForce``), is simulated at a few
temperatures with openmmtools' ``ParallelTemperingSampler``: Langevin dynamics between exchange
attempts, Metropolis swaps between neighbouring temperatures, everything stored in a NetCDF file.
openmmtools copies systems through XML, which the PythonForce backend survives on every openmm;
a ``TorchForce`` System does not on openmm >= 8.6 (deserialising it segfaults with openmmtorch
1.5, see ``docs/backends.md``).

Run: ``python examples/replica_exchange_md.py [--out runs/replica_exchange] [--iterations 5]``
(2-4 minutes on one CPU core with the defaults: 3 replicas x 5 iterations x 50 steps).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/replica_exchange", help="output folder (created)")
    p.add_argument("--salt", default="NaF")
    p.add_argument("--repeat", type=int, default=2, help="supercell repetitions (2: 64 atoms)")
    p.add_argument("--replicas", type=int, default=3)
    p.add_argument("--t-min", type=float, default=300.0, help="lowest temperature (K)")
    p.add_argument("--t-max", type=float, default=360.0, help="highest temperature (K)")
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--steps-per-iteration", type=int, default=50)
    p.add_argument("--dt-fs", type=float, default=1.0)
    p.add_argument("--friction", type=float, default=10.0, help="Langevin collision rate (1/ps)")
    p.add_argument("--platform", default="CPU")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def make_sampler(system, atoms, args, storage: Path):
    """A ``ParallelTemperingSampler`` with its NetCDF reporter, created and minimised.

    Parameters
    ----------
    system : openmm.System
        The full-model system (kJ/mol, nm).
    atoms : ase.Atoms
        Start geometry (Å).
    args : argparse.Namespace
        Options of :func:`parse_args`.
    storage : Path
        NetCDF file of the run (overwritten).

    Returns
    -------
    tuple
        ``(sampler, reporter)``.
    """
    import openmm
    import openmm.unit as u
    from openmmtools import cache, mcmc, multistate, states

    from openmm_polarml import units

    platform = openmm.Platform.getPlatformByName(args.platform)
    if args.platform == "CPU":
        platform.setPropertyDefaultValue("Threads", str(args.threads))
    thermo = states.ThermodynamicState(system, temperature=args.t_min * u.kelvin)
    box = system.getDefaultPeriodicBoxVectors()
    sampler_state = states.SamplerState(
        atoms.positions * units.ANGSTROM_TO_NM * u.nanometer, box_vectors=box
    )
    move = mcmc.LangevinDynamicsMove(
        timestep=args.dt_fs * u.femtosecond,
        collision_rate=args.friction / u.picosecond,
        n_steps=args.steps_per_iteration,
        reassign_velocities=False,
    )
    sampler = multistate.ParallelTemperingSampler(
        mcmc_moves=move, number_of_iterations=args.iterations
    )
    # one context per temperature would load the model once per replica; the caches share them
    sampler.energy_context_cache = cache.ContextCache(capacity=None, platform=platform)
    sampler.sampler_context_cache = cache.ContextCache(capacity=None, platform=platform)
    if storage.exists():
        storage.unlink()
    reporter = multistate.MultiStateReporter(str(storage), checkpoint_interval=1)
    sampler.create(
        thermo,
        sampler_state,
        reporter,
        min_temperature=args.t_min * u.kelvin,
        max_temperature=args.t_max * u.kelvin,
        n_temperatures=args.replicas,
    )
    sampler.minimize(max_iterations=100)
    return sampler, reporter


def summarise(sampler, reporter) -> str:
    """Temperatures, exchange acceptance between neighbours and each replica's state path."""
    states_path = np.array(reporter.read_replica_thermodynamic_states())  # [n_iter+1, n_replicas]
    temps = [s.temperature._value for s in sampler._thermodynamic_states]  # K
    accepted = np.asarray(sampler._n_accepted_matrix, dtype=float)
    proposed = np.asarray(sampler._n_proposed_matrix, dtype=float)
    lines = ["temperatures (K): " + ", ".join(f"{t:.1f}" for t in temps)]
    for i in range(len(temps) - 1):
        n = proposed[i, i + 1] + proposed[i + 1, i]
        acc = (accepted[i, i + 1] + accepted[i + 1, i]) / n if n else float("nan")
        lines.append(f"  swap {temps[i]:.1f} K <-> {temps[i + 1]:.1f} K: acceptance {acc:.2f}")
    lines.append("state index of each replica per iteration:")
    for r in range(states_path.shape[1]):
        lines.append(f"  replica {r}: " + " ".join(str(int(s)) for s in states_path[:, r]))
    energies, _, _ = reporter.read_energies(states_path.shape[0] - 1)  # [n_replicas, n_states] kT
    lines.append(
        "final reduced potentials (kT) of each replica in its own state: "
        + ", ".join(f"{energies[r, s]:.1f}" for r, s in enumerate(states_path[-1]))
    )
    return "\n".join(lines)


def main(argv=None) -> str:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from openmm_polarml.openmm import PolarMLPotential
    from openmm_polarml.openmm.standard_systems import rocksalt_crystal
    from openmm_polarml.openmm.topology import topologyFromAtoms

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    atoms = rocksalt_crystal(args.salt, args.repeat)
    system = PolarMLPotential().createSystem(topologyFromAtoms(atoms))  # PythonForce network
    print(
        f"parallel tempering: {args.salt} {len(atoms)} atoms, {args.replicas} replicas "
        f"{args.t_min:.0f}-{args.t_max:.0f} K, {args.iterations} iterations x "
        f"{args.steps_per_iteration} steps of {args.dt_fs} fs"
    )
    sampler, reporter = make_sampler(system, atoms, args, out / "parallel_tempering.nc")
    sampler.run()
    text = summarise(sampler, reporter)
    reporter.close()
    print(text)
    print(f"wrote {out / 'parallel_tempering.nc'}; wall time {time.perf_counter() - t0:.1f} s")
    return text


if __name__ == "__main__":
    main(sys.argv[1:])
