"""The charge model's fragments: molecules with formal charges, global fallback, same as OpenMM."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from openmm_polarml.data_io import atoms_to_frame, collate
from openmm_polarml.data_io import keys as K
from openmm_polarml.pqeq.charge_groups import charge_groups, charge_groups_of_atoms

WATER = Atoms("OH2", positions=[[0, 0, 0], [0.7572, 0.5865, 0], [-0.7572, 0.5865, 0]])


def water_at(shift) -> Atoms:
    w = WATER.copy()
    w.positions += shift
    return w


def ion_water_cluster(ion: str, charge: int) -> Atoms:
    atoms = Atoms(ion, positions=[[0, 0, 0]])
    for shift in ([2.4, 0, 0], [-2.4, 0, 0], [0, 2.6, 0], [0, -2.6, 0.5]):
        atoms += water_at(shift)
    atoms.info["charge"] = charge
    return atoms


def test_cation_in_water_is_an_integer_ion():
    result = charge_groups_of_atoms(ion_water_cluster("Na", 1))
    assert not result.global_fallback
    assert result.groups[0] == [0] and result.charges[0] == 1.0
    assert result.groups[1:] == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]
    assert result.charges[1:] == [0.0] * 4


@pytest.mark.parametrize("separation", [2.4, 4.0, 8.0])
def test_ion_pair_is_two_integer_ions_at_every_separation(separation):
    pair = Atoms("NaCl", positions=[[0, 0, 0], [separation, 0, 0]])
    result = charge_groups_of_atoms(pair)
    assert result.groups == [[0], [1]] and result.charges == [1.0, -1.0]


def test_molecular_ions_by_composition():
    hydroxide = Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.97]])
    hydronium = molecule("H2O")
    hydronium += Atoms("H", positions=[[0, -0.5, 0.9]])
    hydronium.positions += [5.0, 0, 0]
    pair = hydroxide + hydronium
    result = charge_groups_of_atoms(pair)
    assert result.groups == [[0, 1], [2, 3, 4, 5]]
    assert result.charges == [-1.0, 1.0]


def test_inconsistent_formal_charges_fall_back_to_one_fragment():
    zundel = Atoms(
        "OOHHHHH",
        positions=[[0, 0, 0], [2.4, 0, 0], [1.2, 0.05, 0], [-0.35, 0.9, 0],
                   [-0.35, -0.45, 0.78], [2.75, 0.9, 0], [2.75, -0.45, -0.78]],
    )  # fmt: skip
    result = charge_groups_of_atoms(zundel, total_charge=1.0)
    assert result.global_fallback
    assert result.groups == [list(range(7))] and result.charges == [1.0]


def test_neutral_molecule_is_one_fragment():
    result = charge_groups_of_atoms(molecule("CH3CH2OH"))
    assert not result.global_fallback and result.groups == [list(range(9))]


def test_periodic_water_split_by_the_boundary_is_one_molecule():
    box = water_at([9.8, 5.0, 5.0]) + water_at([5.0, 5.0, 5.0])
    box.cell = [10.0, 10.0, 10.0]
    box.pbc = True
    box.wrap()  # the first water's hydrogens now sit at the far side of the cell
    assert np.ptp(box.positions[:3, 0]) > 5.0
    result = charge_groups_of_atoms(box)
    # two neutral molecules: formal charges 0 + 0 = total 0, so two fragments
    assert result.groups == [[0, 1, 2], [3, 4, 5]]


def test_crystals_rocksalt_halide_ionic_oxide_global():
    nacl = charge_groups_of_atoms(bulk("NaCl", "rocksalt", a=5.64).repeat(2))
    assert sorted(nacl.charges) == [-1.0] * 8 + [1.0] * 8
    mgo = charge_groups_of_atoms(bulk("MgO", "rocksalt", a=4.21))
    assert mgo.global_fallback and mgo.charges == [0.0]


def test_array_interface_matches_atoms_interface():
    atoms = ion_water_cluster("Cl", -1)
    a = charge_groups(atoms.numbers, atoms.positions, total_charge=-1)
    b = charge_groups_of_atoms(atoms)
    assert a == b


def test_frames_carry_fragments_only_for_the_molecules_model():
    atoms = ion_water_cluster("K", 1)
    assert K.FRAGMENTS not in atoms_to_frame(atoms)
    frame = atoms_to_frame(atoms, "molecules")
    groups = [g.tolist() for g in frame[K.FRAGMENTS][0]]
    assert groups[0] == [0] and frame[K.FRAGMENT_CHARGES][0].tolist()[0] == 1.0
    neutral = atoms_to_frame(molecule("H2O"), "molecules")
    batch = collate([frame, neutral])
    assert batch[K.FRAGMENTS][1] is None  # one fragment: the total charge applies


def test_explicit_fragment_labels_override_and_are_checked():
    atoms = ion_water_cluster("Na", 1)
    atoms.arrays["fragment"] = np.array([0] + [1] * 12)
    atoms.info["fragment_charges"] = [0.5, 0.5]
    frame = atoms_to_frame(atoms, "none")
    assert frame[K.FRAGMENT_CHARGES][0].tolist() == [0.5, 0.5]
    atoms.info["fragment_charges"] = [1.0]
    with pytest.raises(ValueError, match="one charge"):
        atoms_to_frame(atoms)
    atoms.arrays["fragment"] = np.zeros(len(atoms))
    with pytest.raises(ValueError, match="integer fragment labels"):
        atoms_to_frame(atoms)
    with pytest.raises(ValueError, match="fragments must be one of"):
        atoms_to_frame(molecule("H2O"), "residues")


def test_pqeq_keeps_each_fragment_charge():
    """Solved under the molecules model, the ion keeps +1 e and every water stays neutral."""
    from openmm_polarml.pqeq import PQEq

    atoms = ion_water_cluster("Na", 1)
    result = charge_groups_of_atoms(atoms)
    engine = PQEq(long_range="direct")
    positions = torch.as_tensor(atoms.positions, dtype=torch.float64)
    numbers = torch.as_tensor(atoms.numbers)
    out = engine(
        positions, numbers, None, False, fragments=result.groups, fragment_charges=result.charges
    )
    q = out["charges"].detach().numpy()
    for group, charge in zip(result.groups, result.charges, strict=True):
        assert q[group].sum() == pytest.approx(charge, abs=1e-10)
    assert abs(q[1:4]).max() > 1e-3  # the waters polarise: charge flows inside each molecule


def test_openmm_molecules_rule_gives_the_same_fragments():
    """OpenMM's fragments='molecules' (Topology bonds + residue templates) and the geometric
    rule agree on an electrolyte cluster."""
    app = pytest.importorskip("openmm.app")
    from openmm_polarml.openmm.fragments import fragment_groups
    from openmm_polarml.openmm.residue_charges import fragment_charge

    atoms = ion_water_cluster("Na", 1) + water_at([0, 0, 6.0])
    atoms += Atoms("Cl", positions=[[0, 0, 9.0]])
    atoms.info["charge"] = 0
    topology = app.Topology()
    chain = topology.addChain()
    element = app.Element.getBySymbol
    atom_list = list(atoms)
    i = 0
    while i < len(atom_list):
        symbol = atom_list[i].symbol
        if symbol in ("Na", "Cl"):
            res = topology.addResidue(symbol.upper(), chain)
            topology.addAtom(symbol.upper(), element(symbol), res)
            i += 1
            continue
        res = topology.addResidue("HOH", chain)
        o = topology.addAtom("O", element("O"), res)
        for name in ("H1", "H2"):
            topology.addBond(o, topology.addAtom(name, element("H"), res))
        i += 3
    openmm_groups = fragment_groups(topology, "molecules")
    atoms_of = list(topology.atoms())
    openmm_charges = [fragment_charge([atoms_of[k] for k in g]) for g in openmm_groups]
    ours = charge_groups_of_atoms(atoms)
    assert ours.groups == openmm_groups
    assert ours.charges == openmm_charges
