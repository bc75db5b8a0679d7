"""How a :class:`~ambientloss.Levels` is filled: cast and align the levels, check them once, compute coefficients.

Private to :mod:`ambientloss.core.levels`, which owns level preparation; kept apart to keep that
module short.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ._domain import admissible_mask, check_gap, explain, explain_usable, inside, level_frame
from .arrays import _NAMESPACES, Namespace, _same_dtype_ops, as_level, compute_dtype, values_readable
from .buffer import Buffer, buffer_threshold
from .schedules import VP, Schedule

if TYPE_CHECKING:
    from .levels import Levels

__all__ = ["fill"]


def _same_arrays(sigma: Any, sigma_min: Any, sigma_max: Any, xp: Namespace | None) -> Namespace | None:
    """The namespace of ``sigma`` and ``sigma_min`` when nothing is to cast, align or look up, else ``None``.

    That is two arrays of one type whose namespace is known (:func:`~ambientloss.core.arrays.namespace`
    has met the type), of one shape and one dtype, float32 or float64, with no ``sigma_max``: the
    general path would find that namespace and dtype and return both arrays unchanged.
    """
    if sigma_max is not None or type(sigma) is not type(sigma_min):
        return None
    known = _NAMESPACES.get(type(sigma))
    if known is None or (xp is not None and xp is not known):
        return None
    dtype = sigma.dtype
    if sigma_min.dtype != dtype or (dtype != known.float32 and dtype != known.float64):
        return None
    return known if tuple(sigma.shape) == tuple(sigma_min.shape) else None


_FIELDS = (
    "sigma", "sigma_min", "sigma_max", "_trusted", "usable", "a_t", "b_t", "a_m", "b_m", "gap",
    "schedule", "buffer", "prediction", "dtype", "xp", "checked", "_clean", "_one", "_nan", "_cache", "_where",
)  # fmt: skip


def fill(
    lv: Levels,
    sigma: object,
    sigma_min: object,
    sigma_max: object,
    sched: Schedule,
    buf: Buffer,
    kind: str,
    xp_in: Namespace | None,
    like: Any,
    like_name: str,
    *,
    strict: bool = True,
) -> None:
    """Prepare ``lv`` in place: cast and align the levels (against ``like``), check them once, compute coefficients."""
    if sigma_min is None:
        msg = "sigma_min is missing: pass sigma and sigma_min, or one Levels"
        raise TypeError(msg)
    top: Any = None
    s: Any
    m: Any
    known = _same_arrays(sigma, sigma_min, sigma_max, xp_in) if like is None else None
    if known is not None:  # two arrays of one type, shape and float32/64 dtype: what the general path leaves as is
        xp: Namespace = known
        s, m = sigma, sigma_min
        dtype = s.dtype
    else:
        if like is None:  # the levels align with each other
            like, xp_in = level_frame({"sigma": sigma, "sigma_min": sigma_min, "sigma_max": sigma_max}, xp_in)
        xp = xp_in
        dtype = compute_dtype(xp, like, sigma, sigma_min, sigma_max)
        s = as_level(sigma, "sigma", like, like_name, dtype, xp)
        m = as_level(sigma_min, "sigma_min", like, like_name, dtype, xp)
        top = None if sigma_max is None else as_level(sigma_max, "sigma_max", like, like_name, dtype, xp)
    velocity = kind == "velocity"
    simple = top is None and buf.is_identity
    # VP levels of one shape (the common case): 0 and 1 as arrays, every operation array against array
    unit = xp.ones_like(s) if simple and type(sched) is VP and tuple(s.shape) == tuple(m.shape) else None
    if simple:
        bounds = None if unit is None else (xp.zeros_like(unit), unit)
        ok, trusted = admissible_mask(s, m, sched, strict=strict, velocity=velocity, bounds=bounds), m
    else:
        ok = s > buffer_threshold(m, buf, sched, xp)
        trusted = m + xp.zeros_like(s)
        if top is not None:
            low = (s < top) & (s > 0)
            ok = (ok | low) & inside(top, sched)
            trusted = xp.where(low, xp.zeros_like(trusted), trusted)
        ok = ok & inside(s, sched) & inside(m, sched)
        if velocity and sched.velocity_singular_at_upper:
            ok = ok & (s < sched.upper)
    where, every = _same_dtype_ops(xp)
    checked = values_readable(ok)
    if checked and not bool(every(ok)):  # the one host read; then name the first problem, in a fixed order
        if simple:
            explain(s, m, sched, xp, strict=strict, velocity=velocity)
        explain_usable(s, m, top, buf, sched, xp, velocity=velocity)
    if unit is None:
        a_t, b_t = sched.coefficients(s, xp)
        a_m, b_m = sched.coefficients(trusted, xp)
        one = xp.ones_like(gap := sched.gap(s, trusted, xp))
        clean = trusted == 0
    else:  # VP's coefficients, the same operations with 1 as an array: bit-identical
        a_t, b_t = xp.sqrt((unit - s) * (unit + s)), s
        a_m2 = (unit - m) * (unit + m)  # exactly 1 at a clean entry
        a_m, b_m = xp.sqrt(a_m2), m
        one, gap, clean = unit, sched.gap(s, m, xp), m == bounds[0]  # type: ignore[index]
    # a clean entry is a_m = 1, b_m = 0, D = b_t * b_t, set whatever the schedule (or a backend's sqrt) gives
    a_m = where(clean, one, a_m)
    if not sched.exact_at_zero:  # b(0) == 0 and gap(s, 0) == b_t * b_t exactly otherwise
        b_m = xp.where(clean, xp.zeros_like(b_m), b_m)
        gap = xp.where(clean, b_t * b_t, gap)
    if checked and not sched.exact_gap:
        check_gap(s, trusted, gap, sched, xp, strict=strict)
    nan = None
    if not checked:  # nothing was read: every unusable entry becomes NaN, never a finite value
        nan = xp.full_like(gap, math.nan)
        gap = xp.where(ok, gap, nan)
    values: tuple[Any, ...] = (s, m, top, trusted, ok, a_t, b_t, a_m, b_m, gap, sched, buf, kind, dtype, xp)
    values += (checked, clean, one, nan, {} if unit is None else {"a_m2": a_m2}, where)
    lv.__dict__.update(zip(_FIELDS, values, strict=True))  # one call; __setattr__ refuses every later change
