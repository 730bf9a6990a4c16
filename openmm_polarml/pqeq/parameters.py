"""Per-element PQEq parameters (χ, η, R, Ks) as a torch module with bounded trainable values."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import torch

from .. import units
from .errors import UnknownElementError

#: Stability floor for trainable springs (eV/Å²): keeps fitted shells away from the catastrophe.
MIN_SPRING_EV_PER_A2 = 0.05


@dataclass(frozen=True)
class ElementRecord:
    """One row of the shipped table, in engine units (eV, Å, e, eV/Å²)."""

    symbol: str
    number: int
    chi: float
    eta: float
    radius: float
    spring: float
    shell_charge: float  # the shell site's charge, −Z_i (see shell_site_charge)
    polarizable: bool


def shell_site_charge(z: float) -> float:
    """The charge (e) the shell site carries for the model's shell parameter Z_i (e): −Z_i.

    The one statement of the sign convention. The element table's ``shell_charge`` column and the
    native ``PQEqForce``'s ``shellCharge`` are the shell site's charge; the engine's ``shell_charge``
    (:class:`~.energy.AtomTerms`, :class:`ElementParameters`, artifact metadata) is Z_i, with the
    core carrying q_i + Z_i. :func:`shell_parameter` is the inverse.
    """
    return -z


def shell_parameter(site_charge: float) -> float:
    """The model's shell parameter Z_i (e) for the charge the shell site carries (e): the inverse
    of :func:`shell_site_charge`."""
    return -site_charge


def load_element_table(path: str | None = None) -> dict[int, ElementRecord]:
    """Read the PQEq element table (the shipped ReaxNet table, H–Lr, unless ``path`` names a
    CSV of the same format), converting Ks to eV/Å². The one parser of that format.

    Returns
    -------
    dict
        Atomic number -> :class:`ElementRecord` (χ, η in eV; R in Å; Ks in eV/Å²).
    """
    if path is None:
        text = resources.files("openmm_polarml.data").joinpath("pqeq_parameters.csv").read_text()
    else:
        with open(path) as fh:
            text = fh.read()
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    table = {}
    for row in csv.DictReader(lines):
        number = int(row["Z"])
        table[number] = ElementRecord(
            symbol=row["symbol"],
            number=number,
            chi=float(row["chi0_eV"]),
            eta=float(row["eta0_eV"]),
            radius=float(row["rad_A"]),
            spring=float(row["Ks_kcal_per_mol_A2"]) * units.KCAL_PER_MOL_TO_EV,
            shell_charge=float(row["shell_charge"]),
            polarizable=row["polarizable"].strip().lower() in ("true", "1", "yes"),
        )
    return table


def _inverse_softplus(x: torch.Tensor) -> torch.Tensor:
    return x + torch.log(-torch.expm1(-x))


class ElementParameters(torch.nn.Module):
    """PQEq parameters for every element of the table, optionally trainable.

    Trainable values are reparametrised so they stay physical: χ free; η, R positive through
    softplus; Ks ≥ ``MIN_SPRING_EV_PER_A2`` through a shifted softplus (for polarisable elements).

    Parameters
    ----------
    trainable : bool
        Whether χ, η, R and Ks are ``torch.nn.Parameter``.
    dtype : torch.dtype
        Floating dtype of the stored values.
    """

    def __init__(self, trainable: bool = False, dtype: torch.dtype = torch.float64):
        super().__init__()
        table = load_element_table()
        size = max(table) + 1
        known = torch.zeros(size, dtype=torch.bool)
        values = torch.zeros(6, size, dtype=torch.float64)
        for z, rec in table.items():
            known[z] = True
            pol = rec.polarizable and rec.spring > 0.0
            values[:, z] = torch.tensor(
                [
                    rec.chi,
                    rec.eta,
                    rec.radius,
                    rec.spring,
                    shell_parameter(rec.shell_charge) if pol else 0.0,
                    pol,
                ],
                dtype=torch.float64,
            )
        self.symbols = {z: rec.symbol for z, rec in table.items()}
        self.register_buffer("known", known)
        self.register_buffer("shell_charge", values[4].to(dtype))  # Z_i (e), 0 if no shell
        self.register_buffer("polarizable", values[5] > 0.5)
        self.trainable = trainable
        # published η (eV) and Ks (eV/Å²): the floors of fitted values (not saved: from the table)
        self.register_buffer("eta_published", values[1].to(dtype), persistent=False)
        self.register_buffer("spring_published", values[3].to(dtype), persistent=False)
        floor = MIN_SPRING_EV_PER_A2
        spring_raw = _inverse_softplus((values[3] - floor).clamp_min(1e-6))
        raw = {
            "chi": values[0],
            "eta_raw": _inverse_softplus(values[1]),
            "radius_raw": _inverse_softplus(values[2]),
            "spring_raw": spring_raw,
        }
        for name, tensor in raw.items():
            tensor = tensor.to(dtype)
            if trainable:
                setattr(self, name, torch.nn.Parameter(tensor))
            else:
                self.register_buffer(name, tensor)

    @torch.no_grad()
    def project_(self) -> int:
        """Move trainable values back into the stable region after an optimiser step.

        Fitted values may only stiffen: η_i ≥ published η_i and Ks_i ≥ published Ks_i (χ is free;
        keep R fixed by not training it). Then the charge–shell Hessian of every geometry is the
        published one plus diag(Δη, ΔKs) ⪰ 0, so every geometry the published table solves stays
        solvable (no polarisation catastrophe can be trained in). Returns how many values moved.
        """
        eta = self._softplus(self.eta_raw)  # [Z] eV
        # round trips through softplus (and float32) must not count as violations
        slack = 1.0 - max(8.0 * torch.finfo(self.eta_raw.dtype).eps, 1e-9)
        low_eta = self.known & (eta < slack * self.eta_published)
        self.eta_raw[low_eta] = _inverse_softplus(self.eta_published[low_eta])
        spring = self._softplus(self.spring_raw) + MIN_SPRING_EV_PER_A2  # [Z] eV/Å²
        floor = torch.clamp(self.spring_published, min=MIN_SPRING_EV_PER_A2)  # [Z]
        low_spring = self.polarizable & (spring < slack * floor)
        excess = (floor[low_spring] - MIN_SPRING_EV_PER_A2).clamp_min(1e-6)
        self.spring_raw[low_spring] = _inverse_softplus(excess)
        return int(low_eta.sum()) + int(low_spring.sum())

    def _softplus(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.softplus(x)

    def check_numbers(self, numbers: torch.Tensor) -> None:
        """Raise :class:`UnknownElementError` naming any atomic number without parameters."""
        bad = (numbers < 1) | (numbers >= self.known.numel())
        if not bool(bad.any()):
            bad = ~self.known[numbers]
        if bool(bad.any()):
            z = int(numbers[bad][0])
            raise UnknownElementError(
                f"no PQEq parameters for atomic number {z}: the table covers H (1) to Lr (103); "
                "pass a custom ElementParameters table or remove the atom"
            )

    def per_atom(self, numbers: torch.Tensor) -> dict[str, torch.Tensor]:
        """Parameters gathered for each atom.

        Returns
        -------
        dict
            ``chi`` (eV), ``eta`` (eV), ``radius`` (Å), ``spring`` (eV/Å², 0 for no shell),
            ``shell_charge`` (Z_i, e), ``alpha`` (Gaussian exponent λ/(2R²), Å⁻²), each ``[N]``.
        """
        self.check_numbers(numbers)
        radius = self._softplus(self.radius_raw)[numbers]  # [N]
        pol = self.polarizable[numbers]
        spring = (self._softplus(self.spring_raw)[numbers] + MIN_SPRING_EV_PER_A2) * pol
        return {
            "chi": self.chi[numbers],
            "eta": self._softplus(self.eta_raw)[numbers],
            "radius": radius,
            "spring": spring,
            "shell_charge": self.shell_charge[numbers] * pol,
            "alpha": units.PQEQ_LAMBDA / (2.0 * radius**2),
        }
