"""The TorchForce-facing module (nm, kJ/mol) and the export that checks its own parity.

The artifact is a TorchScript file whose ``forward(positions[N,3] nm, box[3,3] nm)`` returns the
short-range energy (network + D3, or the network alone with ``include_d3=False``) in kJ/mol (and forces in kJ/mol/nm when exported with
``outputs_forces=True``). The file carries ``metadata.json`` (elements, cutoff, units, dtype,
versions, PQEq settings and the element parameters the native PQEq force needs).
Load it after importing ``vesin_torch`` (its neighbour-list op must be registered first).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from openmm_polarml import units
from openmm_polarml.data_io import atoms_to_frame
from openmm_polarml.export.parity import check_parity
from openmm_polarml.model.builder import fresh_copy
from openmm_polarml.model.charge_state import charge_state_of_frame
from openmm_polarml.model.full import PolarMLModel
from openmm_polarml.model.shortrange import ShortRange
from openmm_polarml.pqeq.metadata import pqeq_metadata

METADATA_FILE = "metadata.json"


class TorchForceModule(torch.nn.Module):
    """Short-range energy of one fixed system in OpenMM units.

    Parameters
    ----------
    shortrange : ShortRange
        Network (+ D3) of the model.
    numbers : torch.Tensor
        ``[N]`` atomic numbers of the system (its atom order).
    periodic : bool
        Whether the system is periodic (``box`` is then required).
    outputs_forces : bool
        Also return forces (kJ/mol/nm), for ``TorchForce.setOutputsForces(True)``.
    atom_indices : torch.Tensor, optional
        ``[N]`` particle indices of the model's atoms in a larger System (ML/MM); ``forward``
        then takes all ``positions [n_particles, 3]`` and returns forces on all of them.
    """

    def __init__(
        self,
        shortrange: ShortRange,
        numbers: torch.Tensor,
        periodic: bool,
        outputs_forces: bool,
        atom_indices: torch.Tensor | None = None,
        charge_state: torch.Tensor | None = None,
    ):
        super().__init__()
        self.shortrange = shortrange
        self.register_buffer("numbers", numbers.to(torch.long))
        if charge_state is None:
            if shortrange.network.charge_input:
                raise ValueError(
                    "this network reads each atom's charge state: pass charge_state [N] (e), the "
                    "reference charges of the charge model's fragments"
                )
            charge_state = torch.zeros(numbers.shape[0])
        if charge_state.shape != numbers.shape:
            raise ValueError(
                f"charge_state has shape {tuple(charge_state.shape)}, expected ({numbers.shape[0]},)"
            )
        self.register_buffer("charge_state", charge_state.to(torch.float64))  # [N] e
        self.subset = atom_indices is not None
        if atom_indices is None:
            atom_indices = torch.arange(numbers.shape[0])
        self.register_buffer("atom_indices", torch.as_tensor(atom_indices, dtype=torch.long))
        self.periodic = bool(periodic)
        self.outputs_forces = bool(outputs_forces)
        self.dtype_ref = torch.nn.Parameter(torch.zeros(0), requires_grad=False)
        self.length_scale = units.NM_TO_ANGSTROM
        self.energy_scale = units.EV_TO_KJ_PER_MOL

    def energy(self, positions: torch.Tensor, box: torch.Tensor | None) -> torch.Tensor:
        """``positions [N, 3]`` nm (in the model dtype), ``box [3, 3]`` nm -> energy (kJ/mol)."""
        dtype = self.dtype_ref.dtype
        if self.subset:
            positions = positions.index_select(0, self.atom_indices)  # [N, 3] nm
        n = positions.shape[0]
        pos = positions * self.length_scale  # [N, 3] Å
        pbc = torch.full((1, 3), self.periodic, dtype=torch.bool, device=pos.device)
        if self.periodic and box is not None:
            cell = (box.to(dtype) * self.length_scale).unsqueeze(0)  # [1, 3, 3] Å
        else:
            cell = torch.zeros(1, 3, 3, dtype=dtype, device=pos.device)
        batch = torch.zeros(n, dtype=torch.long, device=pos.device)
        ptr = torch.tensor([0, n], dtype=torch.long, device=pos.device)
        charge = self.charge_state.to(dtype)  # [N] e
        energy = self.shortrange(pos, self.numbers, cell, pbc, batch, ptr, charge).sum()
        return energy * self.energy_scale

    def forward(self, positions: torch.Tensor, box: torch.Tensor | None = None) -> torch.Tensor:
        """``positions [N, 3]`` nm, ``box [3, 3]`` nm -> energy (kJ/mol)."""
        return self.energy(positions.to(self.dtype_ref.dtype), box)


class TorchForceModuleWithForces(TorchForceModule):
    """As :class:`TorchForceModule`, returning ``(energy kJ/mol, forces [N, 3] kJ/mol/nm)``."""

    def forward(  # type: ignore[override]
        self, positions: torch.Tensor, box: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pos = positions.to(self.dtype_ref.dtype).detach().requires_grad_(True)
        energy = self.energy(pos, box)
        grads = torch.autograd.grad([energy], [pos])
        g = grads[0]
        assert g is not None
        return energy, -g


def script_module(module: torch.nn.Module) -> torch.jit.ScriptModule:
    """TorchScript a module that contains e3nn layers (e3nn's compile, then script).

    e3nn's compile replaces the e3nn submodules in place; pass a copy (:func:`fresh_copy`) if the
    eager module must stay untouched.
    """
    from e3nn.util.jit import compile as e3nn_compile

    return torch.jit.script(e3nn_compile(module))


def _metadata(
    model: PolarMLModel,
    numbers: torch.Tensor,
    periodic: bool,
    forces: bool,
    atom_indices: list[int] | None = None,
    num_particles: int | None = None,
) -> dict:
    import e3nn
    import vesin_torch

    from openmm_polarml import __version__

    elements = sorted(set(int(z) for z in numbers.tolist()))
    meta = {
        "format": "openmm_polarml.torchforce/1",
        "elements": elements,
        "numbers": [int(z) for z in numbers.tolist()],
        "atom_indices": None if atom_indices is None else [int(i) for i in atom_indices],
        "num_particles": int(num_particles if num_particles is not None else len(numbers)),
        "cutoff_angstrom": model.r_max,
        "d3": model.config.get("d3"),
        "d3_cutoff_angstrom": model.config.get("d3_cutoff") if model.config.get("d3") else None,
        "units": {"positions": "nm", "box": "nm", "energy": "kJ/mol", "forces": "kJ/mol/nm"},
        "dtype": str(model.shortrange.network.shift.dtype).replace("torch.", ""),
        "periodic": bool(periodic),
        "outputs_forces": bool(forces),
        "versions": {
            "openmm_polarml": __version__,
            "torch": torch.__version__,
            "e3nn": e3nn.__version__,
            "vesin_torch": vesin_torch.__version__,
        },
        "model_config": model.config,
        "pqeq": None,
    }
    meta["pqeq"] = pqeq_metadata(model, elements)
    return meta


def _fragments_of_frame(frame: dict) -> tuple[list | None, list | None]:
    """Fragments (atom-index lists) and their charges (e) of one uncollated frame
    (:func:`~openmm_polarml.data_io.atoms_to_frame`); ``(None, None)`` for one group under the
    total charge."""
    from openmm_polarml.data_io import keys as K

    if K.FRAGMENTS not in frame:  # one group under the total charge (charge model "none")
        return None, None
    groups = [[int(i) for i in g.tolist()] for g in frame[K.FRAGMENTS][0]]  # [n_k] index tensors
    return groups, [float(q) for q in frame[K.FRAGMENT_CHARGES][0].tolist()]  # [K] charges


def export_model(
    model: PolarMLModel,
    atoms,
    path: str | Path,
    outputs_forces: bool = False,
    check: bool = True,
    tolerance: float | None = None,
    include_d3: bool = True,
    atom_indices=None,
    num_particles: int | None = None,
) -> dict:
    """Script the short-range part for ``atoms``' topology, save it, reload it and check parity.

    Parameters
    ----------
    model : PolarMLModel
        The model (its dtype is kept).
    atoms : ase.Atoms
        Defines atom order and elements; its geometry is the parity test geometry.
    path : str or Path
        Output TorchScript file.
    outputs_forces : bool
        Export a module that returns forces as well.
    check : bool
        Reload the file and compare energy and forces with the eager model.
    tolerance : float, optional
        Relative tolerance of the parity check (default 1e-10 in float64, 1e-5 in float32; in
        float32 a larger error is accepted when the eager float32 model is as far from float64,
        see :mod:`openmm_polarml.export.parity`).
    include_d3 : bool
        Put the model's D3 into the artifact (portable TorchScript). False leaves it to
        :func:`~openmm_polarml.openmm.d3_force.attach_d3_force` (native kernel, faster on CPU).
    atom_indices : sequence of int, optional
        Particle indices of ``atoms`` in a System of ``num_particles`` particles (ML/MM): the
        artifact then reads all positions and returns forces on all particles (zero off the set).
    num_particles : int, optional
        Number of System particles (required with ``atom_indices``).

    Returns
    -------
    dict
        The metadata written, with ``parity`` (max abs. energy and force differences).
    """
    numbers = torch.as_tensor(atoms.numbers, dtype=torch.long)
    periodic = bool(atoms.pbc.all())
    if atoms.pbc.any() and not periodic:
        raise ValueError("export supports fully periodic or non-periodic systems only")
    index = None
    if atom_indices is not None:
        index = torch.as_tensor(list(atom_indices), dtype=torch.long)  # [N]
        if num_particles is None:
            raise ValueError("give num_particles (the System's particle count) with atom_indices")
        if index.shape[0] != numbers.shape[0] or int(index.max()) >= num_particles:
            raise ValueError(
                f"atom_indices must list {numbers.shape[0]} distinct particles below "
                f"num_particles={num_particles}"
            )
        if index.unique().shape[0] != index.shape[0] or int(index.min()) < 0:
            raise ValueError("atom_indices must be distinct non-negative particle indices")
    cls = TorchForceModuleWithForces if outputs_forces else TorchForceModule
    shortrange = fresh_copy(model).shortrange
    if not include_d3:
        shortrange = ShortRange(shortrange.network, None)
    # the charge model's fragments of ``atoms``: the network's charge input, the PQEqForce's groups
    frame = atoms_to_frame(atoms, model.config.get("fragments", "none"))
    charge_state = None
    if shortrange.network.charge_input:
        charge_state = charge_state_of_frame(frame)
    module = cls(shortrange, numbers, periodic, outputs_forces, index, charge_state)
    dtype = model.shortrange.network.shift.dtype
    scripted = script_module(module.to(dtype))
    meta = _metadata(model, numbers, periodic, outputs_forces, atom_indices, num_particles)
    meta["d3_in_artifact"] = bool(include_d3 and model.shortrange.has_d3)
    if charge_state is not None:  # what the artifact holds: the network's charge input (e)
        meta["charge_state_e"] = [float(q) for q in charge_state]
    if model.pqeq is not None:
        groups, charges = _fragments_of_frame(frame)
        if groups is not None:
            meta["fragments"], meta["fragment_charges"] = groups, charges
    torch.jit.save(scripted, str(path), _extra_files={METADATA_FILE: json.dumps(meta)})
    if check:
        loaded, _ = load_exported(path)
        pos_nm = torch.as_tensor(atoms.positions, dtype=dtype) * units.ANGSTROM_TO_NM
        if index is not None:  # the ML atoms inside a System of num_particles particles
            pos_nm = torch.zeros(num_particles, 3, dtype=dtype).index_copy(0, index, pos_nm)
        box_nm = torch.as_tensor(atoms.cell.array, dtype=dtype) * units.ANGSTROM_TO_NM
        got = loaded(pos_nm, box_nm) if periodic else loaded(pos_nm)
        got = got if outputs_forces else (got,)
        if outputs_forces:
            f_got = got[1]
        else:
            p = pos_nm.clone().requires_grad_(True)
            e = loaded(p, box_nm) if periodic else loaded(p)
            f_got = -torch.autograd.grad(e, p)[0]
        if index is not None:
            f_got = f_got.index_select(0, index)
        meta["parity"] = check_parity(
            model, atoms, float(got[0].detach()), f_got.detach(), include_d3, tolerance
        )
    return meta


def load_exported(path: str | Path):
    """Load an exported artifact and its metadata (imports ``vesin_torch`` first)."""
    import vesin_torch  # noqa: F401  (registers the neighbour-list custom op)

    extra = {METADATA_FILE: ""}
    module = torch.jit.load(str(path), _extra_files=extra)
    return module, json.loads(extra[METADATA_FILE])
