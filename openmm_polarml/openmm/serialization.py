"""XML round trips and ``System.getForce`` that keep the ``PQEqForce`` type.

OpenMM's SWIG layer only knows its own Force classes: ``XmlSerializer.deserialize`` of a
serialised ``PQEqForce`` and ``System.getForce(i)`` of a deserialised (or deep-copied, or cloned)
System hand back a bare ``openmm.Force``, on which the PQEq API (``getCharges``, ``getDipole``, …)
is missing. :func:`install_pqeq_downcasts` wraps those entry points once, at plugin import, so
that they return a ``PQEqForce`` for ``PQEqForce`` objects and leave every other type unchanged.

Ownership: ``XmlSerializer._deserializeForce`` / ``_cloneForce`` return a new C++ object owned by
the Python proxy. The downcast proxy takes that ownership over (``thisown``) and the base proxy
gives it up, so the object is deleted exactly once. ``System.getForce`` returns a reference owned
by the System, so its downcast proxy owns nothing, as OpenMM's own proxies do.
"""

from __future__ import annotations

import functools

import openmm

from .plugin import PQEqForce

__all__ = ["install_pqeq_downcasts", "as_pqeq_force"]

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


def _owning(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return as_pqeq_force(function(*args, **kwargs))

    setattr(wrapper, _MARK, True)
    return staticmethod(wrapper)


def _get_force(function):
    @functools.wraps(function)
    def getForce(self, *args):
        return as_pqeq_force(function(self, *args))

    setattr(getForce, _MARK, True)
    return getForce


def install_pqeq_downcasts() -> None:
    """Wrap ``XmlSerializer`` (deserialize, clone) and ``System.getForce`` to return ``PQEqForce``.

    Idempotent: a second call changes nothing. ``XmlSerializer.deserialize``/``clone`` and
    ``System.getForces``, ``copy.deepcopy(system)`` and ``XmlSerializer.clone(system)`` go through
    the wrapped entry points.
    """
    serializer = openmm.XmlSerializer
    for name in ("_deserializeForce", "_cloneForce"):
        original = serializer.__dict__[name].__func__
        if not getattr(original, _MARK, False):
            setattr(serializer, name, _owning(original))
    original = openmm.System.__dict__["getForce"]
    if not getattr(original, _MARK, False):
        openmm.System.getForce = _get_force(original)
