"""Build a model from a configuration dict; the builder owns seed, dtype and element shifts."""

from __future__ import annotations

import copy

import torch

from openmm_polarml.model.full import PolarMLModel
from openmm_polarml.model.network import EquivariantNetwork
from openmm_polarml.model.presets import preset
from openmm_polarml.model.shortrange import ShortRange

DEFAULTS = {
    "preset": "small",
    "network": {},  # overrides of the preset
    "dtype": "float64",
    "seed": 0,
    "d3": None,  # functional name (e.g. "pbe") for D3(BJ), or None
    "d3_cutoff": 12.0,  # Å
    "d3_cn_cutoff": 10.0,  # Å
    "d3_parameters": None,  # s6, s8, a1, a2 (Å) recorded at build time
    # dict(long_range=..., tolerance=..., trainable=..., charge_transfer="global"|"split",
    # bond_hardness=..., bond_hardness_trainable=...) or None (no PQEq)
    "pqeq": None,
    "shift": None,  # list of 95 per-element energy shifts (eV) ([H][95] with heads), or None
    "scale": None,  # float or list of 95 per-element scales (eV)
    "heads": ["default"],  # one readout head per level of theory, e.g. ["pbe", "gfn2"]
    "head": None,  # the selected head (None: the first)
    # the charge model: which atom groups keep their own total charge in the PQEq solve,
    # "none" (one total-charge constraint per structure) or "molecules" (molecules with formal
    # charges, openmm_polarml.pqeq.charge_groups); the same in training, ASE and OpenMM
    "fragments": "none",
    # per-head electronegativity offsets [heads, 95] (eV) on top of the shared PQEq χ: trainable
    # with the PQEq parameters (finetune.pqeq_trainable: ["pqeq_chi_offset"]), used by every
    # interface (the native force gets the selected head's χ)
    "pqeq_head_chi": False,
}

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_config(config: dict | None) -> dict:
    """Fill missing keys of a model configuration with :data:`DEFAULTS`."""
    out = copy.deepcopy(DEFAULTS)
    out.update(copy.deepcopy(config or {}))
    return out


def check_heads(cfg: dict) -> list[str]:
    """The head names of a resolved configuration, validated; ``cfg["head"]`` filled in."""
    heads = cfg["heads"]
    if (
        not isinstance(heads, list | tuple)
        or not heads
        or not all(isinstance(h, str) and h for h in heads)
        or len(set(heads)) != len(heads)
    ):
        raise ValueError(f"'heads' must be a non-empty list of distinct names, got {heads!r}")
    cfg["heads"] = list(heads)
    if cfg["head"] is None:
        cfg["head"] = heads[0]
    if cfg["head"] not in heads:
        raise ValueError(f"head {cfg['head']!r} is not one of the model's heads {list(heads)}")
    return cfg["heads"]


def build_pqeq(spec: dict | None):
    """The PQEq engine for a ``pqeq`` spec, or None."""
    if spec is None:
        return None
    from openmm_polarml.pqeq import PQEq
    from openmm_polarml.pqeq.parameters import ElementParameters
    from openmm_polarml.pqeq.split_charge import DEFAULT_BOND_HARDNESS, BondHardness

    spec = dict(spec)
    params = ElementParameters(trainable=bool(spec.pop("trainable", False)))
    spec.setdefault("long_range", "ewald")
    hardness_trainable = bool(spec.pop("bond_hardness_trainable", False))
    if spec.get("charge_transfer") == "split":  # split charges: per-element bond hardness table
        value = float(spec.pop("bond_hardness", DEFAULT_BOND_HARDNESS))
        spec["bond_hardness"] = BondHardness(value, trainable=hardness_trainable)
    return PQEq(parameters=params, **spec)  # other keys (mode, tolerance, ...) passed through


def build_d3(cfg: dict):
    """D3(BJ) module of a resolved configuration (records its parameters in ``cfg``), or None.

    Without ``tad-dftd3`` installed, a configuration that already records ``d3_parameters``
    (every saved model) is rebuilt with placeholder tables, to be filled by its state dict.
    """
    if not cfg["d3"]:
        return None
    from openmm_polarml.model.d3 import D3BJ, load_d3_tables, placeholder_tables

    try:
        tables = load_d3_tables(cfg["d3"])
    except ImportError:
        if not cfg.get("d3_parameters"):
            raise
        tables = placeholder_tables(cfg["d3_parameters"])
    cfg["d3_parameters"] = {k: float(tables[k]) for k in ("s6", "s8", "a1", "a2")}
    return D3BJ(tables, cfg["d3_cutoff"], cfg["d3_cn_cutoff"])


def build_model(config: dict | None = None) -> PolarMLModel:
    """Build a :class:`PolarMLModel` deterministically from ``config`` (see :data:`DEFAULTS`).

    The random initialisation depends only on ``config["seed"]``; the parameters are created in
    ``config["dtype"]`` and the global RNG/default dtype are restored afterwards.
    """
    cfg = resolve_config(config)
    heads = check_heads(cfg)
    dtype = DTYPES[cfg["dtype"]]
    old_dtype = torch.get_default_dtype()
    rng = torch.random.get_rng_state()
    try:
        torch.set_default_dtype(dtype)
        torch.manual_seed(int(cfg["seed"]))
        net_kwargs = preset(cfg["preset"], **cfg["network"])
        if len(heads) > 1:  # one head: the constructor call (and so the weights) as before
            net_kwargs["num_heads"] = len(heads)
        net = EquivariantNetwork(**net_kwargs)
        with torch.no_grad():
            if cfg["shift"] is not None:
                net.shift.copy_(torch.as_tensor(cfg["shift"], dtype=dtype).expand_as(net.shift))
            if cfg["scale"] is not None:
                net.scale.copy_(torch.as_tensor(cfg["scale"], dtype=dtype).expand_as(net.scale))
            net.head_index.fill_(heads.index(cfg["head"]))
        d3 = build_d3(cfg)
        pqeq = build_pqeq(cfg["pqeq"])
        model = PolarMLModel(ShortRange(net, d3), pqeq, cfg)
    finally:
        torch.set_default_dtype(old_dtype)
        torch.random.set_rng_state(rng)
    return model.to(dtype)


def fresh_copy(model: PolarMLModel) -> PolarMLModel:
    """An independent copy of a model, rebuilt from its configuration and state dict."""
    new = build_model(model.config)
    new.load_state_dict(model.state_dict())
    return new
