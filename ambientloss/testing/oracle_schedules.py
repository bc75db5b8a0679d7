"""Schedules the checker and the strategies understand: named ones, random custom ones and any library schedule.

:func:`resolve` turns a schedule specification into an oracle with ``name``, ``lower``, ``upper``,
``scalars(level)`` and ``schedule_free(level)``:

- ``"vp"``, ``"ve"`` (alias ``"edm"``), ``"flow"`` (alias ``"rectified_flow"``) and
  :class:`~ambientloss.testing.gaussian.OracleSchedule` objects use the formulas of
  :mod:`ambientloss.testing.gaussian`, written independently of the library;
- any :class:`ambientloss.Schedule` (a :class:`~ambientloss.Custom` or :class:`~ambientloss.Discrete`
  one, say) becomes a :class:`LibrarySchedule`, which evaluates that object's own ``alpha`` and
  ``sigma`` in float64 NumPy: use it to check a function written for your own schedule.

:func:`custom_schedule` builds the library counterpart of the random custom family, so that a test can
hand the same schedule to an implementation and to the oracles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .gaussian import OracleSchedule, Scalars

__all__ = ["NAMES", "LibrarySchedule", "custom_schedule", "level_for_free", "resolve"]

#: schedule names accepted by :func:`resolve`, with their aliases
NAMES = {"vp": "vp", "ve": "ve", "edm": "ve", "flow": "flow", "rectified_flow": "flow"}


class LibrarySchedule:
    """Float64 scalars of an :class:`ambientloss.Schedule`, read from the object itself.

    The derivatives are NaN when the schedule has none (a :class:`~ambientloss.Custom` without
    ``d_a`` and ``d_b``), so only the ``"velocity"`` prediction cannot be checked then.
    """

    name = "library"

    def __init__(self, schedule: Any) -> None:
        self.schedule = schedule
        self.lower, self.upper = float(schedule.lower), float(schedule.upper)

    def scalars(self, level: float) -> Scalars:
        x = np.asarray(float(level), dtype=np.float64)
        with np.errstate(all="ignore"):  # the VP velocity diverges at s = 1, as in the named oracle
            a, b = (float(v) for v in self.schedule.coefficients(x, np))
            try:
                da, db = (float(v) for v in self.schedule.derivatives(x, np))
            except (ValueError, NotImplementedError):
                da = db = math.nan
        return Scalars(a, b, da, db, float(level), self.name)

    def schedule_free(self, level: float) -> float:
        """``b / a`` (the VE-equivalent level)."""
        s = self.scalars(level)
        return s.b / s.a if s.a > 0 else math.inf

    def __repr__(self) -> str:
        return f"LibrarySchedule({self.schedule!r})"


def resolve(schedule: Any) -> Any:
    """The oracle for a schedule name, an :class:`OracleSchedule` or an :class:`ambientloss.Schedule`.

    Examples
    --------
    >>> from ambientloss.testing.oracle_schedules import resolve
    >>> resolve("edm").name, resolve("edm").upper
    ('ve', inf)
    """
    if isinstance(schedule, str):
        if schedule not in NAMES:
            msg = f"unknown schedule {schedule!r}; valid names are {', '.join(map(repr, NAMES))}, or pass a Schedule"
            raise ValueError(msg)
        return OracleSchedule(NAMES[schedule])
    if isinstance(schedule, (OracleSchedule, LibrarySchedule)):
        return schedule
    from ..core.schedules import Schedule

    if isinstance(schedule, Schedule):
        return LibrarySchedule(schedule)
    msg = (
        f"schedule must be a name ({', '.join(map(repr, NAMES))}), an OracleSchedule or an ambientloss "
        f"Schedule, got {type(schedule).__name__}"
    )
    raise TypeError(msg)


def level_for_free(oracle: Any, free: float) -> float:
    """The level whose ``b / a`` is ``free``: closed form for the named schedules, bisection otherwise."""
    if oracle.name == "vp":
        return free / math.sqrt(1.0 + free * free)
    if oracle.name == "flow":
        return free / (1.0 + free)
    if oracle.name == "ve":
        return free
    lo, hi = oracle.lower, oracle.upper
    if oracle.schedule_free(hi) <= free:
        return hi
    for _ in range(200):  # b / a increases: bisection to the last bit
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if oracle.schedule_free(mid) < free:
            lo = mid
        else:
            hi = mid
    return hi


def custom_schedule(oracle: OracleSchedule) -> Any:
    """The :class:`ambientloss.Custom` schedule of a custom :class:`OracleSchedule`, with exact derivatives.

    ``a(t) = cos(c t)^p / (1 + k t)``, ``b(t) = sin(c t)`` on ``[0, 1]``, written with the array API so
    that it runs on any backend.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.testing.gaussian import OracleSchedule
    >>> from ambientloss.testing.oracle_schedules import custom_schedule
    >>> oracle = OracleSchedule("custom", k=0.5, c=1.2, p=1.5)
    >>> a, b = custom_schedule(oracle).coefficients(np.asarray(0.3), np)
    >>> bool(np.isclose(a, oracle.scalars(0.3).a)), bool(np.isclose(b, oracle.scalars(0.3).b))
    (True, True)
    """
    import array_api_compat

    from ..core.schedules import Custom

    if oracle.name != "custom":
        msg = f"custom_schedule needs a custom OracleSchedule, got name={oracle.name!r}"
        raise ValueError(msg)
    k, c, p = oracle.k, oracle.c, oracle.p

    def alpha(t: Any) -> Any:
        xp = array_api_compat.array_namespace(t)
        return xp.cos(c * t) ** p / (1 + k * t)

    def sigma(t: Any) -> Any:
        return array_api_compat.array_namespace(t).sin(c * t)

    def d_alpha(t: Any) -> Any:
        xp = array_api_compat.array_namespace(t)
        cos, sin, den = xp.cos(c * t), xp.sin(c * t), 1 + k * t
        return -p * c * sin * cos ** (p - 1) / den - k * cos**p / (den * den)

    def d_sigma(t: Any) -> Any:
        return c * array_api_compat.array_namespace(t).cos(c * t)

    return Custom(alpha, sigma, d_a=d_alpha, d_b=d_sigma, domain=(0.0, 1.0), name=f"custom({k},{c},{p})")
