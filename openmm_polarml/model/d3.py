"""Grimme D3 dispersion with Becke–Johnson damping, two-body, as a TorchScript-able module.

The reference data (reference C6 grid, reference coordination numbers, covalent radii and
<r⁴>/<r²> ratios) and the functional parameters come from the maintained ``tad-dftd3``
package (Apache-2.0, torch autodiff D3), read once at build time and stored as buffers so the
exported artifact does not need the package. The energy expression is written here because
``tad-dftd3`` uses dense N×N tensors and no periodic images, and does not script:

    CN_i  = Σ_j 1 / (1 + exp(−16 (Rcov_ij / r_ij − 1)))           (Rcov already scaled by 4/3)
    w_ia  = exp(−4 (CN_i − CNref_ia)²) / Σ_a' exp(−4 (CN_i − CNref_ia')²)
    C6_ij = Σ_ab w_ia w_jb C6ref(Z_i, Z_j, a, b),   C8_ij = 3 C6_ij Q_i Q_j
    E     = −Σ_{i<j} [s6 C6/(r⁶ + R0⁶) + s8 C8/(r⁸ + R0⁸)],  R0 = a1 sqrt(C8/C6) + a2

summed over all periodic images inside ``cutoff``; a quintic switch over the last
``switch_width`` Å makes energy and forces continuous at both cutoffs (the published code and
``tad-dftd3`` truncate sharply). The three-body ATM term is not included.
:meth:`D3BJ.native_energies` evaluates the same energies with a native CPU kernel (eager only,
not TorchScript; see :mod:`openmm_polarml.model.d3_native`).
Units: eV, Å (tables converted from atomic units with tad-mctc's own constants).
"""

from __future__ import annotations

import torch

from openmm_polarml.model.d3_native import native_available
from openmm_polarml.neighbors import SkinNeighborList, edge_vectors

__all__ = ["D3BJ", "load_d3_tables", "native_available", "placeholder_tables"]

MAX_Z = 94


def load_d3_tables(functional: str = "pbe") -> dict:
    """D3 reference tables and BJ parameters in eV/Å units, from ``tad-dftd3``.

    Parameters
    ----------
    functional : str
        Functional whose D3(BJ) parameters to use (e.g. ``"pbe"``).

    Returns
    -------
    dict
        ``ref_cn [95, 7]``, ``ref_c6 [95, 95, 7, 7]`` (eV Å⁶), ``rcov [95]`` (Å),
        ``r4r2 [95]`` (Å^½·… such that 3 r4r2_i r4r2_j = C8/C6 in Å²), and floats
        ``s6, s8, a1, a2`` (a2 in Å).
    """
    try:
        from tad_dftd3 import data as d3data
        from tad_dftd3.param import get_functional_params
        from tad_dftd3.reference import Reference
        from tad_mctc import units as au
        from tad_mctc.data import radii
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "D3 needs the tad-dftd3 package: pip install tad-dftd3==0.7.0 tad-mctc==0.8.0"
        ) from err
    f64 = torch.float64
    ref = Reference(dtype=f64)
    bohr = float(au.AU2AA)  # Å per bohr
    hartree = float(au.AU2EV)  # eV per hartree
    par = {k: float(v) for k, v in get_functional_params(functional, "bj").items()}
    return {
        "ref_cn": ref.cn[: MAX_Z + 1].clone(),
        "ref_c6": ref.c6[: MAX_Z + 1, : MAX_Z + 1].clone() * hartree * bohr**6,
        "rcov": radii.COV_D3(dtype=f64)[: MAX_Z + 1] * bohr,
        "r4r2": d3data.R4R2(dtype=f64)[: MAX_Z + 1] * bohr,
        "s6": float(par.get("s6", 1.0)),
        "s8": float(par["s8"]),
        "a1": float(par["a1"]),
        "a2": float(par["a2"]) * bohr,
    }


def placeholder_tables(parameters: dict) -> dict:
    """Zero-filled tables with the right shapes plus the given ``s6, s8, a1, a2``.

    Used to rebuild a saved model without ``tad-dftd3``: the state dict then fills the tables.
    """
    f64 = torch.float64
    return {
        "ref_cn": torch.zeros(MAX_Z + 1, 7, dtype=f64),
        "ref_c6": torch.zeros(MAX_Z + 1, MAX_Z + 1, 7, 7, dtype=f64),
        "rcov": torch.zeros(MAX_Z + 1, dtype=f64),
        "r4r2": torch.zeros(MAX_Z + 1, dtype=f64),
        **{k: float(parameters[k]) for k in ("s6", "s8", "a1", "a2")},
    }


def _switch(r: torch.Tensor, r_off: float, width: float) -> torch.Tensor:
    """Quintic switch: 1 below ``r_off − width``, 0 above ``r_off``, C² in between."""
    t = ((r - (r_off - width)) / width).clamp(0.0, 1.0)
    return 1.0 - t * t * t * (10.0 - 15.0 * t + 6.0 * t * t)


class D3BJ(torch.nn.Module):
    """Two-body D3(BJ) dispersion energy per atom (eV).

    Parameters
    ----------
    tables : dict
        Output of :func:`load_d3_tables` (or a state dict providing the same buffers).
    cutoff : float
        Dispersion pair cutoff (Å).
    cn_cutoff : float
        Coordination-number cutoff (Å).
    switch_width : float
        Width of the smooth switch below each cutoff (Å).
    pair_skin : float
        Verlet skin of the pair list kept between calls (Å; 0: a new list every call). Pairs
        beyond the cutoffs have exactly zero weight through the switches, so the energy does not
        depend on it; along MD it saves most neighbour searches (the TorchScript/OpenMM path).
    """

    def __init__(
        self,
        tables: dict,
        cutoff: float = 12.0,
        cn_cutoff: float = 10.0,
        switch_width: float = 2.0,
        pair_skin: float = 0.5,
    ):
        super().__init__()
        self.cutoff = float(cutoff)
        self.cn_cutoff = float(cn_cutoff)
        self.switch_width = float(switch_width)
        self.s6 = float(tables["s6"])
        self.s8 = float(tables["s8"])
        self.a1 = float(tables["a1"])
        self.a2 = float(tables["a2"])
        dt = torch.get_default_dtype()
        self.register_buffer("ref_cn", tables["ref_cn"].to(dt))  # [95, 7]
        self.register_buffer("ref_c6", tables["ref_c6"].to(dt))  # [95, 95, 7, 7]
        self.register_buffer("rcov", tables["rcov"].to(dt))  # [95]
        self.register_buffer("r4r2", tables["r4r2"].to(dt))  # [95]
        self.pairs = SkinNeighborList(max(self.cutoff, self.cn_cutoff), pair_skin)

    def _weights(self, cn: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
        """Gaussian reference weights ``[N, 7]``, exp(−4 (CN_ref − CN)²) normalised over the
        element's references (float64).

        Normalised as a softmax, i.e. relative to the nearest reference, so the weights sum to
        one at every CN. The plain ratio underflows once CN lies ~13 above every reference
        (dense ionic crystals of K, Rb, Cs, Ba at a 10 Å CN cutoff); Grimme's codes then give
        all weight to the reference with the largest CN, which is the nearest one there, so
        the two agree wherever the plain ratio is representable. Elements without references
        get zero weights.
        """
        ref = self.ref_cn[numbers].double()  # [N, 7]
        valid = ref >= 0.0
        dcn = ref - cn.double().unsqueeze(-1)  # [N, 7]
        exponent = torch.where(valid, -4.0 * dcn * dcn, torch.full_like(dcn, -1e300))
        has_refs = valid.any(-1, keepdim=True).to(dcn.dtype)  # [N, 1]
        return (torch.softmax(exponent, dim=-1) * has_refs).to(cn.dtype)

    def forward(
        self,
        positions: torch.Tensor,
        numbers: torch.Tensor,
        cell: torch.Tensor,
        pbc: torch.Tensor,
        batch: torch.Tensor,
        ptr: torch.Tensor,
    ) -> torch.Tensor:
        """Per-atom dispersion energies ``[N]`` (eV); arguments as for the network."""
        nl: list[torch.Tensor] = self.pairs(positions, cell, pbc, ptr)  # within rmax + skin
        i = nl[0]
        j = nl[1]
        vec = edge_vectors(positions, cell, batch, i, j, nl[2])  # [P, 3]
        r = torch.linalg.norm(vec, dim=-1)  # [P]
        zi = numbers.index_select(0, i)
        zj = numbers.index_select(0, j)
        # coordination numbers
        rc = self.rcov.index_select(0, zi) + self.rcov.index_select(0, zj)  # [P]
        count = 1.0 / (1.0 + torch.exp(-16.0 * (rc / r - 1.0)))
        count = count * _switch(r, self.cn_cutoff, self.switch_width)  # [P]
        cn = torch.zeros(positions.shape[0], dtype=r.dtype, device=r.device)
        cn = cn.index_add(0, i, count).index_add(0, j, count)  # [N]
        gw = self._weights(cn, numbers)  # [N, 7]
        # pair C6 and damping
        # C6_ij = w_i · C6ref(Z_i, Z_j) · w_j, contracted first over the atoms' own references
        # against the few element types present: [N, U, 7] instead of a [P, 7, 7] gather
        uniq_inv = torch.unique(numbers, sorted=True, return_inverse=True)
        species = uniq_inv[1]  # [N] index of each atom's element among the present ones
        uniq = uniq_inv[0]
        n_types = uniq.shape[0]
        # references are a prefix of the 7 slots: keep the most any present element has (H, Na,
        # Cl: 2; C: 5); the dropped weights are exactly zero
        n_refs = int((self.ref_cn.index_select(0, uniq) >= 0.0).sum(-1).max())
        gw = gw[:, :n_refs]  # [N, R]
        table = self.ref_c6.index_select(0, uniq).index_select(1, uniq)  # [U, U, 7, 7]
        table = table[:, :, :n_refs, :n_refs]  # [U, U, R, R]
        v = torch.einsum("nuab,na->nub", table.index_select(0, species), gw)  # [N, U, R]
        v = v.reshape(-1, v.shape[-1])  # [N * U, R]
        c6 = (v.index_select(0, i * n_types + species[j]) * gw.index_select(0, j)).sum(-1)  # [P]
        qq = 3.0 * self.r4r2.index_select(0, zi) * self.r4r2.index_select(0, zj)  # [P] Å²
        r0 = self.a1 * torch.sqrt(qq) + self.a2  # [P]
        r2 = r * r
        r6 = r2 * r2 * r2
        r06 = r0.pow(6)
        e_pair = -(self.s6 * c6 / (r6 + r06) + self.s8 * c6 * qq / (r6 * r2 + r06 * r0 * r0))
        e_pair = e_pair * _switch(r, self.cutoff, self.switch_width)  # [P]
        half = 0.5 * e_pair
        e = torch.zeros(positions.shape[0], dtype=r.dtype, device=r.device)
        return e.index_add(0, i, half).index_add(0, j, half)  # [N]

    @torch.jit.unused
    def native_energies(
        self,
        positions: torch.Tensor,
        numbers: torch.Tensor,
        cell: torch.Tensor,
        pbc: torch.Tensor,
        batch: torch.Tensor,
        ptr: torch.Tensor,
    ) -> torch.Tensor:
        """Per-atom dispersion energies ``[N]`` (eV) as :meth:`forward`, by the native kernel.

        Differentiable w.r.t. ``positions`` ``[N, 3]`` and ``cell`` ``[B, 3, 3]`` (forces and
        stress; no double backward, no second backward through one graph). Eager mode only (not
        compiled by TorchScript). Falls back to :meth:`forward` when the kernel is not built or
        is disabled (``POLARML_NATIVE_KERNELS=0``), for non-CPU tensors, and for frames periodic
        in some directions only. Arguments as for :meth:`forward`.
        """
        from openmm_polarml.model import d3_native

        if not d3_native.usable(positions, pbc):
            return self.forward(positions, numbers, cell, pbc, batch, ptr)
        return d3_native.d3_energies(self, positions, numbers, cell, pbc, ptr)
