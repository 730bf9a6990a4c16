"""Model initialisation from data statistics, and fine-tuning from a pre-trained checkpoint."""

from __future__ import annotations

from fnmatch import fnmatch

import torch

from openmm_polarml.data_io import collate, reference_energies
from openmm_polarml.data_io import keys as K
from openmm_polarml.data_io.statistics import charge_state_energies
from openmm_polarml.model.charge_state import charge_state_of_frame
from openmm_polarml.training.data import frames_of_head

#: The seed froze everything but the last two linear layers.
DEFAULT_TRAINABLE = ["shortrange.network.readout_*"]
#: PQEq element parameters refitted by ``refit_pqeq``: χ, η, Ks (R keeps the published Coulomb
#: kernel, so the projection of :meth:`ElementParameters.project_` guarantees stability)
PQEQ_TRAINABLE = ("chi", "eta_raw", "spring_raw")


def _head_tables(net, frames: list, fallback: bool) -> list:
    """``(head index, shift row, scale row, frames of that head)`` per head; a head without
    frames of its own gets all frames (``fallback``) or is left out."""
    if net.num_heads == 1:
        return [(0, net.shift, net.scale, frames)]
    default = int(net.head_index)
    out = []
    for k in range(net.num_heads):
        mine = frames_of_head(frames, k, default) or (frames if fallback else [])
        if mine:
            out.append((k, net.shift[k], net.scale[k], mine))
    return out


@torch.no_grad()
def init_statistics(model, frames: list) -> None:
    """Per-element shifts by least squares on the (residual) energies; scale = force RMS.

    With several heads, each head's reference energies and scale come from its own frames.
    """
    for _, shift, scale, mine in _head_tables(model.shortrange.network, frames, True):
        forces = torch.cat(
            [f[K.FORCES] for f in mine if bool(f[K.HAS_FORCES].all())] or [torch.ones(1, 3)]
        )
        rms = float(forces.pow(2).mean().sqrt())
        shift.copy_(reference_energies(mine).to(shift.dtype))
        scale.fill_(rms if rms > 1e-6 else 1.0)


@torch.no_grad()
def refit_shifts(model, frames: list, batch_size: int = 16, full_energy: bool = False) -> None:
    """Add to the element shifts the least-squares per-element fit of the current energy error
    (per head, on its own frames).

    ``full_energy``: the frames carry total energies (joint PQEq fitting), so the error is taken
    against the full model (network + PQEq + D3); otherwise against the network alone (the frames
    carry delta-learning residuals).

    A network with the charge-state input gets its charge-energy table fitted in the same least
    squares (:func:`~openmm_polarml.data_io.statistics.charge_state_energies`): freely when the
    table is still zero, and with the ridge on its corrections once it holds trained values, so
    that fine-tuning to another level of theory on ions alone moves the shifts, not the ion
    offsets."""
    errors = []
    dtype = model.shortrange.network.shift.dtype
    for start in range(0, len(frames), batch_size):
        batch = collate(frames[start : start + batch_size], dtype)
        with torch.enable_grad():
            pred = model(
                batch, compute_forces=False, include_pqeq=full_energy, include_d3=full_energy
            )
        errors += (batch[K.ENERGY] - pred["energy"].detach()).tolist()
    error_of = {id(f): e for f, e in zip(frames, errors, strict=True)}
    net = model.shortrange.network
    for head, shift, _, mine in _head_tables(net, frames, False):
        mine_errors = [error_of[id(f)] for f in mine]
        if not net.charge_input:
            shift.add_(reference_energies(mine, mine_errors).to(dtype))
            continue
        states = [charge_state_of_frame(f) for f in mine]
        table = net.charge_energy if net.num_heads == 1 else net.charge_energy[head]
        # a trained table keeps its ion offsets where the data cannot tell them from the shifts
        ridge_on = "charges" if bool(table.detach().abs().sum() > 0) else "shifts"
        delta, charge_delta = charge_state_energies(mine, mine_errors, states, ridge_on=ridge_on)
        shift.add_(delta.to(dtype))
        table.add_(charge_delta.to(dtype))


def load_checkpoint_state(path) -> tuple[dict, dict]:
    """(model configuration, state dict) of a saved model or training checkpoint (EMA preferred),
    read with ``weights_only=True`` (:mod:`openmm_polarml.model.serialization`)."""
    from openmm_polarml.model.serialization import model_contents, read_blob

    config, state, _ = model_contents(read_blob(path), path)
    return config, state


def apply_finetune(ft: dict, dtype: str) -> torch.nn.Module:
    """Load a pre-trained model and freeze all parameters but the chosen ones.

    Parameters
    ----------
    ft : dict
        ``checkpoint`` (path), ``trainable`` (glob patterns of parameter names, default the two
        readout linears), ``refit_pqeq`` (make the PQEq element parameters trainable),
        ``pqeq_trainable`` (which of them; default :data:`PQEQ_TRAINABLE`), ``pqeq_head_chi``
        (add per-head χ offsets, starting at zero; train them with the pattern
        ``"pqeq_chi_offset"`` in ``trainable``), ``fragments`` (the charge model),
        ``charge_transfer`` (``global`` or ``split``: switch the PQEq charge transfer, with
        ``bond_hardness`` (eV/e²) as the start of a new bond-hardness table; train it with the
        pattern ``"pqeq.bond_hardness.raw"``), ``charge_input`` (give the network each atom's
        charge state, see :class:`~openmm_polarml.model.network.EquivariantNetwork`).
    dtype : str
        Training dtype.
    """
    config, state = load_checkpoint_state(ft["checkpoint"])
    config["dtype"] = dtype
    refit_pqeq = bool(ft.get("refit_pqeq", False))
    if refit_pqeq:
        if not config.get("pqeq"):
            raise ValueError("refit_pqeq needs a model with a PQEq term")
        config["pqeq"] = {**config["pqeq"], "trainable": True}
    if ft.get("pqeq_head_chi") and not config.get("pqeq_head_chi"):  # add per-head χ offsets
        if not config.get("pqeq"):
            raise ValueError("pqeq_head_chi needs a model with a PQEq term")
        config["pqeq_head_chi"] = True
        n_heads = len(config.get("heads") or ["default"])
        state = {**state, "pqeq_chi_offset": torch.zeros(n_heads, 95)}  # start at no offset
    config, state = _charge_transfer(ft, config, state)
    config, state = _charge_input(ft, config, state)
    from openmm_polarml.model.serialization import model_from_contents

    model = model_from_contents(config, state, ft["checkpoint"])
    patterns = ft.get("trainable") or DEFAULT_TRAINABLE
    pqeq_names = ft.get("pqeq_trainable") or PQEQ_TRAINABLE
    names = [name for name, _ in model.named_parameters()]
    unmatched = [pat for pat in patterns if not any(fnmatch(n, pat) for n in names)]
    if unmatched:  # a pattern that selects nothing would train less than asked, silently
        raise ValueError(
            f"finetune.trainable pattern(s) {unmatched} match no parameter of the model; "
            f"parameters are named like {names[:3]} ... {names[-2:]}"
        )
    for name, p in model.named_parameters():
        keep = any(fnmatch(name, pat) for pat in patterns)
        keep = keep or (refit_pqeq and name.split(".")[-1] in pqeq_names)
        p.requires_grad_(keep)
    return model


def _charge_input(ft: dict, config: dict, state: dict) -> tuple[dict, dict]:
    """Apply ``ft["charge_input"]``: a network that gains the charge-state input gets its
    embedding and energy table at zero (it starts as it was; train them with the pattern
    ``"shortrange.network.charge_*"``, refit the table with ``refit_shifts``)."""
    network = dict(config.get("network") or {})
    if not ft.get("charge_input") or network.get("charge_input"):
        return config, state
    prefix = "shortrange.network."
    n_scalar = state[prefix + "embedding.weight"].shape[1]
    shift = state[prefix + "shift"]  # [95] or [H, 95]
    config["network"] = {**network, "charge_input": True}
    state = {
        **state,
        prefix + "charge_embedding.weight": torch.zeros(n_scalar, 2, dtype=shift.dtype),
        prefix + "charge_energy": torch.zeros(*shift.shape, 2, dtype=shift.dtype),
    }
    return config, state


def _charge_transfer(ft: dict, config: dict, state: dict) -> tuple[dict, dict]:
    """Apply ``ft["charge_transfer"]`` to a checkpoint's configuration and state: a model that
    switches to split charges gets a bond-hardness table at ``ft["bond_hardness"]``."""
    transfer = ft.get("charge_transfer")
    if transfer is None:
        return config, state
    if not config.get("pqeq"):
        raise ValueError("charge_transfer needs a model with a PQEq term")
    from openmm_polarml.pqeq.split_charge import DEFAULT_BOND_HARDNESS, BondHardness

    spec = {**config["pqeq"], "charge_transfer": transfer}
    key = "pqeq.bond_hardness.raw"
    if transfer == "split" and any(fnmatch(key, pat) for pat in ft.get("trainable") or []):
        spec["bond_hardness_trainable"] = True  # a parameter, not a buffer, so it can be trained
    if transfer == "split" and key not in state:
        value = float(ft.get("bond_hardness") or DEFAULT_BOND_HARDNESS)
        spec["bond_hardness"] = value
        state = {**state, key: BondHardness(value).raw}
    if transfer != "split":
        state = {k: v for k, v in state.items() if k != key}
    config["pqeq"] = spec
    return config, state
