"""NequIP-style E(3)-equivariant network producing per-atom short-range energies E0_i.

With several readout heads (one per level of theory, e.g. ``pbe`` and ``gfn2``) the message
passing is shared and each head has its own two readout layers and element shifts/scales.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3

from openmm_polarml.neighbors import batched_neighbor_list, edge_vectors
from openmm_polarml.nn.interaction import InteractionLayer
from openmm_polarml.nn.radial import BesselBasis, PolynomialCutoff

MAX_Z = 94  # H .. Pu
#: batch key of the per-frame head index ``[B]`` (long); frames without it use the selected head
HEAD = "head"


class HeadLinear(torch.nn.Module):
    """The last readout layer of ``num_heads`` heads at once, each on its own ``width`` channels.

    ``y[:, k] = Σ_j x[:, k·width + j] · W[k, j] / √width``: e3nn's ``o3.Linear`` (scalars, no
    bias, fan-in normalisation) applied head by head.
    """

    def __init__(self, num_heads: int, width: int):
        super().__init__()
        self.num_heads = int(num_heads)
        self.width = int(width)
        self.norm = 1.0 / math.sqrt(width)
        self.weight = torch.nn.Parameter(torch.randn(num_heads, width))  # [H, width]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, H·width]`` -> ``[N, H]``."""
        x = x.reshape(x.shape[0], self.num_heads, self.width)  # [N, H, width]
        return (x * self.weight).sum(-1) * self.norm  # [N, H]


class EquivariantNetwork(torch.nn.Module):
    """Message-passing network: element embedding -> interaction layers -> scalar readout.

    Per-atom energy ``E0_i = scale[Z_i] · y_i + shift[Z_i]`` (eV), with ``y_i`` the readout.
    With ``num_heads > 1``: ``E0_i = scale[h, Z_i] · y_i,h + shift[h, Z_i]`` for the head ``h`` of
    atom i's frame (the batch's per-frame head index, else the selected ``head_index``).

    Parameters
    ----------
    r_max : float
        Cutoff radius (Å).
    num_layers : int
        Number of interaction layers.
    hidden_irreps : str
        Irreps of the hidden node features, e.g. ``"32x0e+16x1o"``.
    l_max : int
        Highest degree of the edge spherical harmonics.
    num_basis : int
        Number of Bessel functions.
    radial_hidden : int
        Width of the radial MLPs.
    avg_num_neighbors : float
        Message normalisation.
    polynomial_p : int
        Order of the polynomial cutoff envelope.
    num_heads : int
        Number of readout heads. One head keeps the single-head layout (``readout_1``,
        ``readout_2``, ``shift [95]``, ``scale [95]``); more stack them: ``readout_1`` gives
        every head its own channels, ``readout_2`` is a :class:`HeadLinear`, shift and scale are
        ``[H, 95]``, and the selected head is the buffer ``head_index`` (saved with the weights,
        so it survives TorchScript export).
    charge_input : bool
        Give the network each atom's charge state: the reference charge q⁰ of the charge model
        (its fragment's total charge spread evenly over the fragment's atoms, e; see
        :mod:`openmm_polarml.model.charge_state`). ``(q⁰, q⁰²)`` enter the element embedding
        through ``charge_embedding`` and the energy directly through ``charge_energy``
        (``[95, 2]`` or ``[H, 95, 2]`` eV/e and eV/e², per head and element): an ion's energy
        offset against the neutral atom (ionisation energy, electron affinity) that an
        environment alone does not reveal. Both start at zero, so a network that gains the input
        starts as it was.
    """

    __constants__ = ["charge_input"]

    def __init__(
        self,
        r_max: float = 5.0,
        num_layers: int = 3,
        hidden_irreps: str = "32x0e+16x1o",
        l_max: int = 1,
        num_basis: int = 8,
        radial_hidden: int = 64,
        avg_num_neighbors: float = 20.0,
        polynomial_p: int = 6,
        num_heads: int = 1,
        charge_input: bool = False,
    ):
        super().__init__()
        self.r_max = float(r_max)
        hidden = o3.Irreps(hidden_irreps)
        n_scalar = sum(m for m, ir in hidden if ir.l == 0 and ir.p == 1)
        self.irreps_sh = o3.Irreps.spherical_harmonics(l_max)
        self.sh = o3.SphericalHarmonics(self.irreps_sh, True, "component")
        self.basis = BesselBasis(r_max, num_basis)
        self.envelope = PolynomialCutoff(r_max, polynomial_p)
        self.embedding = torch.nn.Embedding(MAX_Z + 1, n_scalar)

        layers = []
        irreps = o3.Irreps(f"{n_scalar}x0e")
        for _ in range(num_layers):
            layer = InteractionLayer(
                irreps, hidden, self.irreps_sh, num_basis, radial_hidden, avg_num_neighbors
            )
            layers.append(layer)
            irreps = layer.irreps_out
        self.layers = torch.nn.ModuleList(layers)
        if int(num_heads) < 1:
            raise ValueError(f"num_heads must be at least 1, got {num_heads}")
        self.num_heads = int(num_heads)
        width = max(n_scalar // 2, 1)
        # readout: the "last two linear layers" that fine-tuning may keep trainable
        self.readout_1 = o3.Linear(irreps, o3.Irreps(f"{self.num_heads * width}x0e"))
        if self.num_heads == 1:
            self.readout_2 = o3.Linear(self.readout_1.irreps_out, o3.Irreps("1x0e"))
        else:
            self.readout_2 = HeadLinear(self.num_heads, width)
        table = (MAX_Z + 1,) if self.num_heads == 1 else (self.num_heads, MAX_Z + 1)
        self.shift = torch.nn.Parameter(torch.zeros(table))  # [95] or [H, 95] eV
        self.scale = torch.nn.Parameter(torch.ones(table))  # [95] or [H, 95] eV
        # the selected head; not saved for one head (state-dict keys as before heads existed)
        head_index = torch.zeros((), dtype=torch.long)
        self.register_buffer("head_index", head_index, persistent=self.num_heads > 1)
        self.charge_input = bool(charge_input)
        if self.charge_input:
            self.charge_embedding = torch.nn.Linear(2, n_scalar, bias=False)
            torch.nn.init.zeros_(self.charge_embedding.weight)  # [n_scalar, 2]
            self.charge_energy = torch.nn.Parameter(torch.zeros(table + (2,)))  # [.., 95, 2]

    def forward(
        self,
        positions: torch.Tensor,
        numbers: torch.Tensor,
        cell: torch.Tensor,
        pbc: torch.Tensor,
        batch: torch.Tensor,
        ptr: torch.Tensor,
        head: torch.Tensor | None = None,
        charge_state: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-atom energies.

        Parameters
        ----------
        positions : torch.Tensor
            ``[N, 3]`` (Å), may require grad.
        numbers : torch.Tensor
            ``[N]`` atomic numbers (long, 1..94).
        cell : torch.Tensor
            ``[B, 3, 3]`` lattice vectors as rows (Å).
        pbc : torch.Tensor
            ``[B, 3]`` bool.
        batch : torch.Tensor
            ``[N]`` frame index of each atom.
        ptr : torch.Tensor
            ``[B + 1]`` frame offsets.
        head : torch.Tensor, optional
            ``[B]`` long head index of each frame (several heads only); default: every frame
            uses ``head_index``.
        charge_state : torch.Tensor, optional
            ``[N]`` reference charges q⁰ (e) with ``charge_input``; required there (a network
            that reads charge states refuses to guess them), ignored otherwise.

        Returns
        -------
        torch.Tensor
            ``[N]`` per-atom energies E0_i (eV).
        """
        nl: list[torch.Tensor] = batched_neighbor_list(positions, cell, pbc, ptr, self.r_max, True)
        center = nl[0]
        neighbor = nl[1]
        vec = edge_vectors(positions, cell, batch, center, neighbor, nl[2])  # [E, 3]
        r = torch.linalg.norm(vec, dim=-1)  # [E]
        edge_sh = self.sh(vec)  # [E, sh]
        edge_radial = self.basis(r) * self.envelope(r).unsqueeze(-1)  # [E, num_basis]
        h = self.embedding(numbers)  # [N, n_scalar]
        charge_features = torch.zeros(0, 2, dtype=positions.dtype, device=positions.device)
        if self.charge_input:
            if charge_state is None:
                raise ValueError(
                    "this network reads each atom's charge state (charge_input): pass "
                    "charge_state [N] (e), the charge model's reference charges"
                )
            q = charge_state.to(positions.dtype)  # [N] e
            charge_features = torch.stack([q, q * q], dim=-1)  # [N, 2]
            h = h + self.charge_embedding(charge_features)  # [N, n_scalar]
        for layer in self.layers:
            h = layer(h, edge_sh, edge_radial, center, neighbor)  # [N, hidden]
        y = self.readout_2(self.readout_1(h))  # [N, H]
        if self.num_heads == 1:
            y = y.squeeze(-1)  # [N]
            energy = self.scale[numbers] * y + self.shift[numbers]  # [N]
            if self.charge_input:
                energy = energy + (self.charge_energy[numbers] * charge_features).sum(-1)
            return energy
        if head is None:
            atom_head = self.head_index.expand(numbers.shape[0])  # [N]
        else:
            atom_head = head.index_select(0, batch)  # [N]
        y = y.gather(1, atom_head.unsqueeze(-1)).squeeze(-1)  # [N]
        energy = self.scale[atom_head, numbers] * y + self.shift[atom_head, numbers]  # [N]
        if self.charge_input:
            table = self.charge_energy[atom_head, numbers]  # [N, 2]
            energy = energy + (table * charge_features).sum(-1)
        return energy
