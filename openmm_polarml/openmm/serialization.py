"""XML round trips and ``System.getForce`` that keep the ``PQEqForce`` type.

OpenMM's SWIG layer only knows its own Force classes: ``XmlSerializer.deserialize`` of a
serialised ``PQEqForce`` and ``System.getForce(i)`` of a deserialised (or deep-copied, or cloned)
System hand back a bare ``openmm.Force``, on which the PQEq API (``getCharges``, ``getDipole``, …)
is missing. :func:`install_pqeq_downcasts` wraps those entry points once, at plugin import, so
that they return a ``PQEqForce`` for ``PQEqForce`` objects and leave every other type unchanged.

The same wrappers (and ``XmlSerializer.deserializeSystem`` / ``_cloneSystem``) refuse, with a
``RuntimeError``, to deserialise a ``TorchForce`` where that would crash the process (openmm >= 8.6
with openmmtorch 1.5: a segfault in ``TorchForceProxy::deserialize``, see
:func:`~openmm_polarml.openmm.torch_force.torch_force_xml_blocker`); ``copy.deepcopy(system)``,
pickling and openmmtools' copies go through them (and ``System.__copy__``, wrapped alike).

Ownership: ``XmlSerializer._deserializeForce`` / ``_cloneForce`` return a new C++ object owned by
the Python proxy. The downcast proxy takes that ownership over (``thisown``) and the base proxy
gives it up, so the object is deleted exactly once. ``System.getForce`` returns a reference owned
by the System, so its downcast proxy owns nothing, as OpenMM's own proxies do.
"""

from __future__ import annotations

import functools

import openmm

from .bindings import PQEqForce
from .torch_force import torch_force_xml_blocker

__all__ = ["install_pqeq_downcasts", "as_pqeq_force", "refuse_crashing_torch_force"]

_MARK = "_polarml_pqeq_downcast"


def as_pqeq_force(force):
    """``force`` as a ``PQEqForce`` proxy when it is one on the C++ side, else ``force`` unchanged.

    The new proxy takes over the ownership ``force`` held (``thisown``); ``force`` must not be used
    afterwards when it owned the object.
    """
    if isinstance(force, PQEqForce) or type(force) is not openmm.Force:
        return force
    if not PQEqForce.isinstance(force):
        return force
    cast = PQEqForce.cast(force)
    if force.thisown:
        force.thisown = False  # the C++ object now belongs to the downcast proxy, once
        cast.thisown = True
    return cast


@functools.cache
def _blocker() -> str | None:
    return torch_force_xml_blocker()


def _is_torch_force(force) -> bool:
    try:
        import openmmtorch
    except Exception:  # no openmm-torch: no TorchForce can exist
        return False
    return bool(openmmtorch.TorchForce.isinstance(force))


def _holds_torch_force(source) -> bool:
    """Whether ``source`` (XML text, a System or a Force) holds a ``TorchForce``."""
    if isinstance(source, str):
        return 'type="TorchForce"' in source
    if isinstance(source, openmm.System):
        return any(_is_torch_force(source.getForce(i)) for i in range(source.getNumForces()))
    if isinstance(source, openmm.Force):
        return _is_torch_force(source)
    return False


def refuse_crashing_torch_force(source) -> None:
    """Raise ``RuntimeError`` when deserialising ``source`` (XML, System or Force) would crash
    the process on a ``TorchForce`` (openmm >= 8.6 with openmmtorch 1.5); else do nothing."""
    blocker = _blocker()
    if blocker is not None and _holds_torch_force(source):
        raise RuntimeError(f"refusing to deserialise or copy a TorchForce: {blocker}")


def _owning(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if args:
            refuse_crashing_torch_force(args[0])
        return as_pqeq_force(function(*args, **kwargs))

    setattr(wrapper, _MARK, True)
    return staticmethod(wrapper)


def _guarded(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if args:
            refuse_crashing_torch_force(args[0])
        return function(*args, **kwargs)

    setattr(wrapper, _MARK, True)
    return staticmethod(wrapper)


def _guarded_method(function):
    @functools.wraps(function)
    def method(self, *args):
        refuse_crashing_torch_force(self)
        return function(self, *args)

    setattr(method, _MARK, True)
    return method


def _get_force(function):
    @functools.wraps(function)
    def getForce(self, *args):
        return as_pqeq_force(function(self, *args))

    setattr(getForce, _MARK, True)
    return getForce


def install_pqeq_downcasts() -> None:
    """Wrap ``XmlSerializer`` (deserialize, clone) and ``System.getForce`` to return ``PQEqForce``
    and to refuse a crashing ``TorchForce`` deserialisation (:func:`refuse_crashing_torch_force`).

    Idempotent: a second call changes nothing. ``XmlSerializer.deserialize``/``clone`` and
    ``System.getForces``, ``copy.deepcopy(system)`` and ``XmlSerializer.clone(system)`` go through
    the wrapped entry points.
    """
    serializer = openmm.XmlSerializer
    for name in ("_deserializeForce", "_cloneForce"):
        original = serializer.__dict__[name].__func__
        if not getattr(original, _MARK, False):
            setattr(serializer, name, _owning(original))
    for name in ("deserializeSystem", "_cloneSystem"):
        original = serializer.__dict__[name].__func__
        if not getattr(original, _MARK, False):
            setattr(serializer, name, _guarded(original))
    original = openmm.System.__dict__["getForce"]
    if not getattr(original, _MARK, False):
        openmm.System.getForce = _get_force(original)
    original = openmm.System.__dict__["__copy__"]  # copy.copy/deepcopy: C++, not XmlSerializer
    if not getattr(original, _MARK, False):
        openmm.System.__copy__ = _guarded_method(original)
