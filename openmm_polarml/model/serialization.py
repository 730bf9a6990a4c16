"""Model files are data: a versioned dict of plain types and tensors, loaded with
``torch.load(weights_only=True)`` (no pickled code runs).

Format 2 (:data:`FORMAT`): ``{"format": "openmm_polarml.model/2", "config": dict,
"state_dict": {name: tensor}, "metadata": dict}``. Files without ``format`` are version 1 (the
same keys; the shipped ``small_demo``), and training checkpoints (``config`` + ``model_state``
/ ``ema_state``) load as models too. Anything else raises :class:`ModelFormatError`.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path, PurePath

import numpy as np
import torch

from openmm_polarml.model.builder import build_model
from openmm_polarml.model.full import PolarMLModel

FORMAT_NAME = "openmm_polarml.model"
FORMAT_VERSION = 2
FORMAT = f"{FORMAT_NAME}/{FORMAT_VERSION}"
#: format tag of training checkpoints (:meth:`openmm_polarml.training.trainer.Trainer.state`)
CHECKPOINT_FORMAT = "openmm_polarml.checkpoint/1"
MODEL_KEYS = ("config", "state_dict")


class ModelFormatError(ValueError):
    """A file that is not a model this version of openmm_polarml can load (says why)."""


def plain(obj, where: str = "value"):
    """``obj`` as types ``torch.load(weights_only=True)`` accepts: dict, list, tuple, str, int,
    float, bool, None and tensors (numpy scalars/arrays and paths converted).

    Raises ``TypeError`` naming the entry of any other type.
    """
    if isinstance(obj, np.generic):  # before float: np.float64 is a float subclass
        return obj.item()
    if obj is None or isinstance(obj, bool | int | float | str | torch.Tensor):
        return obj
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, dict):
        return {plain(k, where): plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(plain(v, f"{where}[{i}]") for i, v in enumerate(obj))
    raise TypeError(f"{where} is a {type(obj).__name__}: model files hold plain types only")


def save_model(model: PolarMLModel, path: str | Path, metadata: dict | None = None) -> None:
    """Write the model in format 2 with :func:`torch.save` (configuration, weights, metadata).

    ``metadata`` must hold plain types (numpy scalars and paths are converted).
    """
    blob = {
        "format": FORMAT,
        "config": plain(model.config, "config"),
        "state_dict": model.state_dict(),
        "metadata": plain(metadata or {}, "metadata"),
    }
    torch.save(blob, str(path))


def _detail(err: Exception) -> str:
    """The informative line of a torch.load error."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("Unsupported", "WeightsUnpickler error: U")) or "invalid load key" in ln:
            return ln
    return lines[0] if lines else type(err).__name__


def read_blob(path: str | Path) -> dict:
    """The raw dict of a model or checkpoint file, loaded with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file {path}")
    try:
        with warnings.catch_warnings():  # torch warns before refusing a TorchScript archive
            warnings.filterwarnings("ignore", message=".*TorchScript archive")
            blob = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if found is None:
            raise ModelFormatError(
                f"{path}: not a readable torch.save file ({_detail(err)})"
            ) from None
        raise ModelFormatError(
            f"{path}: refused to unpickle {found.group(1)}: the file holds Python objects other "
            "than tensors and plain types, and loading them could run code. If you trust its "
            "origin, convert it once with openmm_polarml.model.serialization."
            "upgrade_model_file(path, out, trusted=True)"
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        if "TorchScript" in str(err):
            raise ModelFormatError(
                f"{path}: a TorchScript artifact, not a model file (load it with "
                "openmm_polarml.export.load_exported)"
            ) from None
        raise ModelFormatError(f"{path}: not a readable torch.save file ({_detail(err)})") from None
    if not isinstance(blob, dict):
        raise ModelFormatError(f"{path}: holds a {type(blob).__name__}, not a model dict")
    return blob


def _check_format(blob: dict, path) -> int:
    """Version of a model blob (1 when untagged); raises for foreign or newer formats."""
    tag = blob.get("format")
    if tag is None or tag == CHECKPOINT_FORMAT:
        return 1
    name, _, version = str(tag).partition("/")
    if name != FORMAT_NAME or not version.isdigit():
        raise ModelFormatError(
            f"{path}: format {tag!r} is not an openmm_polarml model file ({FORMAT!r})"
        )
    if int(version) > FORMAT_VERSION:
        raise ModelFormatError(
            f"{path}: format {tag!r} is newer than this openmm_polarml reads ({FORMAT!r}); "
            "upgrade openmm_polarml"
        )
    return int(version)


def model_contents(blob: dict, path="<blob>") -> tuple[dict, dict, dict]:
    """``(config, state_dict, metadata)`` of a model blob or training checkpoint (EMA preferred)."""
    _check_format(blob, path)
    if "model_state" in blob:  # a training checkpoint
        state = blob.get("ema_state") or blob["model_state"]
        required = ("config", "model_state")
    else:
        state = blob.get("state_dict")
        required = MODEL_KEYS
    missing = [k for k in required if k not in blob]
    if missing:
        raise ModelFormatError(
            f"{path}: missing {missing}; a model file holds {list(MODEL_KEYS) + ['metadata']} "
            "(written by openmm_polarml.model.serialization.save_model)"
        )
    config = blob["config"]
    if not isinstance(config, dict) or not isinstance(state, dict):
        raise ModelFormatError(f"{path}: 'config' and the state dict must be dicts")
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFormatError(f"{path}: the state dict holds entries that are not tensors")
    return dict(config), state, dict(blob.get("metadata") or {})


def model_from_contents(config: dict, state: dict, path="<blob>") -> PolarMLModel:
    """Build the model of ``config`` and load ``state`` into it (strict)."""
    try:
        model = build_model(config)
    except (KeyError, TypeError, ValueError) as err:
        raise ModelFormatError(
            f"{path}: its configuration does not build a model here: {err!r}"
        ) from None
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ModelFormatError(
            f"{path}: the weights do not fit the model its configuration builds (file corrupt "
            f"or from an incompatible version): {err}"
        ) from None
    bad = [  # the network's weights (PQEq tables mark elements without parameters with inf)
        name
        for name, value in state.items()
        if name.startswith("shortrange.")
        and torch.is_tensor(value)
        and value.is_floating_point()
        and not bool(value.isfinite().all())
    ]
    if bad:
        raise ModelFormatError(
            f"{path}: {len(bad)} weight tensor(s) hold NaN or infinity ({', '.join(bad[:4])}): the "
            "file comes from a diverged training run; use an earlier checkpoint (best.pt)"
        )
    return model


def load_model(path: str | Path, dtype: str | None = None, head: str | None = None) -> PolarMLModel:
    """Rebuild a model saved by :func:`save_model` (format 1 or 2) or a training checkpoint.

    Parameters
    ----------
    path : str or Path
        Model or checkpoint file; read with ``torch.load(weights_only=True)``.
    dtype : str, optional
        ``"float32"`` or ``"float64"`` to override the stored dtype.
    head : str, optional
        Readout head (level of theory) to select; default the one saved with the model.

    Raises
    ------
    ModelFormatError
        For a file that is not a model this version reads (the message says why and what to do).
    """
    config, state, _ = model_contents(read_blob(path), path)
    if dtype is not None:
        config["dtype"] = dtype
    model = model_from_contents(config, state, path)
    if head is not None:
        model.set_head(head)
    return model


def upgrade_model_file(
    path: str | Path, out: str | Path, trusted: bool = False, metadata: dict | None = None
) -> None:
    """Re-save a model or checkpoint in format 2 with plain-typed configuration and metadata.

    Files that need ``weights_only=False`` (old pickles holding numpy scalars, paths, ...) are
    only read with ``trusted=True``: unpickling them runs whatever code they reference.
    """
    try:
        blob = read_blob(path)
    except ModelFormatError:
        if not trusted:
            raise
        blob = torch.load(str(path), map_location="cpu", weights_only=False)
    config, state, meta = model_contents(plain(blob, "file"), path)
    model = model_from_contents(config, state, path)
    save_model(model, out, {**meta, **(metadata or {})})


#: the shipped model loaded when none is named (``openmm_polarml/models/foundation/MODEL_CARD.md``)
DEFAULT_PRETRAINED = "foundation"


def pretrained_path(name: str = DEFAULT_PRETRAINED) -> Path:
    """Path of a model shipped in ``openmm_polarml/models/<name>/model.pt``."""
    path = Path(__file__).resolve().parents[1] / "models" / name / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"no shipped model named {name!r} ({path})")
    return path


def load_pretrained(
    name: str = DEFAULT_PRETRAINED, dtype: str | None = None, head: str | None = None
) -> PolarMLModel:
    """Load a shipped model (default ``foundation``: the small preset + PQEq + D3 with the heads
    ``pbe`` and ``gfn2``, see its MODEL_CARD.md; ``small_demo`` is the demo.traj model)."""
    return load_model(pretrained_path(name), dtype=dtype, head=head)


def resolve_model(model, dtype: str | None = None, head: str | None = None) -> PolarMLModel:
    """A model from what a user passes: a :class:`PolarMLModel` (used as is, or a copy in another
    ``dtype``/``head`` so the caller's model stays unchanged), a model or checkpoint file, or
    the name of a shipped model (``"foundation"``, ``"small_demo"``)."""
    import copy

    if isinstance(model, PolarMLModel):
        if dtype is None and head is None:
            return model
        out = copy.deepcopy(model)
        out = out if dtype is None else out.to(getattr(torch, dtype))
        return out if head is None else out.set_head(head)
    if Path(str(model)).exists():
        return load_model(model, dtype=dtype, head=head)
    return load_pretrained(str(model), dtype=dtype, head=head)
