"""The full model: E = Σ E0_i (network) + E_PQEq (charges, shells, field) + E_D3.

Forces are −∂E/∂r and stress σ = (1/V) ∂E/∂ε by autograd through a symmetric strain ε applied
to positions and cell (ASE sign). The PQEq energy is differentiated at the converged charges and
shells (Hellmann–Feynman), either through the engine's graph or, for plain inference, from the
engine's graph-free forces (:mod:`openmm_polarml.model.pqeq_term`); both are exact.
"""

from __future__ import annotations

import torch

from openmm_polarml.data_io import keys as K
from openmm_polarml.model.charge_state import charge_state_of_batch
from openmm_polarml.model.network import HEAD
from openmm_polarml.model.pqeq_term import WarmStart, pqeq_frames
from openmm_polarml.model.shortrange import ShortRange


def _strain(data: dict, compute_stress: bool):
    """Positions and cells under a symmetric strain ``ε`` (zero-valued, requires grad)."""
    pos = data[K.POSITIONS]
    cell = data[K.CELL]
    n_frames = cell.shape[0]
    eps = torch.zeros(n_frames, 3, 3, dtype=pos.dtype, device=pos.device)
    if compute_stress:
        eps.requires_grad_(True)
    sym = 0.5 * (eps + eps.transpose(1, 2))  # [B, 3, 3]
    pos_s = pos + torch.bmm(pos.unsqueeze(1), sym[data[K.BATCH]]).squeeze(1)  # [N, 3]
    cell_s = cell + torch.bmm(cell, sym)  # [B, 3, 3]
    return pos_s, cell_s, eps


class PolarMLModel(torch.nn.Module):
    """Network + PQEq + D3, with forces, stress, charges, dipole and Born charges.

    Parameters
    ----------
    shortrange : ShortRange
        Network (+ D3) per-atom energies.
    pqeq : torch.nn.Module or None
        A :class:`openmm_polarml.pqeq.PQEq` engine, or None for a purely short-range model.
    config : dict
        The builder configuration (stored in checkpoints to rebuild the model); its ``heads``
        name the readout heads (levels of theory) and ``head`` the selected one.

    A batch may route each frame to a head by the per-frame index ``data["head"]`` (``[B]``,
    long, see :meth:`head_indices`); frames without it use the selected head (:meth:`set_head`).
    PQEq and D3 are shared by all heads.
    """

    def __init__(self, shortrange: ShortRange, pqeq: torch.nn.Module | None, config: dict):
        super().__init__()
        self.shortrange = shortrange
        self.pqeq = pqeq
        self.config = dict(config)
        #: per-head electronegativity offsets ``[H, 95]`` (eV) added to the shared PQEq χ, with
        #: ``config["pqeq_head_chi"]`` (the levels of theory differ in ionisation energies and
        #: electron affinities); absent otherwise, so earlier model files load unchanged
        if pqeq is not None and config.get("pqeq_head_chi"):
            n_heads = len(config.get("heads") or ["default"])
            self.pqeq_chi_offset = torch.nn.Parameter(torch.zeros(n_heads, 95))
        else:
            self.pqeq_chi_offset = None
        #: Start each frame's charge/shell solve from the previous call's solution (MD).
        self.pqeq_warm_start = False
        self.warm_start = WarmStart()

    @property
    def r_max(self) -> float:
        return self.shortrange.network.r_max

    @property
    def heads(self) -> list[str]:
        """Names of the readout heads (levels of theory), in head-index order."""
        return list(self.config.get("heads") or ["default"])

    @property
    def head(self) -> str:
        """Name of the selected head."""
        return self.heads[int(self.shortrange.network.head_index)]

    def set_head(self, name: str) -> PolarMLModel:
        """Select the head used for frames without a per-frame head index; returns ``self``.

        The choice is a buffer of the network (saved with the weights, kept by TorchScript
        export) and is recorded in ``config["head"]``.
        """
        index = self.head_indices([name])[0]
        self.shortrange.network.head_index.fill_(index)
        self.config["head"] = name
        return self

    def head_indices(self, levels: list[str]) -> list[int]:
        """Head index of each level name; raises ``ValueError`` naming an unknown level."""
        heads = self.heads
        out = []
        for level in levels:
            if level not in heads:
                raise ValueError(
                    f"unknown level of theory {level!r}: this model's heads are {heads}"
                )
            out.append(heads.index(level))
        return out

    def _frame_heads(self, data: dict) -> torch.Tensor | None:
        """The batch's per-frame head index ``[B]`` (checked), or None (the selected head)."""
        head = data.get(HEAD)
        if head is None:
            return None
        n_heads = self.shortrange.network.num_heads
        if head.numel() and (int(head.min()) < 0 or int(head.max()) >= n_heads):
            raise ValueError(
                f"per-frame head index out of range: the model has {n_heads} head(s) {self.heads}"
            )
        return head.to(torch.long)

    def pqeq_energy(
        self, pos: torch.Tensor, cell: torch.Tensor, data: dict, fixed_solution: bool = False
    ) -> dict:
        """Per-frame PQEq energies ``[B]`` (eV), charges ``[N]`` (e) and dipoles ``[B, 3]`` (e·Å).

        ``fixed_solution`` selects the graph-free path (:mod:`.pqeq_term`): first derivatives
        w.r.t. positions only, no implicit derivatives of charges or dipole.
        """
        n_frames = data[K.CELL].shape[0]
        if self.pqeq is None:
            return {
                "energy": pos.new_zeros(n_frames),
                "charges": pos.new_zeros(pos.shape[0]),
                "dipole": pos.new_zeros(n_frames, 3),
            }
        warm = self.warm_start if self.pqeq_warm_start else None
        return pqeq_frames(
            self.pqeq, pos, cell, data, fixed_solution, warm, self._frame_chi_offsets(data)
        )

    def _frame_chi_offsets(self, data: dict) -> torch.Tensor | None:
        """``[B, 95]`` per-head χ offsets (eV) of each frame (its head, else the selected one)."""
        if self.pqeq_chi_offset is None:
            return None
        heads = self._frame_heads(data)
        if heads is None:
            n_frames = data[K.CELL].shape[0]
            index = int(self.shortrange.network.head_index)
            heads = torch.full((n_frames,), index, dtype=torch.long)
        return self.pqeq_chi_offset[heads.to(self.pqeq_chi_offset.device)]

    def head_chi_offsets(self) -> torch.Tensor | None:
        """``[95]`` χ offsets (eV) of the selected head, or None (what the native force adds)."""
        if self.pqeq_chi_offset is None:
            return None
        return self.pqeq_chi_offset[int(self.shortrange.network.head_index)].detach()

    def d3_energies(
        self, pos: torch.Tensor, cell: torch.Tensor, data: dict, fast: bool = True
    ) -> torch.Tensor:
        """Per-atom D3(BJ) energies ``[N]`` (eV) at positions ``pos`` (Å) and cells ``cell`` (Å).

        ``fast`` uses the native CPU kernel when it is built (first derivatives w.r.t. positions
        and cell); otherwise, and for double backward (training), the TorchScript-able module.
        """
        d3 = self.shortrange.d3
        args = (data[K.NUMBERS], cell, data[K.PBC], data[K.BATCH], data[K.PTR])
        if fast:
            return d3.native_energies(pos, *args)  # falls back to forward where not usable
        return d3(pos, *args)

    def _fixed_solution_allowed(self, data: dict, create_graph: bool, compute_stress: bool) -> bool:
        """Whether the graph-free PQEq path gives every derivative this call needs: only
        position derivatives, first order."""
        if create_graph or compute_stress or self.pqeq is None:
            return False
        if not torch.is_grad_enabled():
            return True
        others = [*self.pqeq.parameters(), data[K.CELL]]
        if data.get(K.FIELD) is not None:
            others.append(data[K.FIELD])
        return not any(t.requires_grad for t in others)

    def forward(
        self,
        data: dict,
        compute_forces: bool = True,
        compute_stress: bool = False,
        create_graph: bool = False,
        include_pqeq: bool = True,
        include_d3: bool = True,
    ) -> dict:
        """Energies and derivatives of a batch.

        Parameters
        ----------
        data : dict
            Batched frames (:func:`openmm_polarml.data_io.collate`).
        compute_forces, compute_stress : bool
            Which derivatives to return.
        create_graph : bool
            Keep the graph of the derivatives (training on forces/stress).
        include_pqeq, include_d3 : bool
            Evaluate the PQEq / D3 terms (both False: the network alone, for delta learning).

        Returns
        -------
        dict
            ``energy [B]`` (eV), ``energy_network [B]``, ``energy_pqeq [B]``, ``charges [N]`` (e),
            ``dipole [B, 3]`` (e·Å), ``forces [N, 3]`` (eV/Å), ``stress [B, 3, 3]`` (eV/Å³), and
            ``pqeq_iterations [B]`` (solver iterations) with PQEq.
        """
        pos0 = data[K.POSITIONS]
        if compute_forces and not pos0.requires_grad:
            pos0 = pos0.detach().requires_grad_(True)
        pos_s, cell_s, eps = _strain({**data, K.POSITIONS: pos0}, compute_stress)
        n_frames = data[K.CELL].shape[0]
        args = (data[K.NUMBERS], cell_s, data[K.PBC], data[K.BATCH], data[K.PTR])
        network = self.shortrange.network
        charge_state = charge_state_of_batch(data) if network.charge_input else None  # [N] e
        e_atom = network(pos_s, *args, self._frame_heads(data), charge_state)  # [N]
        if include_d3 and self.shortrange.has_d3:
            e_atom = e_atom + self.d3_energies(pos_s, cell_s, data, fast=not create_graph)
        e_sr = e_atom.new_zeros(n_frames).index_add(0, data[K.BATCH], e_atom)  # [B]
        if include_pqeq and self.pqeq is not None:
            fixed = self._fixed_solution_allowed(data, create_graph, compute_stress)
            pq = self.pqeq_energy(pos_s, cell_s, data, fixed_solution=fixed)
        else:
            pq = {
                "energy": e_sr.new_zeros(n_frames),
                "charges": e_sr.new_zeros(pos0.shape[0]),
                "dipole": e_sr.new_zeros(n_frames, 3),
            }
        energy = e_sr + pq["energy"]  # [B]
        out = {
            "energy": energy,
            "energy_network": e_sr,
            "energy_pqeq": pq["energy"],
            "charges": pq["charges"],
            "dipole": pq["dipole"],
        }
        if "iterations" in pq:
            out["pqeq_iterations"] = pq["iterations"]
        inputs = []
        if compute_forces:
            inputs.append(pos0)
        if compute_stress:
            inputs.append(eps)
        if inputs:
            grads = torch.autograd.grad(
                energy.sum(), inputs, create_graph=create_graph, allow_unused=True
            )
            k = 0
            if compute_forces:
                g = grads[0]
                out["forces"] = -g if g is not None else torch.zeros_like(pos0)
                k = 1
            if compute_stress:
                g = grads[k]
                if g is None:
                    g = torch.zeros_like(eps)
                volume = torch.linalg.det(data[K.CELL]).abs()  # [B]
                out["stress"] = g / volume.clamp_min(1e-12).view(-1, 1, 1)
        return out

    def born_charges(self, data: dict, step: float = 1e-3) -> torch.Tensor:
        """Born effective charges ``Z*_i,ab = ∂F_i,b/∂E_a`` (e) by central field differences.

        Only the PQEq term depends on the field, so only it is re-evaluated.

        Parameters
        ----------
        data : dict
            A batch of frames.
        step : float
            Field step (V/Å).

        Returns
        -------
        torch.Tensor
            ``[N, 3, 3]`` (field direction a, force component b).
        """
        n = data[K.POSITIONS].shape[0]
        out = torch.zeros(n, 3, 3, dtype=data[K.POSITIONS].dtype)
        if self.pqeq is None:
            return out
        _refuse_cell_spanning_charge_transfer(data)
        fixed = self._fixed_solution_allowed(data, False, False)
        base = data.get(K.FIELD)
        if base is None:
            base = data[K.CELL].new_zeros(data[K.CELL].shape[0], 3)
        for a in range(3):
            forces = []
            for sign in (1.0, -1.0):
                field = base.clone()
                field[:, a] += sign * step
                pos = data[K.POSITIONS].detach().requires_grad_(True)
                pq = self.pqeq_energy(
                    pos, data[K.CELL], {**data, K.FIELD: field}, fixed_solution=fixed
                )
                (g,) = torch.autograd.grad(pq["energy"].sum(), pos)
                forces.append(-g)
            out[:, a, :] = (forces[0] - forces[1]) / (2.0 * step)
        return out


def _refuse_cell_spanning_charge_transfer(data: dict) -> None:
    """Born charges of a periodic frame whose charge flows freely through the whole cell (one
    fragment) depend on which image of each atom the field couples to (the dipole Σ qᵢuᵢ is not
    periodic): symmetry-equivalent atoms get different values. Refuse them until the
    polarisation of periodic solids is defined without image choice (the studies issue)."""
    groups = data.get(K.FRAGMENTS)
    ptr = data[K.PTR].tolist()
    for b in range(len(ptr) - 1):
        periodic = bool(data[K.PBC][b].all())
        one_fragment = groups is None or groups[b] is None
        if periodic and one_fragment and ptr[b + 1] - ptr[b] > 1:
            raise ValueError(
                f"frame {b} is periodic and its charges equilibrate over the whole cell (one "
                "fragment): its Born charges would depend on the image each atom is taken in "
                "(equivalent atoms differ). Give it per-molecule or per-ion fragments (the "
                "'molecules' charge model, atoms.arrays['fragment']), or use a finite cluster"
            )
