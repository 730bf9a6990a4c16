"""Training data: loading, splitting, the fixed (PQEq + D3) part of delta learning, statistics."""

from __future__ import annotations

from pathlib import Path

import torch

from openmm_polarml.data_io import atoms_to_frame, collate, read_frames, split_indices
from openmm_polarml.data_io import keys as K
from openmm_polarml.model.network import HEAD
from openmm_polarml.training.config import extension_sections

#: ``atoms.info`` key naming a frame's level of theory (routes it to that readout head)
LEVEL = "level"


def frame_head(atoms, heads: list[str], where: str = "frame") -> int:
    """Head index of ``atoms`` from ``atoms.info["level"]``; ``ValueError`` if absent or unknown."""
    level = atoms.info.get(LEVEL)
    if level is None:
        raise ValueError(
            f"{where} has no info[{LEVEL!r}]: a multi-head model needs each frame's level of "
            f"theory, one of {list(heads)}"
        )
    if level not in heads:
        raise ValueError(
            f"{where}: unknown level of theory info[{LEVEL!r}] = {level!r}; the model's heads "
            f"are {list(heads)}"
        )
    return list(heads).index(level)


def frames_from_atoms(
    atoms_list, heads: list[str] | None = None, source: str = "", fragments: str = "none"
) -> list:
    """Frames of ``ase.Atoms``; with several ``heads``, each carries its head index ``[1]``
    (``data["head"]``) from ``info["level"]``. One head: frames exactly as
    :func:`~openmm_polarml.data_io.atoms_to_frame` makes them (any level is ignored).
    ``fragments`` is the model's charge model (``"none"`` or ``"molecules"``)."""
    frames = []
    for k, atoms in enumerate(atoms_list):
        frame = atoms_to_frame(atoms, fragments)
        if heads is not None and len(heads) > 1:
            index = frame_head(atoms, heads, f"{source} frame {k}".strip())
            frame[HEAD] = torch.tensor([index], dtype=torch.long)
        frames.append(frame)
    return frames


def load_frames(
    spec, max_frames: int | None = None, heads: list[str] | None = None, fragments: str = "none"
) -> list:
    """Frames (dicts of float64 tensors) from one path or a list of paths (see
    :func:`frames_from_atoms` for ``heads`` and ``fragments``)."""
    paths = [spec] if isinstance(spec, str) else list(spec)
    frames = [f for p in paths for f in frames_from_atoms(read_frames(p), heads, str(p), fragments)]
    return frames[:max_frames] if max_frames else frames


def make_splits(data_cfg: dict, heads: list[str] | None = None, fragments: str = "none") -> dict:
    """``{"train", "validation", "test"}`` lists of frames according to the data section, each
    prepared for the charge model ``fragments`` (``"none"`` or ``"molecules"``)."""
    frames = load_frames(data_cfg["train"], data_cfg.get("max_frames"), heads, fragments)
    if data_cfg.get("validation"):
        val = load_frames(data_cfg["validation"], None, heads, fragments)
        out = {"train": frames, "validation": val}
        out["test"] = (
            load_frames(data_cfg["test"], None, heads, fragments) if data_cfg.get("test") else []
        )
        return out
    idx = split_indices(len(frames), tuple(data_cfg["split"]), data_cfg["seed"])
    out = {
        name: [frames[i] for i in ix]
        for name, ix in zip(("train", "validation", "test"), idx, strict=False)
    }
    out.setdefault("test", [])
    if data_cfg.get("test"):
        out["test"] = load_frames(data_cfg["test"], None, heads, fragments)
    for extend in extension_sections(data_cfg):
        out = extend_splits(out, extend, heads, fragments)
    return out


def _label_force_max(item) -> float:
    """Largest reference force component (eV/Å) of a frame dict or ``ase.Atoms``; 0 without."""
    if isinstance(item, dict):
        has = item.get(K.HAS_FORCES)
        forces = item.get(K.FORCES)
        present = forces is not None and (has is None or bool(has.all()))
        return float(forces.abs().max()) if present and forces.numel() else 0.0
    forces = item.arrays.get("forces")
    if forces is None and item.calc is not None:  # as read_frames stores them
        forces = item.calc.results.get("forces")
    return float(abs(forces).max()) if forces is not None and forces.size else 0.0


def within_label_cap(items: list, max_force: float | None) -> list[bool]:
    """Per frame (dict or ``ase.Atoms``): are its reference forces at most ``max_force`` (eV/Å;
    ``data.max_label_force``; None: all True)?"""
    if max_force is None:
        return [True] * len(items)
    if not max_force > 0:
        raise ValueError(f"data.max_label_force must be positive (eV/Å), got {max_force!r}")
    return [_label_force_max(f) <= max_force for f in items]


def report_label_cap(name: str, mask: list[bool], max_force: float | None) -> None:
    """Print how many of a part's frames the label-force cap dropped (nothing when none)."""
    if not all(mask):
        print(f"[polarml] {name}: dropped {mask.count(False)} of {len(mask)} frames with "
              f"reference forces above data.max_label_force = {max_force} eV/Å")  # fmt: skip


def drop_label_outliers(splits: dict, max_force: float | None, quiet: bool = False) -> dict:
    """Each part of ``splits`` without the frames whose reference forces exceed ``max_force``
    (:func:`within_label_cap`). Parts are filtered after splitting, so the split is the same
    with and without the cap. The trainer applies the same cap after the fixed terms (their
    cache stays valid when the cap changes)."""
    out = {}
    for name, items in splits.items():
        mask = within_label_cap(items, max_force)
        out[name] = [f for f, ok in zip(items, mask, strict=True) if ok]
        if not quiet:
            report_label_cap(name, mask, max_force)
    return out


def extension_indices(extend: dict, n: int) -> list:
    """Train/validation/test indices of an extension's ``n`` frames (its own seeded split)."""
    return split_indices(n, tuple(extend.get("split", (0.8, 0.1, 0.1))), int(extend.get("seed", 0)))


def extend_splits(
    splits: dict, extend: dict | None, heads: list[str] | None = None, fragments: str = "none"
) -> dict:
    """Append an extension data set (``data.extend``) to existing splits without touching them.

    Parameters
    ----------
    splits : dict
        ``{"train", "validation", "test"}`` lists of frames.
    extend : dict or None
        ``files`` (path or list), ``split`` (fractions, default 0.8/0.1/0.1), ``seed`` (0),
        ``repeat`` (1: how many times each of its training frames appears per epoch) and
        ``exclude_elements`` (symbols whose frames are left out after the split).
    """
    if not extend:
        return splits
    repeat = int(extend.get("repeat", 1))
    if repeat < 1:
        raise ValueError(f"data.extend.repeat must be at least 1, got {repeat}")
    frames = load_frames(extend["files"], None, heads, fragments)
    parts = extension_indices(extend, len(frames))
    excluded = excluded_numbers(extend)
    for name, ix, times in zip(
        ("train", "validation", "test"), parts, (repeat, 1, 1), strict=False
    ):
        kept = [frames[i] for i in ix if not _has_any(frames[i][K.NUMBERS].tolist(), excluded)]
        splits[name] = splits[name] + kept * times
    return splits


def excluded_numbers(extend: dict) -> set[int]:
    """Atomic numbers of an extension's ``exclude_elements`` (symbols): its frames holding any
    of them are left out after its split (e.g. the dications of ``xtb_ion_water``, whose GFN2-xTB
    labels move an electron to a water 6 Å away; data card)."""
    from ase.data import atomic_numbers

    symbols = extend.get("exclude_elements") or []
    unknown = [s for s in symbols if s not in atomic_numbers]
    if unknown:
        raise ValueError(f"data.extend.exclude_elements: unknown element symbols {unknown}")
    return {atomic_numbers[s] for s in symbols}


def _has_any(numbers, excluded: set[int]) -> bool:
    return bool(excluded) and any(int(z) in excluded for z in numbers)


def frames_of_head(frames: list, head: int, default: int = 0) -> list:
    """The frames routed to ``head`` (frames without a head index count as ``default``)."""
    return [f for f in frames if (int(f[HEAD][0]) if HEAD in f else default) == head]


def fixed_terms_digest(model, frames: list) -> str:
    """sha256 over the frames' inputs (geometry, charge, field) and the model's PQEq and D3
    (configuration and parameters): the key of a fixed-terms cache."""
    import hashlib
    import json

    h = hashlib.sha256()
    for key in ("pqeq", "d3"):
        section = model.config.get(key)
        if isinstance(section, dict):  # whether parameters train does not change their values
            section = {k: v for k, v in section.items() if k != "trainable"}
        h.update(json.dumps(section, sort_keys=True, default=str).encode())
    if model.pqeq is not None:
        for name, value in sorted(model.pqeq.state_dict().items()):
            h.update(name.encode())
            h.update(value.detach().double().cpu().numpy().tobytes())
    if getattr(model, "pqeq_chi_offset", None) is not None:  # per-head χ offsets
        h.update(model.pqeq_chi_offset.detach().double().cpu().numpy().tobytes())
    for frame in frames:
        for key in (K.POSITIONS, K.NUMBERS, K.CELL, K.PBC, K.TOTAL_CHARGE, K.FIELD):
            h.update(frame[key].detach().cpu().numpy().tobytes())
        groups = frame.get(K.FRAGMENTS, [None])[0]
        if groups is not None:  # the charge model's fragments change the fixed terms
            for g, q in zip(groups, frame[K.FRAGMENT_CHARGES][0], strict=True):
                h.update(g.numpy().tobytes() + q.double().numpy().tobytes())
    return h.hexdigest()


def _fixed_terms_all(model, frames: list, drop_failures: bool, progress: bool) -> list:
    """Per frame, the fixed-term dict of :func:`fixed_terms` or None where the solve failed."""
    from tqdm import tqdm

    out, solved = [], {}  # solved: id(frame) -> terms, for frames repeated in the list
    for frame in tqdm(frames, desc="PQEq + D3", unit="frame", disable=not progress):
        if id(frame) not in solved:
            try:
                solved[id(frame)] = fixed_terms(model, collate([frame], torch.float64))
            except Exception:
                if not drop_failures:
                    raise
                solved[id(frame)] = None
        out.append(solved[id(frame)])
    return out


#: layout of the fixed-terms cache: concatenated arrays (small enough to commit for a campaign)
CACHE_FORMAT = 2


def pack_fixed_terms(terms: list) -> dict:
    """Per-frame fixed terms (None: the solve failed) as concatenated arrays: energies ``[F]``
    and stresses ``[F, 3, 3]`` in float64, forces ``[ΣN, 3]`` in float32 (the network trains in
    float32; the energy, a large number, keeps float64), atom counts ``[F]`` and a mask."""
    ok = [t is not None for t in terms]
    kept = [t for t in terms if t is not None]
    empty = torch.zeros(0, dtype=torch.float64)
    return {
        "format": CACHE_FORMAT,
        "ok": torch.tensor(ok, dtype=torch.bool),
        "n_atoms": torch.tensor([t["forces"].shape[0] for t in kept], dtype=torch.long),
        "energy": torch.cat([t["energy"] for t in kept]) if kept else empty,
        "stress": torch.cat([t["stress"] for t in kept]) if kept else empty.view(0, 3, 3),
        "forces": torch.cat([t["forces"] for t in kept]).float() if kept else empty.view(0, 3),
    }


def unpack_fixed_terms(stored: dict) -> list:
    """Inverse of :func:`pack_fixed_terms` (forces back in float64)."""
    counts = stored["n_atoms"].tolist()
    forces = torch.split(stored["forces"].double(), counts) if counts else []
    kept = iter(range(len(counts)))
    out = []
    for ok in stored["ok"].tolist():
        if not ok:
            out.append(None)
            continue
        k = next(kept)
        out.append(
            {
                "energy": stored["energy"][k : k + 1],
                "forces": forces[k],
                "stress": stored["stress"][k : k + 1],
            }
        )
    return out


def subtract_fixed_terms(
    model,
    frames: list,
    drop_failures: bool = True,
    max_force: float | None = None,
    cache=None,
    progress: bool = False,
) -> tuple[list, list]:
    """Frames whose labels are ``E_ref − E_PQEq − E_D3`` (and likewise forces and stress).

    ``model`` must be a float64 model (see :func:`float64_copy`); only its PQEq and D3 are used.

    Parameters
    ----------
    drop_failures : bool
        Drop frames where the PQEq solve fails (e.g. a polarisation catastrophe with the
        published parameters on metallic cells) instead of raising.
    max_force : float, optional
        Drop frames whose fixed-term forces exceed this (eV/Å): the network could not cancel them.
    cache : path, optional
        File keeping the fixed terms between runs; reused only when its
        :func:`fixed_terms_digest` matches (same frames, same PQEq and D3), else recomputed.
    progress : bool
        Progress bar over the frames.

    Returns
    -------
    (frames, dropped)
        The residual frames and the indices of the dropped input frames.
    """
    if model.pqeq is None and not model.shortrange.has_d3:
        return frames, []
    terms = None
    digest = fixed_terms_digest(model, frames) if cache is not None else None
    if cache is not None and Path(cache).exists():
        stored = torch.load(cache, weights_only=True)
        if stored.get("digest") == digest and stored.get("format") == CACHE_FORMAT:
            terms = unpack_fixed_terms(stored)
    if terms is None:
        packed = pack_fixed_terms(_fixed_terms_all(model, frames, drop_failures, progress))
        terms = unpack_fixed_terms(packed)  # the same rounding with and without a cache
        if cache is not None:
            tmp = Path(str(cache) + ".tmp")
            torch.save({"digest": digest, **packed}, tmp)
            tmp.replace(cache)
    out, dropped = [], []
    for k, (frame, fixed) in enumerate(zip(frames, terms, strict=True)):
        if fixed is None:
            dropped.append(k)
            continue
        if max_force is not None and float(fixed["forces"].abs().max()) > max_force:
            dropped.append(k)
            continue
        new = dict(frame)
        new[K.ENERGY] = frame[K.ENERGY] - fixed["energy"].to(frame[K.ENERGY].dtype)
        new[K.FORCES] = frame[K.FORCES] - fixed["forces"].to(frame[K.FORCES].dtype)
        new[K.STRESS] = frame[K.STRESS] - fixed["stress"].to(frame[K.STRESS].dtype)
        out.append(new)
    return out, dropped


def float64_copy(model):
    """An independent float64 copy of a model (same configuration and weights)."""
    from openmm_polarml.model.builder import build_model

    new = build_model({**model.config, "dtype": "float64"})
    new.load_state_dict(model.state_dict())
    return new


def fixed_terms(model, batch: dict) -> dict:
    """Energy ``[B]``, forces ``[N, 3]`` and stress ``[B, 3, 3]`` of the PQEq + D3 terms (float64)."""
    pos = batch[K.POSITIONS].double().detach().requires_grad_(True)
    cell = batch[K.CELL].double()
    n_frames = cell.shape[0]
    eps = torch.zeros(n_frames, 3, 3, dtype=torch.float64, requires_grad=True)
    sym = 0.5 * (eps + eps.transpose(1, 2))
    pos_s = pos + torch.bmm(pos.unsqueeze(1), sym[batch[K.BATCH]]).squeeze(1)
    cell_s = cell + torch.bmm(cell, sym)
    energy = pos.new_zeros(n_frames)
    sr = model.shortrange
    if sr.has_d3:
        e_at = sr.d3(pos_s, batch[K.NUMBERS], cell_s, batch[K.PBC], batch[K.BATCH], batch[K.PTR])
        energy = energy.index_add(0, batch[K.BATCH], e_at)
    if model.pqeq is not None:
        energy = energy + model.pqeq_energy(pos_s, cell_s, {**batch, K.POSITIONS: pos})["energy"]
    g_pos, g_eps = torch.autograd.grad(energy.sum(), [pos, eps], allow_unused=True)
    g_pos = torch.zeros_like(pos) if g_pos is None else g_pos
    g_eps = torch.zeros_like(eps) if g_eps is None else g_eps
    volume = torch.linalg.det(cell).abs().clamp_min(1e-12).view(-1, 1, 1)
    stress = torch.where(
        batch[K.PBC].all(-1).view(-1, 1, 1), g_eps / volume, torch.zeros_like(g_eps)
    )
    return {"energy": energy.detach(), "forces": -g_pos.detach(), "stress": stress.detach()}


def split_atoms_by_subset(cfg: dict, part: str = "test") -> dict[str, list]:
    """One part (``"train"``, ``"validation"`` or ``"test"``) of a configuration's split as
    ``ase.Atoms``, grouped by data subset (the folder above each shard), drawn with the same
    indices as the trainer's split (extensions by their own splits, each frame once)."""
    k = ("train", "validation", "test").index(part)
    atoms, subset_of = [], []
    paths = cfg["data"]["train"]
    for path in [paths] if isinstance(paths, str) else paths:
        frames = read_frames(path)
        atoms += frames
        subset_of += [Path(path).parent.name] * len(frames)
    indices = split_indices(len(atoms), tuple(cfg["data"]["split"]), cfg["data"]["seed"])[k]
    groups: dict[str, list] = {}
    for i in indices:
        groups.setdefault(subset_of[i], []).append(atoms[i])
    for extend in extension_sections(cfg["data"]):  # each extension's own split, by folder
        files = [extend["files"]] if isinstance(extend["files"], str) else extend["files"]
        extra, extra_subset = [], []
        for path in files:
            frames = read_frames(path)
            extra += frames
            extra_subset += [Path(path).parent.name] * len(frames)
        excluded = excluded_numbers(extend)
        for i in extension_indices(extend, len(extra))[k]:
            if not _has_any(extra[i].numbers, excluded):
                groups.setdefault(extra_subset[i], []).append(extra[i])
    return drop_label_outliers(groups, cfg["data"].get("max_label_force"), quiet=True)


def test_atoms_by_subset(cfg: dict) -> dict[str, list]:
    """The test split's ``ase.Atoms`` by subset (:func:`split_atoms_by_subset`), plus the
    ``xtb`` frames in a field again as ``xtb_in_field``."""
    groups = split_atoms_by_subset(cfg, "test")
    field = [a for a in groups.get("xtb", []) if "external_field" in a.info]
    if field:
        groups["xtb_in_field"] = field
    return groups
