"""Loading the compiled CPU kernels of csrc/engine/ through ctypes (one rule for all of them).

Each kernel library is also a method-less Python extension module, so it is found through the
normal import machinery (editable installs included). A library is unavailable when its module is
not built or when ``POLARML_NATIVE_KERNELS=0``; callers then use their tensor code.
"""

from __future__ import annotations

import ctypes
import importlib
import os

import torch

_LOADED: dict[str, ctypes.CDLL | None] = {}


def load_kernels(module: str, signatures: dict[str, tuple[list, object]]) -> ctypes.CDLL | None:
    """The ctypes library of extension ``module`` with ``signatures`` applied, or None.

    Parameters
    ----------
    module : str
        Dotted name of the compiled extension module.
    signatures : dict
        ``name -> (argtypes, restype)`` of the exported C functions.
    """
    if module in _LOADED:
        return _LOADED[module]
    lib = None
    if os.environ.get("POLARML_NATIVE_KERNELS", "1") != "0":
        try:
            path = importlib.import_module(module).__file__
        except ImportError:  # not built (e.g. a source tree without `pip install -e .`)
            path = None
        if path is not None:
            lib = ctypes.CDLL(path)
            for name, (argtypes, restype) in signatures.items():
                getattr(lib, name).argtypes = argtypes
                getattr(lib, name).restype = restype
    _LOADED[module] = lib
    return lib


def thread_count() -> int:
    """Threads the kernels use: ``torch.get_num_threads()`` (at least 1)."""
    return max(1, torch.get_num_threads())
