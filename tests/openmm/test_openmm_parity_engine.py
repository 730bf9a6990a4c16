"""Parity of PQEqForce (Reference and CPU platforms) with the PyTorch engine, double precision.

Energies, forces, charges and shell displacements must agree to 1e-8 relative on the structures
of the engine's tests (tests/pqeq/pqeq_structures.py)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from openmm_polarml import units

os.environ.setdefault("OMP_NUM_THREADS", "1")

try:
    import torch

    from openmm_polarml.pqeq import PQEq

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pqeq"))
    import pqeq_structures as S

    _SKIP = None
except Exception as exc:  # pragma: no cover - only while the engine is missing
    _SKIP = f"PyTorch PQEq engine not importable yet ({exc!r})"

from omm_helpers import energy_forces, make_context, make_force

import openmm_polarml.openmm as po

pytestmark = pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")

EV = units.EV_TO_KJ_PER_MOL
METHOD = {"direct": po.PQEqForce.NoCutoff, "ewald": po.PQEqForce.Ewald, "pme": po.PQEqForce.PME}


def _cases():
    if _SKIP is not None:
        return []
    return [
        ("water4-direct", lambda: S.water_cluster(4), "direct", {}),
        ("water4-taper", lambda: S.water_cluster(4), "taper", {}),
        (
            "water4-direct-field-fragments",
            lambda: S.water_cluster(4),
            "direct",
            {
                "fragments": [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]],
                "field": [0.0, 0.05, -0.02],
            },
        ),
        ("waterbox8-ewald", lambda: S.water_box(2), "ewald", {}),
        ("waterbox8-pme", lambda: S.water_box(2), "pme", {"accuracy": 1e-4}),
        ("nacl2-ewald", lambda: S.nacl(2), "ewald", {}),
        # taper in ionic cells < 2 r_t is indefinite (a saddle; see tests/pqeq/test_large_cells.py)
        ("waterbox8-taper", lambda: S.water_box(2), "taper", {}),
        ("batio3-ewald", lambda: S.batio3(2), "ewald", {}),
    ]


@pytest.mark.parametrize("platform", ["Reference", "CPU"])
@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_parity_with_engine(case, platform):
    torch.set_num_threads(1)
    name, build, lr, opts = case
    atoms = build()
    pos, num, cell, pbc = S.tensors(atoms)
    kw = {"accuracy": opts["accuracy"]} if "accuracy" in opts else {}
    engine = PQEq(long_range=lr, tolerance=1e-10, **kw)
    field = opts.get("field")
    frags = opts.get("fragments")
    out = engine(
        pos,
        num,
        cell=cell,
        pbc=pbc,
        fragments=frags,
        fragment_charges=[0.0] * len(frags) if frags else None,
        external_field=torch.tensor(field, dtype=torch.float64) if field else None,
    )
    symbols = atoms.get_chemical_symbols()
    if lr == "taper":
        method = po.PQEqForce.Taper if pbc else po.PQEqForce.TaperNonPeriodic
    else:
        method = METHOD[lr]
    f = make_force(
        symbols,
        method,
        tol=1e-10,
        fragments=[(g, 0.0) for g in frags] if frags else None,
        **({"ewald_tol": kw["accuracy"]} if kw else {}),
    )
    ctx = make_context(
        f, pos.numpy() * 0.1, None if cell is None else cell.numpy() * 0.1, platform=platform
    )
    if field:
        po.set_external_field(ctx, field, unit="V/A")
    E, F = energy_forces(ctx)
    q = np.array(f.getCharges(ctx))
    d = np.array(f.getShellDisplacements(ctx)) * 10.0
    Ee = out["energy"].item() * EV
    Fe = out["forces"].detach().numpy() * EV * 10.0
    assert abs(E - Ee) <= 1e-8 * abs(Ee)
    assert np.abs(F - Fe).max() <= 1e-8 * max(np.abs(Fe).max(), abs(Ee) / len(symbols))
    assert np.abs(q - out["charges"].detach().numpy()).max() <= 1e-8 * max(1.0, np.abs(q).max())
    assert np.abs(d - out["shell_displacements"].detach().numpy()).max() <= 1e-8 * max(
        1e-2, np.abs(d).max()
    )
    mu = np.array(f.getDipole(ctx)) * 10.0
    if not pbc:
        assert np.abs(mu - out["dipole"].detach().numpy()).max() <= 1e-8 * max(
            1.0, np.abs(mu).max()
        )


def _straddling_site_pairs(atoms, d, rc):
    """Site pairs with a shell whose site distance and core-core distance lie on opposite sides of rc (Å)."""
    from ase.neighborlist import neighbor_list

    i, j, shifts = neighbor_list("ijS", atoms, rc + 1.0)
    x, cell = atoms.positions, atoms.cell.array
    off = shifts @ cell
    r_cc = np.linalg.norm(x[j] - x[i] + off, axis=1)
    s = x + d
    n = 0
    for r_site in (
        np.linalg.norm(s[j] - x[i] + off, axis=1),
        np.linalg.norm(s[j] - s[i] + off, axis=1),
    ):
        n += int(((r_cc < rc) != (r_site < rc)).sum())
    return n


@pytest.mark.parametrize("platform", ["Reference", "CPU"])
@pytest.mark.parametrize("lr", ["pme", "ewald"])
def test_parity_pairs_straddling_cutoff(lr, platform):
    """Real-space pairs by core-core distance (docs/conventions.md): a water box whose cutoff (4.3 Å) has
    dozens of atom pairs with the core distance on one side of r_c and a shell-site distance on the other.
    A site-distance criterion would differ from the engine by ~δ per such pair."""
    torch.set_num_threads(1)
    rc = 4.3
    atoms = S.water_box(3)
    pos, num, cell, pbc = S.tensors(atoms)
    out = PQEq(long_range=lr, tolerance=1e-10, cutoff=rc)(pos, num, cell=cell, pbc=pbc)
    d_engine = out["shell_displacements"].detach().numpy()
    assert _straddling_site_pairs(atoms, d_engine, rc) >= 40
    f = make_force(atoms.get_chemical_symbols(), METHOD[lr], tol=1e-10, cutoff=rc * 0.1)
    ctx = make_context(f, pos.numpy() * 0.1, cell.numpy() * 0.1, platform=platform)
    E, F = energy_forces(ctx)
    q = np.array(f.getCharges(ctx))
    d = np.array(f.getShellDisplacements(ctx)) * 10.0
    Ee = out["energy"].item() * EV
    Fe = out["forces"].detach().numpy() * EV * 10.0
    assert abs(E - Ee) <= 1e-8 * abs(Ee)
    assert np.abs(F - Fe).max() <= 1e-8 * max(np.abs(Fe).max(), abs(Ee) / len(atoms))
    assert np.abs(q - out["charges"].detach().numpy()).max() <= 1e-8 * max(1.0, np.abs(q).max())
    assert np.abs(d - d_engine).max() <= 1e-8 * max(1e-2, np.abs(d).max())


@pytest.mark.parametrize("lr", ["pme", "ewald"])
def test_cpu_threads_bitwise_equal_reference(lr, monkeypatch):
    """The OpenMP loops of the CPU platform (3 threads) reproduce the serial Reference sums bitwise
    (water 27: enough pairs and k-vectors for the threaded paths)."""
    monkeypatch.setenv("POLARML_PQEQ_THREADS", "3")
    atoms = S.water_box(3)
    pos, _, cell, _ = S.tensors(atoms)
    out = {}
    for plat in ("Reference", "CPU"):
        f = make_force(atoms.get_chemical_symbols(), METHOD[lr], tol=1e-10, cutoff=0.43)
        ctx = make_context(f, pos.numpy() * 0.1, cell.numpy() * 0.1, platform=plat)
        out[plat] = energy_forces(ctx) + (np.array(f.getCharges(ctx)),)
    assert out["CPU"][0] == out["Reference"][0]
    assert np.array_equal(out["CPU"][1], out["Reference"][1])
    assert np.array_equal(out["CPU"][2], out["Reference"][2])
