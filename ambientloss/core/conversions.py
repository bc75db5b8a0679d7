r"""Noise levels across schedules: ``(a, b)``, the schedule-free level ``b / a`` and the log-SNR.

The schedule-free level :math:`\tilde\sigma = b / a` is the VE-equivalent noise level: two levels of
different schedules with the same :math:`\tilde\sigma` carry the same information about ``x0`` (every
divergence between noised distributions depends on the level only through it), so a ``sigma_min``
found in one schedule transfers to any other through :func:`convert_level`.
"""

from __future__ import annotations

import math
from typing import Any

from ._domain import check_one, inside
from .arrays import Array, Namespace, as_array, values_readable
from .schedules import Schedule, get_schedule

__all__ = ["coefficients", "convert_level", "level_from_schedule_free", "log_snr", "schedule_free_level"]


def _level(sigma: Any, schedule: Any, xp: Namespace | None) -> tuple[Array, Schedule, Namespace, bool]:
    """``sigma`` as an array, checked to lie in the schedule's domain (one host read; none under tracing)."""
    s, xp, scalar = as_array(sigma, "sigma", xp)
    sched = get_schedule(schedule)
    if values_readable(s) and not bool(xp.all(inside(s, sched))):
        check_one(s, "sigma", sched, xp)
    return s, sched, xp, scalar


def _out(value: Array, scalar: bool) -> Any:
    return float(value) if scalar else value


def coefficients(sigma: Array | float, /, *, schedule: Any = "vp", xp: Namespace | None = None) -> tuple[Any, Any]:
    """The schedule's ``(a, b)`` at level ``sigma``, with ``x = a x0 + b eps`` (floats for float input).

    Raises ``ValueError`` naming the first level outside the schedule's domain (eager mode; with
    :func:`ambientloss.checks` off or under tracing such entries come out NaN or out of range instead).

    Examples
    --------
    >>> from ambientloss import coefficients
    >>> coefficients(0.6)
    (0.8, 0.6)
    """
    s, sched, xp, scalar = _level(sigma, schedule, xp)
    a, b = sched.coefficients(s, xp)
    return _out(a, scalar), _out(b, scalar)


def schedule_free_level(sigma: Array | float, /, *, schedule: Any = "vp", xp: Namespace | None = None) -> Any:
    """The VE-equivalent level ``b / a`` of ``sigma`` (``inf`` where ``a = 0``).

    Examples
    --------
    >>> from ambientloss import schedule_free_level
    >>> schedule_free_level(0.6)        # 0.6 / 0.8
    0.7499999999999999
    """
    s, sched, xp, scalar = _level(sigma, schedule, xp)
    return _out(sched.schedule_free(s, xp), scalar)


def level_from_schedule_free(nu: Array | float, /, *, schedule: Any = "vp", xp: Namespace | None = None) -> Any:
    """The level of ``schedule`` whose ``b / a`` equals ``nu`` (inverse of :func:`schedule_free_level`).

    Examples
    --------
    >>> from ambientloss import level_from_schedule_free
    >>> level_from_schedule_free(1.0, schedule="flow")
    0.5
    """
    v, xp, scalar = as_array(nu, "nu", xp)
    return _out(get_schedule(schedule).from_schedule_free(v, xp), scalar)


def convert_level(sigma: Array | float, /, *, source: Any, target: Any, xp: Namespace | None = None) -> Any:
    """Convert a level of schedule ``source`` to the level of ``target`` with the same ``b / a``.

    Examples
    --------
    >>> from ambientloss import convert_level
    >>> round(convert_level(2.6848, source="ve", target="vp"), 4)
    0.9371
    """
    s, sched, xp, scalar = _level(sigma, source, xp)
    nu = sched.schedule_free(s, xp)
    return _out(get_schedule(target).from_schedule_free(nu, xp), scalar)


def log_snr(sigma: Array | float, /, *, schedule: Any = "vp", xp: Namespace | None = None) -> Any:
    """Log signal-to-noise ratio ``2 log(a / b)`` (``+inf`` at ``b = 0``, ``-inf`` at ``a = 0``).

    Examples
    --------
    >>> from ambientloss import log_snr
    >>> log_snr(1.0, schedule="ve")
    0.0
    """
    s, sched, xp, scalar = _level(sigma, schedule, xp)
    a, b = sched.coefficients(s, xp)
    ok = (a > 0) & (b > 0)
    one = xp.ones_like(a)
    value = 2 * (xp.log(xp.where(ok, a, one)) - xp.log(xp.where(ok, b, one)))
    value = xp.where(a == 0, xp.full_like(value, -math.inf), value)
    return _out(xp.where(b == 0, xp.full_like(value, math.inf), value), scalar)
