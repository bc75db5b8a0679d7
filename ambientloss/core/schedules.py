r"""Noise schedules ``x_t = a(level) * x0 + b(level) * eps`` and conversions between their units.

Every schedule maps its own noise level (``sigma`` in the public functions) to the pair
``(a, b)``. Levels from different schedules are compared through the schedule-free level
:math:`\tilde\sigma = b / a` (the VE-equivalent noise level) or the log-SNR
:math:`\lambda = 2 \log(a / b)`.

========== ======================== ============== ===================================
name       ``a``                    ``b``          level
========== ======================== ============== ===================================
``"vp"``   ``sqrt((1-s)(1+s))``     ``s``          ``s`` in ``[0, 1]`` (the default)
``"ve"``   ``1``                    ``sigma``      ``sigma`` in ``[0, inf)`` (EDM)
``"flow"`` ``1 - t``                ``t``          ``t`` in ``[0, 1]`` (noise at ``t=1``)
Discrete   ``sqrt(alphas_cumprod)`` ``sqrt(1-ac)`` VP ``s``, with timestep lookups
Custom     ``alpha(t)``             ``sigma(t)``   ``t`` in a user-given interval
========== ======================== ============== ===================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .arrays import Array, Namespace

__all__ = ["VE", "VP", "Custom", "Flow", "Schedule", "get_schedule"]


class Schedule:
    """Base class: an affine Gaussian path ``x = a(level) x0 + b(level) eps``.

    Subclasses implement :meth:`coefficients` and :meth:`derivatives`; :meth:`gap` may be
    overridden with a better-conditioned factorisation of ``a_m^2 b_t^2 - a_t^2 b_m^2``.
    """

    name: str = "schedule"
    lower: float = 0.0
    upper: float = 1.0
    #: whether the level-time velocity ``dx/dlevel`` diverges at :attr:`upper` (VP in ``s``-time)
    velocity_singular_at_upper: bool = False
    #: whether level 0 gives exactly ``a = 1``, ``b = 0`` and ``gap(s, 0) == b(s) * b(s)`` in floating point
    exact_at_zero: bool = False
    #: whether :meth:`gap` is positive for every pair ``level > level_min`` in floating point (a factored form
    #: exact to a few ulp); otherwise ``D`` is only as accurate as ``a`` and ``b``, and is checked for sign
    exact_gap: bool = False
    #: whether ``a^2 + b^2 == 1`` identically (in exact arithmetic): variance preserving
    unit_norm: bool = False

    @property
    def domain_text(self) -> str:
        """The levels this schedule accepts, as an interval: ``[0.0, 1.0]``, or ``[0.0, inf)`` (inf is not a level).

        Examples
        --------
        >>> from ambientloss import get_schedule
        >>> get_schedule("vp").domain_text, get_schedule("ve").domain_text
        ('[0.0, 1.0]', '[0.0, inf)')
        """
        return f"[{self.lower}, {self.upper}]" if math.isfinite(self.upper) else f"[{self.lower}, inf)"

    def coefficients(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        """Return ``(a, b)`` at ``level``."""
        raise NotImplementedError

    def derivatives(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        """Return ``(da/dlevel, db/dlevel)`` at ``level``."""
        raise NotImplementedError

    def gap(self, level: Array, level_min: Array, xp: Namespace) -> Array:
        """``D = a_m^2 b_t^2 - a_t^2 b_m^2``, computed as ``(a_m b_t - a_t b_m)(a_m b_t + a_t b_m)``."""
        a_t, b_t = self.coefficients(level, xp)
        a_m, b_m = self.coefficients(level_min, xp)
        return (a_m * b_t - a_t * b_m) * (a_m * b_t + a_t * b_m)

    def schedule_free(self, level: Array, xp: Namespace) -> Array:
        """The VE-equivalent level ``b / a`` (``inf`` where ``a = 0``)."""
        a, b = self.coefficients(level, xp)
        positive = a > 0
        return xp.where(positive, b / xp.where(positive, a, xp.ones_like(a)), xp.full_like(a, math.inf))

    def from_schedule_free(self, nu: Array, xp: Namespace) -> Array:
        """Inverse of :meth:`schedule_free`, by bisection on ``[lower, upper]`` (monotone schedules)."""
        upper = self.upper if math.isfinite(self.upper) else 1e30
        lo = xp.full_like(nu, self.lower)
        hi = xp.full_like(nu, upper)
        for _ in range(200):
            mid = (lo + hi) / 2
            below = self.schedule_free(mid, xp) < nu
            lo = xp.where(below, mid, lo)
            hi = xp.where(below, hi, mid)
        return hi

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class VP(Schedule):
    """Variance preserving, ``x = sqrt(1 - s^2) x0 + s eps`` with ``s`` in ``[0, 1]``."""

    name = "vp"
    exact_at_zero = True
    exact_gap = True
    unit_norm = True
    velocity_singular_at_upper = True

    def coefficients(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        return xp.sqrt((1 - level) * (1 + level)), level

    def derivatives(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        a = xp.sqrt((1 - level) * (1 + level))
        return -level / a, xp.ones_like(level)

    def gap(self, level: Array, level_min: Array, xp: Namespace) -> Array:
        return (level - level_min) * (level + level_min)

    def from_schedule_free(self, nu: Array, xp: Namespace) -> Array:
        finite = nu < math.inf
        safe = xp.where(finite, nu, xp.zeros_like(nu))
        return xp.where(finite, safe / xp.sqrt(1 + safe * safe), xp.ones_like(nu))


class VE(Schedule):
    """Variance exploding (EDM), ``x = x0 + sigma eps`` with ``sigma >= 0``."""

    name = "ve"
    exact_at_zero = True
    exact_gap = True
    upper = math.inf

    def coefficients(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        return xp.ones_like(level), level

    def derivatives(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        return xp.zeros_like(level), xp.ones_like(level)

    def gap(self, level: Array, level_min: Array, xp: Namespace) -> Array:
        return (level - level_min) * (level + level_min)

    def from_schedule_free(self, nu: Array, xp: Namespace) -> Array:
        return nu


class Flow(Schedule):
    """Rectified flow, ``x = (1 - t) x0 + t eps`` with ``t`` in ``[0, 1]`` (noise at ``t = 1``)."""

    name = "flow"
    exact_at_zero = True
    exact_gap = True

    def coefficients(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        return 1 - level, level

    def derivatives(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        return -xp.ones_like(level), xp.ones_like(level)

    def gap(self, level: Array, level_min: Array, xp: Namespace) -> Array:
        # t + m - 2 t m written as a sum of two non-negative terms: no cancellation as t, m -> 1
        return (level - level_min) * (level * (1 - level_min) + level_min * (1 - level))

    def from_schedule_free(self, nu: Array, xp: Namespace) -> Array:
        finite = nu < math.inf
        safe = xp.where(finite, nu, xp.zeros_like(nu))
        return xp.where(finite, safe / (1 + safe), xp.ones_like(nu))


class Custom(Schedule):
    """A schedule from two functions ``a(t)`` and ``b(t)`` on ``domain``: ``x_t = a(t) x0 + b(t) eps``.

    The functions receive an array and must return arrays of the same library (use
    ``array_api_compat.array_namespace(t)`` to stay backend-agnostic). ``b / a`` must increase
    with ``t``. The ``"velocity"`` prediction needs their derivatives ``d_a`` and ``d_b``. (The level
    itself is called ``sigma`` everywhere in the library; ``b`` is the noise coefficient at that level.)

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import Custom
    >>> cosine = Custom(lambda t: np.cos(np.pi * t / 2), lambda t: np.sin(np.pi * t / 2),
    ...                 d_a=lambda t: -np.pi / 2 * np.sin(np.pi * t / 2),
    ...                 d_b=lambda t: np.pi / 2 * np.cos(np.pi * t / 2))
    >>> cosine.name
    'custom'
    """

    def __init__(
        self,
        a: Callable[[Array], Array],
        b: Callable[[Array], Array],
        *,
        d_a: Callable[[Array], Array] | None = None,
        d_b: Callable[[Array], Array] | None = None,
        domain: tuple[float, float] = (0.0, 1.0),
        name: str = "custom",
    ) -> None:
        if not (callable(a) and callable(b)):
            msg = f"a and b must be callables, got {type(a).__name__} and {type(b).__name__}"
            raise TypeError(msg)
        if (d_a is None) != (d_b is None):
            msg = "give both d_a and d_b, or neither"
            raise ValueError(msg)
        lower, upper = (float(v) for v in domain)
        if not lower < upper:
            msg = f"domain must be an interval (lower, upper) with lower < upper, got {domain}"
            raise ValueError(msg)
        self.a, self.b = a, b
        self.d_a, self.d_b = d_a, d_b
        self.lower, self.upper, self.name = lower, upper, name

    def coefficients(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        return self.a(level), self.b(level)

    def derivatives(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        if self.d_a is None or self.d_b is None:
            msg = f"prediction='velocity' needs the derivatives d_a and d_b of schedule {self.name!r}"
            raise ValueError(msg)
        return self.d_a(level), self.d_b(level)

    def __repr__(self) -> str:
        return f"Custom(name={self.name!r}, domain=({self.lower}, {self.upper}))"


_NAMED: dict[str, Callable[[], Schedule]] = {
    "vp": VP,
    "ve": VE,
    "edm": VE,
    "flow": Flow,
    "rectified_flow": Flow,
}


class _Default(str):
    """The name ``"vp"`` as a default value: equal to ``"vp"`` everywhere, yet not the ``"vp"`` a caller passes."""

    __slots__ = ()

    def __reduce__(self) -> str:  # pickled and copied as the module's one DEFAULT_SCHEDULE
        return "DEFAULT_SCHEDULE"


DEFAULT_SCHEDULE: str = _Default("vp")
"""The default ``schedule=`` of every function that also takes a :class:`~ambientloss.Levels`.

It is ``"vp"``, but a function given a :class:`~ambientloss.Levels` can tell it from an explicit
``schedule="vp"`` (``schedule_given``): left out, the levels' own schedule is used; given, it must
be the levels' schedule, or the call raises naming both.
"""


def schedule_given(schedule: Any) -> bool:
    """Whether ``schedule`` was passed by the caller rather than left at ``DEFAULT_SCHEDULE``."""
    return schedule is not DEFAULT_SCHEDULE


def get_schedule(schedule: Any) -> Schedule:
    """Resolve a schedule name, a :class:`Schedule` or a pair of functions ``(a, b)``.

    Examples
    --------
    >>> from ambientloss import get_schedule
    >>> get_schedule("ve")
    VE()
    """
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        try:
            return _NAMED[schedule.lower()]()
        except KeyError:
            valid = ", ".join(repr(k) for k in _NAMED)
            msg = f"unknown schedule {schedule!r}; valid names are {valid}, or pass a Schedule object"
            raise ValueError(msg) from None
    if isinstance(schedule, tuple) and len(schedule) == 2 and all(callable(f) for f in schedule):
        return Custom(*schedule)
    msg = (
        "schedule must be a name ('vp', 've', 'flow'), a Schedule object or a pair of functions "
        f"(a, b), got {type(schedule).__name__}"
    )
    raise TypeError(msg)
