"""Which elements a model (its selected head) was trained on, and the check every interface runs."""

from __future__ import annotations

__all__ = ["supported_elements", "check_elements"]

#: atomic numbers the element tables cover (embedding, shifts, PQEq parameters)
MAX_ATOMIC_NUMBER = 94


def _symbol(z: int) -> str:
    from ase.data import chemical_symbols

    return chemical_symbols[z] if 0 <= z < len(chemical_symbols) else f"Z={z}"


def supported_elements(model) -> set[int]:
    """Atomic numbers the model's selected head was trained on: ``config["head_elements"]``
    when the trainer recorded it, else the non-zero element reference energies of that head."""
    if model.config.get("elements"):
        return {int(z) for z in model.config["elements"]}
    per_head = model.config.get("head_elements") or {}
    if model.config.get("head") in per_head:  # recorded at training time
        return {int(z) for z in per_head[model.config["head"]]}
    network = model.shortrange.network
    shift = network.shift.detach()  # [95] or [n_heads, 95] eV
    row = shift[int(network.head_index)] if shift.dim() == 2 else shift  # [95]
    return {int(z) for z in (row != 0).nonzero().flatten().tolist()}


def check_elements(model, numbers, known: set[int] | None = None) -> None:
    """Raise ``ValueError`` naming every atomic number of ``numbers`` the model's head was not
    trained on (or that is no element the tables cover), with the head to try instead.

    Parameters
    ----------
    model : PolarMLModel
        The model, on its selected head.
    numbers : iterable of int
        Atomic numbers of the structure.
    known : set of int, optional
        :func:`supported_elements` of the model, when already computed.
    """
    known = supported_elements(model) if known is None else known
    unknown = sorted(set(int(z) for z in numbers) - known)
    if not unknown:
        return
    outside = [z for z in unknown if not 1 <= z <= MAX_ATOMIC_NUMBER]
    if outside:
        raise ValueError(
            f"atomic number(s) {outside} are not elements the model can take (1–"
            f"{MAX_ATOMIC_NUMBER}); check the structure's atomic numbers"
        )
    names = ", ".join(_symbol(z) for z in unknown)
    listing = " ".join(_symbol(z) for z in sorted(known))
    heads = model.config.get("heads") or []
    per_head = model.config.get("head_elements") or {}
    head = model.config.get("head")
    others = [h for h in heads if h != head]
    if per_head:  # only heads that know every missing element
        others = [h for h in others if set(unknown) <= {int(z) for z in per_head.get(h, [])}]
    if others:
        options = " or ".join(f"head={h!r}" for h in others)
        hint = f"its head {head!r} was not trained on them: try {options}"
    elif len(heads) > 1:
        hint = "none of its heads was trained on them: use a model trained on them"
    else:
        hint = "use a model trained on them"
    raise ValueError(
        f"the model has no parameters for element(s) {names} (it knows {len(known)} "
        f"elements: {listing}); {hint}"
    )
