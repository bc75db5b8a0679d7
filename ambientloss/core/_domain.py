"""The value checks on noise levels: inside the schedule's domain, admissible pairs, and the errors naming them.

Used by :mod:`ambientloss.core.levels` (the one place that prepares levels) and by the conversions.
Every check here is a comparison on the levels' arrays; the host read that decides whether to raise
is made by the caller, once.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from .arrays import (
    Array,
    Namespace,
    as_level,
    compute_dtype,
    device_of,
    is_scalar,
    namespace,
    numpy_namespace,
    raise_where,
    values_readable,
)
from .buffer import Buffer, buffer_threshold
from .schedules import VE, VP, Flow, Schedule, get_schedule


def check_one(level: Array, name: str, schedule: Schedule, xp: Namespace) -> None:
    """Raise naming the first NaN level, or the first outside the schedule's domain (eager, checks on)."""
    if not values_readable(level):
        return
    raise_where(level != level, xp, f"{name} must not be NaN", v=level)
    lower, upper = schedule.lower, schedule.upper
    outside = (level < lower) | (level > upper) if math.isfinite(upper) else (level < lower) | (level == math.inf)
    raise_where(
        outside,
        xp,
        f"{name}={{v!r}} is outside the domain {schedule.domain_text} of the {schedule.name!r} schedule",
        v=level,
    )


def inside(level: Array, schedule: Schedule) -> Array:
    """True where ``level`` is a number in the schedule's domain: exactly the entries :func:`check_one` accepts."""
    upper = schedule.upper
    below_top = (level <= upper) if math.isfinite(upper) else (level < math.inf)
    return (level >= schedule.lower) & below_top  # False at NaN


def admissible_mask(
    s: Array, m: Array, sched: Schedule, *, strict: bool, velocity: bool, bounds: tuple[Array, Array] | None = None
) -> Array:
    """Every condition on a level pair in one boolean array (False at NaN).

    ``m >= lower``, ``s > m`` (or ``s == m == 0`` when not strict) and ``s <= upper`` imply that both
    levels lie in the domain, so five comparisons cover what the detailed checks report one by one.
    ``bounds``: for a domain ``[0, upper]``, arrays holding 0 and ``upper`` in place of the numbers, the
    same comparisons array against array (cheaper per call in eager PyTorch).
    """
    lower, upper = (sched.lower, sched.upper) if bounds is None else bounds
    order = (s > m) if strict else ((s > m) | ((s == m) & (m == (0 if bounds is None else lower))))
    if not math.isfinite(sched.upper):
        top = s < math.inf
    elif velocity and sched.velocity_singular_at_upper:
        top = s < upper
    else:
        top = s <= upper
    return (m >= lower) & order & top


def explain(s: Array, m: Array, sched: Schedule, xp: Namespace, *, strict: bool, velocity: bool) -> None:
    """Raise the ``ValueError`` that names the first inadmissible entry of a failed level pair."""
    check_one(s, "sigma", sched, xp)
    check_one(m, "sigma_min", sched, xp)
    clean = m == 0
    order_ok = (s > m) if strict else ((s > m) | (clean & (s == m)))
    raise_where(
        ~order_ok & ~clean,
        xp,
        "sigma must be greater than sigma_min where sigma_min > 0 (the transition kernel is "
        "undefined otherwise); got sigma={s!r} and sigma_min={m!r}",
        s=s,
        m=m,
    )
    raise_where(~order_ok, xp, "sigma must be > 0 for a training target; got sigma={s!r}", s=s)
    if velocity and sched.velocity_singular_at_upper:
        raise_where(
            s >= sched.upper,
            xp,
            f"prediction='velocity' diverges at the top of the {sched.name!r} schedule; got sigma={{s!r}}",
            s=s,
        )
    msg = "sigma and sigma_min are not an admissible pair of noise levels"  # not reached: a check above fires
    raise ValueError(msg)


def check_gap(s: Array, m: Array, gap: Array, sched: Schedule, xp: Namespace, *, strict: bool) -> None:
    """A schedule without an exact gap (a custom one) cannot resolve levels closer than its rounding.

    Targets and weights need ``D > 0``; the forward kernel (not ``strict``) also takes ``D == 0``, the
    identity at ``sigma == sigma_min``. Costs one more device sync, for such schedules only.
    """
    resolved = (gap > 0) if strict else (gap >= 0)
    if bool(xp.all(resolved)):
        return
    raise_where(
        ~resolved,
        xp,
        f"sigma={{s!r}} is too close to sigma_min={{m!r}} for the {sched.name!r} schedule: its gap "
        "D = a_m^2 b_t^2 - a_t^2 b_m^2 rounds to zero or below in this precision (the gap of a custom schedule "
        "is only as accurate as its a and b); draw sigma further above sigma_min, or use float64 levels",
        s=s,
        m=m,
    )


def explain_usable(
    s: Array, m: Array, top: Array | None, buf: Buffer, sched: Schedule, xp: Namespace, *, velocity: bool
) -> None:
    """Raise the ``ValueError`` that names the first unusable entry of levels with a buffer or ``sigma_max``."""
    check_one(s, "sigma", sched, xp)
    check_one(m, "sigma_min", sched, xp)
    if top is not None:
        check_one(top, "sigma_max", sched, xp)
    if velocity and sched.velocity_singular_at_upper:
        msg = f"prediction='velocity' diverges at the top of the {sched.name!r} schedule; got sigma={{s!r}}"
        raise_where(s >= sched.upper, xp, msg, s=s)
    thr = buffer_threshold(m, buf, sched, xp)
    ok = (s > thr) if top is None else (s > thr) | ((s < top) & (s > 0))
    message = "sigma={s!r} is not usable: not above the threshold {t!r} of sigma_min={m!r}"
    if top is not None:
        message += " and not below sigma_max={top!r}"
    raise_where(~ok, xp, message, s=s, t=thr, m=m, top=top if top is not None else m)
    msg = "sigma is not usable with these sigma_min, sigma_max and buffer"  # not reached: a check above fires
    raise ValueError(msg)


class _Frame(NamedTuple):
    """Stands in for the data array when only levels are given: they align with each other."""

    shape: tuple[int, ...]
    dtype: Any
    device: Any


def level_frame(named: dict[str, object], xp: Namespace | None) -> tuple[_Frame, Namespace]:
    """A stand-in "data array" with the longest of the level shapes, and the namespace.

    Python numbers alone use NumPy in float64; arrays run in float32 unless one is float64.
    """
    arrays = [v for v in named.values() if v is not None and not is_scalar(v)]
    if xp is None:
        xp = namespace(named, None) if arrays else numpy_namespace()
    longest: tuple[int, ...] = ()
    for a in arrays:  # a plain loop: max(..., key=len) is a graph break under torch.compile
        if len(a.shape) > len(longest):  # type: ignore[attr-defined]
            longest = tuple(a.shape)  # type: ignore[attr-defined]
    device = device_of(arrays[0]) if arrays else None
    return _Frame(longest, xp.float32 if arrays else xp.float64, device), xp


def single_level(x: Array, x_name: str, sigma: object, schedule: Any, xp: Namespace) -> tuple[Array, Array, Array]:
    """``(sigma, a, b)`` aligned with ``x``, for the forward process at one level (one host read)."""
    sched = get_schedule(schedule)
    s = as_level(sigma, "sigma", x, x_name, compute_dtype(xp, x, sigma), xp)
    ok = inside(s, sched)
    if values_readable(ok) and not bool(xp.all(ok)):
        check_one(s, "sigma", sched, xp)
    a, b = sched.coefficients(s, xp)
    return s, a, b


def data_after_levels(given: Array | None, extra: Array | None, name: str) -> Array:
    """The data array in the slot after the levels; ``TypeError`` when it is missing or followed by another."""
    if given is None:
        msg = f"{name} is missing: the levels (sigma, sigma_min or one Levels) are followed by {name}"
        raise TypeError(msg)
    if extra is not None:
        msg = f"after a Levels comes {name} alone (sigma_min is part of the Levels)"
        raise TypeError(msg)
    return given


def same_schedule(a: Schedule, b: Schedule) -> bool:
    """One schedule: the same object, or two instances of a built-in schedule without parameters."""
    return a is b or (type(a) is type(b) and type(a) in (VP, VE, Flow))
