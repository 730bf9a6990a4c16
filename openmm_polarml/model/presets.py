"""Named network sizes. ``seed`` is the published ReaxNet configuration."""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    # fast CPU default
    "small": dict(
        num_layers=3,
        hidden_irreps="32x0e+8x1o",
        l_max=1,
        num_basis=8,
        r_max=5.0,
        radial_hidden=32,
    ),
    "medium": dict(
        num_layers=4,
        hidden_irreps="64x0e+32x1o+8x2e",
        l_max=2,
        num_basis=8,
        r_max=5.0,
        radial_hidden=64,
    ),
    # Gao et al. (ReaxNet): 5 layers, 128x0e+64x1e+4x2e, l_max 2, 8 Bessel functions, r_max 5 Å
    "seed": dict(
        num_layers=5,
        hidden_irreps="128x0e+64x1e+4x2e",
        l_max=2,
        num_basis=8,
        r_max=5.0,
        radial_hidden=64,
    ),
}


def preset(name: str, **overrides) -> dict:
    """Network keyword arguments of a preset, with overrides applied."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    out = dict(PRESETS[name])
    out.update(overrides)
    return out
