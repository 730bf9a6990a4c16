"""Per-head electronegativity offsets: the same function in the engine, the model (per-frame
head routing), training (Hellmann–Feynman gradient) and the native PQEqForce."""

import numpy as np
import pytest
import torch

from openmm_polarml.data_io import atoms_to_frame, collate
from openmm_polarml.model import build_model
from openmm_polarml.model.network import HEAD
from openmm_polarml.pqeq import PQEq
from tests.model.helpers import TINY, molecule

HEADS = ["pbe", "gfn2"]


def offset_model():
    cfg = {"network": dict(TINY), "heads": HEADS, "pqeq": {"long_range": "direct"},
           "pqeq_head_chi": True, "seed": 0}  # fmt: skip
    model = build_model(cfg)
    with torch.no_grad():
        g = torch.Generator().manual_seed(3)
        model.pqeq_chi_offset.copy_(torch.randn(2, 95, generator=g, dtype=torch.float64))
    return model


def test_chi_shift_is_a_shift_of_the_element_chi_with_charges_as_gradient():
    atoms = molecule(4, n=5)
    pos = torch.tensor(atoms.positions)
    z = torch.tensor(atoms.numbers)
    engine = PQEq("direct", tolerance=1e-12)
    shift = torch.linspace(-0.3, 0.4, len(atoms), dtype=torch.float64, requires_grad=True)
    out = engine(pos, z, None, False, chi_shift=shift, compute_forces=False)
    (grad,) = torch.autograd.grad(out["energy"], shift)
    np.testing.assert_allclose(grad.numpy(), out["charges"].detach().numpy(), atol=1e-9)
    moved = PQEq("direct", tolerance=1e-12)
    delta = 0.25  # eV on the element of atom 0, once in the table and once as a shift
    with torch.no_grad():
        moved.element_parameters.chi[int(atoms.numbers[0])] += delta
    single = torch.zeros(len(atoms), dtype=torch.float64)
    single[torch.tensor(atoms.numbers == atoms.numbers[0])] = delta
    a = engine(pos, z, None, False, chi_shift=single, compute_forces=False)["energy"]
    b = moved(pos, z, None, False, compute_forces=False)["energy"]
    assert float(a) == pytest.approx(float(b), abs=1e-10)


def test_frames_use_their_own_head_offsets():
    model = offset_model()
    atoms = molecule(2, n=4)
    frames = [atoms_to_frame(atoms), atoms_to_frame(atoms)]
    frames[0][HEAD], frames[1][HEAD] = torch.tensor([0]), torch.tensor([1])
    out = model.pqeq_energy(
        torch.cat([f["positions"] for f in frames]), collate(frames)["cell"], collate(frames)
    )
    for b, head in enumerate((0, 1)):
        shift = model.pqeq_chi_offset[head][torch.tensor(atoms.numbers)].detach()
        ref = model.pqeq(torch.tensor(atoms.positions), torch.tensor(atoms.numbers), None, False,
                         chi_shift=shift, compute_forces=False)["energy"]  # fmt: skip
        assert float(out["energy"][b]) == pytest.approx(float(ref), abs=1e-9)
    assert abs(float(out["energy"][0] - out["energy"][1])) > 1e-3  # the heads really differ


def test_native_force_solves_the_selected_heads_chi():
    pytest.importorskip("openmm")
    import openmm

    from openmm_polarml.openmm import FORCE_GROUPS, PolarMLPotential
    from openmm_polarml.openmm.topology import topologyFromAtoms
    from openmm_polarml.units import ANGSTROM_TO_NM, EV_TO_KJ_PER_MOL

    model = offset_model().set_head("gfn2")
    model.config["elements"] = [1, 6, 7, 8]  # an untrained model records no elements
    atoms = molecule(7, n=5)
    system = PolarMLPotential(model).createSystem(
        topologyFromAtoms(atoms, bondScale=0), fragments="none"
    )
    ctx = openmm.Context(system, openmm.VerletIntegrator(1e-4),
                         openmm.Platform.getPlatformByName("Reference"))  # fmt: skip
    ctx.setPositions(atoms.positions * ANGSTROM_TO_NM)
    state = ctx.getState(getEnergy=True, groups={FORCE_GROUPS["pqeq"]})
    native = state.getPotentialEnergy()._value / EV_TO_KJ_PER_MOL
    shift = model.pqeq_chi_offset[1][torch.tensor(atoms.numbers)].detach()
    ref = model.pqeq(torch.tensor(atoms.positions), torch.tensor(atoms.numbers), None, False,
                     chi_shift=shift, compute_forces=False)["energy"]  # fmt: skip
    assert native == pytest.approx(float(ref), abs=1e-6)


def test_finetune_adds_zero_offsets_to_a_model_without_them(tmp_path):
    from openmm_polarml.model.serialization import save_model
    from openmm_polarml.training.finetune import apply_finetune

    cfg = {"network": dict(TINY), "heads": HEADS, "pqeq": {"long_range": "direct"}, "seed": 0}
    plain = build_model(cfg)
    save_model(plain, tmp_path / "plain.pt")
    model = apply_finetune(
        {"checkpoint": str(tmp_path / "plain.pt"), "pqeq_head_chi": True,
         "trainable": ["pqeq_chi_offset"]}, "float64",
    )  # fmt: skip
    assert model.pqeq_chi_offset.requires_grad and float(model.pqeq_chi_offset.abs().sum()) == 0
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["pqeq_chi_offset"]


def test_training_learns_the_teachers_chi_offsets(tmp_path):
    """Frames labelled by a model with χ offsets: a student that trains only its offsets (joint
    mode, PQEq solved in every step) moves them toward the teacher's and lowers the loss."""
    from openmm_polarml.data_io import keys as K
    from openmm_polarml.model.serialization import save_model
    from openmm_polarml.training import Trainer

    cfg = {"network": dict(TINY), "pqeq": {"long_range": "direct"}, "seed": 0,
           "dtype": "float64"}  # fmt: skip
    student = build_model(cfg)
    save_model(student, tmp_path / "student.pt")
    teacher = build_model({**cfg, "pqeq_head_chi": True})
    teacher.load_state_dict(
        {**student.state_dict(), "pqeq_chi_offset": torch.zeros(1, 95).double()}
    )
    with torch.no_grad():
        teacher.pqeq_chi_offset[0, [1, 6, 7, 8]] = torch.tensor([0.6, -0.4, 0.5, -0.8]).double()
    frames = []
    for k in range(6):
        f = atoms_to_frame(molecule(60 + k, n=5))
        out = teacher(collate([f]), compute_forces=True)
        f[K.ENERGY], f[K.FORCES] = out["energy"].detach(), out["forces"].detach()
        f[K.HAS_ENERGY], f[K.HAS_FORCES] = torch.tensor([True]), torch.tensor([True])
        frames.append(f)
    config = {
        "finetune": {"checkpoint": str(tmp_path / "student.pt"), "pqeq_head_chi": True,
                     "trainable": ["pqeq_chi_offset"], "refit_shifts": False},
        "data": {"train": "given"},
        "training": {"output_dir": str(tmp_path / "run"), "epochs": 6, "batch_size": 2,
                     "lr": 0.05, "progress": False, "dtype": "float64", "ema_decay": 0.0,
                     "scheduler": "constant", "loss_weights": {"energy": 1.0, "forces": 1.0}},
    }  # fmt: skip
    trainer = Trainer(config, splits={"train": frames, "validation": frames, "test": []})
    assert trainer.joint and not trainer.delta
    before = trainer.validation_loss()["loss"]
    trainer.fit()
    learned = trainer.model.pqeq_chi_offset.detach()[0, [1, 6, 7, 8]]
    target = teacher.pqeq_chi_offset.detach()[0, [1, 6, 7, 8]]
    assert trainer.history[-1]["validation"]["loss"] < 0.5 * before
    assert float((learned - target).abs().max()) < float(target.abs().max())  # moved toward it
    assert float(trainer.model.pqeq_chi_offset.detach()[0, 20:].abs().max()) == 0.0
