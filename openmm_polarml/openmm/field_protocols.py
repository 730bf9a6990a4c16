"""Time-dependent homogeneous external fields along an OpenMM run, and P–E loops.

:class:`FieldProtocol` is added to ``simulation.reporters``; every ``interval`` steps it sets the
field Context parameters (``PQEqFieldX/Y/Z``, kJ/mol/nm/e) to the protocol's value at the
Context's current time, so the field is piecewise constant over each interval (set at t, used
for the steps from t to t + interval·dt). Protocols are in V/nm and ps::

    ramp      E(t) = A · min(t / rampTime, 1)
    sinusoid  E(t) = A · sin(2π t / period + phase)
    step      E(t) = 0 for t < stepTime, A from stepTime on
    callable  E(t) = f(t) (3 components, or a scalar times the direction of A)

A P–E loop in a few lines (:func:`pe_loop` does exactly this)::

    protocol = FieldProtocol("sinusoid", 0.5, direction=(0, 0, 1), period=2.0, interval=10)
    recorder = FieldDipoleRecorder(10)
    simulation.reporters += [protocol, recorder]   # protocol first: the recorder sees the new field
    simulation.step(4000)                          # two periods of 1 fs steps
    loop = recorder.arrays()                       # time ps, field V/nm, dipole e nm (P e/nm2)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import units
from .fields import FIELD_PARAMETERS, field_to_openmm, get_external_field
from .reporters import find_pqeq_force

__all__ = ["FieldProtocol", "FieldDipoleRecorder", "pe_loop"]

_KINDS = ("ramp", "sinusoid", "step")


def _time_ps(context) -> float:
    import openmm.unit as u

    time = context.getTime()
    return time.value_in_unit(u.picosecond) if u.is_quantity(time) else float(time)


def _amplitude_vector(amplitude, direction) -> np.ndarray:
    a = np.asarray(amplitude, dtype=float)
    if a.ndim == 0:
        if direction is None:
            raise ValueError("a scalar amplitude needs a direction (3-vector)")
        d = np.asarray(direction, dtype=float).reshape(3)
        norm = np.linalg.norm(d)
        if norm == 0:
            raise ValueError("direction must not be the zero vector")
        return float(a) * d / norm
    if direction is not None:
        raise ValueError("give a 3-vector amplitude or a magnitude with a direction, not both")
    if a.shape != (3,):
        raise ValueError(f"amplitude must be a scalar or 3-vector, got shape {a.shape}")
    return a


class FieldProtocol:
    """Homogeneous field E(t) (V/nm) set in the Context every ``interval`` steps.

    Parameters
    ----------
    kind : 'ramp', 'sinusoid', 'step' or callable
        The protocol; a callable maps time (ps) to the field (3 components, V/nm) or to a
        scalar factor of the amplitude vector.
    amplitude : float or sequence of 3 float
        Field amplitude (V/nm): a 3-vector, or a magnitude with ``direction`` (optional only for
        a callable returning 3 components).
    direction : sequence of 3 float, optional
        Direction of a scalar amplitude (normalised here).
    period : float, optional
        Period (ps) of 'sinusoid'.
    rampTime : float, optional
        Time (ps) for 'ramp' to reach the amplitude.
    stepTime : float, optional
        Time (ps) at which 'step' switches the field on.
    phase : float
        Phase (rad) of 'sinusoid'.
    interval : int
        Steps between field updates.
    """

    def __init__(
        self,
        kind: str | Callable,
        amplitude=None,
        direction=None,
        period: float | None = None,
        rampTime: float | None = None,
        stepTime: float | None = None,
        phase: float = 0.0,
        interval: int = 1,
    ):
        if interval < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        if amplitude is None and not callable(kind):
            raise ValueError(f"kind {kind!r} needs an amplitude (V/nm)")
        self.amplitude = None  # a callable may return the whole field vector
        if amplitude is not None:
            self.amplitude = _amplitude_vector(amplitude, direction)  # [3] V/nm
        self.kind = kind
        self.interval = int(interval)
        self.period, self.rampTime, self.stepTime, self.phase = period, rampTime, stepTime, phase
        if not callable(kind):
            if kind not in _KINDS:
                raise ValueError(f"kind must be one of {_KINDS} or a callable, got {kind!r}")
            needed = {"ramp": "rampTime", "sinusoid": "period", "step": "stepTime"}[kind]
            value = getattr(self, needed)
            if value is None or (needed != "stepTime" and value <= 0):
                raise ValueError(f"kind {kind!r} needs a positive {needed} (ps)")
        self._applied_step = None

    def fieldAt(self, time: float) -> np.ndarray:
        """The protocol's field (V/nm, 3 components) at ``time`` (ps)."""
        t = float(time)
        if callable(self.kind):
            value = np.asarray(self.kind(t), dtype=float)
            if value.ndim > 0:
                return value.reshape(3)
            if self.amplitude is None:
                raise ValueError("the callable returned a scalar: give an amplitude vector")
            return value * self.amplitude
        if self.kind == "ramp":
            return self.amplitude * min(t / self.rampTime, 1.0)
        if self.kind == "sinusoid":
            return self.amplitude * math.sin(2.0 * math.pi * t / self.period + self.phase)
        return self.amplitude * (1.0 if t >= self.stepTime else 0.0)

    def apply(self, context) -> np.ndarray:
        """Set the field of ``context`` for its current time; returns it (V/nm)."""
        field = self.fieldAt(_time_ps(context))
        for name, value in zip(FIELD_PARAMETERS, field_to_openmm(field), strict=True):
            context.setParameter(name, value)
        return field

    def describeNextReport(self, simulation):
        """Sets the field when due (also before the first step) and asks for nothing."""
        step = simulation.currentStep
        if step % self.interval == 0 and self._applied_step != step:
            self.apply(simulation.context)
            self._applied_step = step
        steps = self.interval - step % self.interval
        return {"steps": steps, "periodic": None, "include": []}

    def report(self, simulation, state):
        """Sets the field for the time just reached."""
        self.apply(simulation.context)
        self._applied_step = simulation.currentStep


class FieldDipoleRecorder:
    """Reporter recording time (ps), field (V/nm) and PQEq dipole (e nm) every ``interval`` steps.

    Place it after a :class:`FieldProtocol` in ``simulation.reporters`` so that each record pairs
    the field just set with the dipole it induces at the same positions.
    """

    def __init__(self, interval: int, force=None):
        self.interval = int(interval)
        self.force = force
        self.time, self.field, self.dipole, self.volume = [], [], [], []

    def describeNextReport(self, simulation):
        steps = self.interval - simulation.currentStep % self.interval
        return {"steps": steps, "periodic": None, "include": []}

    def report(self, simulation, state):
        if self.force is None:
            self.force = find_pqeq_force(simulation.system)
        context = simulation.context
        self.time.append(_time_ps(context))
        self.field.append(get_external_field(context))
        self.dipole.append(tuple(self.force.getDipole(context)))
        if simulation.system.usesPeriodicBoundaryConditions():
            self.volume.append(state.getPeriodicBoxVolume()._value)

    def arrays(self) -> dict:
        """``time`` ps [n], ``field`` V/nm [n, 3], ``dipole`` e nm [n, 3], ``dipole_debye`` D;
        when periodic ``polarization`` e/nm² and ``polarization_si`` C/m² (μ/V)."""
        dipole = np.array(self.dipole, dtype=float).reshape(-1, 3)  # [n, 3] e nm
        out = dict(
            time=np.array(self.time, dtype=float),
            field=np.array(self.field, dtype=float).reshape(-1, 3),
            dipole=dipole,
            dipole_debye=dipole * units.E_ANGSTROM_TO_DEBYE * units.NM_TO_ANGSTROM,
        )
        if self.volume:
            p = dipole / np.array(self.volume)[:, None]  # [n, 3] e/nm²
            out["polarization"] = p
            out["polarization_si"] = p * units.ELEMENTARY_CHARGE_C / 1e-18
        return out


def pe_loop(
    simulation,
    amplitude,
    period: float,
    cycles: float = 1.0,
    direction=None,
    interval: int = 1,
) -> dict:
    """Drive a sinusoidal field for ``cycles`` periods and record field and dipole (a P–E loop).

    Parameters
    ----------
    simulation : openmm.app.Simulation
        A simulation with one PQEqForce; its reporters are restored afterwards.
    amplitude, direction
        As in :class:`FieldProtocol` (V/nm).
    period : float
        Period (ps).
    cycles : float
        Number of periods to run.
    interval : int
        Steps between field updates and records.

    Returns
    -------
    dict
        :meth:`FieldDipoleRecorder.arrays` of the run.
    """
    protocol = FieldProtocol("sinusoid", amplitude, direction, period=period, interval=interval)
    recorder = FieldDipoleRecorder(interval)
    import openmm.unit as u

    dt = simulation.integrator.getStepSize()
    dt = dt.value_in_unit(u.picosecond) if u.is_quantity(dt) else float(dt)  # ps
    steps = int(round(cycles * period / dt))
    saved = list(simulation.reporters)
    simulation.reporters[:] = saved + [protocol, recorder]
    try:
        simulation.step(steps)
    finally:
        simulation.reporters[:] = saved
    return recorder.arrays()
