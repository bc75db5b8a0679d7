"""Schedule scalars for a pair of noise levels, checked once and shared by targets, noising and weights.

The scalars are computed in float32 (float64 when any input is float64), whatever the dtype of the
data, and ``D = a_m^2 b_t^2 - a_t^2 b_m^2`` is always formed in factored form. A clean entry
(``sigma_min == 0``) uses ``a_m = 1``, ``b_m = 0``, ``D = b_t * b_t``, ``sqrt(D) = b_t`` and
``a_m b_t / sqrt(D) = 1`` exactly, which makes the noise form reduce bit-exactly to the standard
forward process and target there (see :func:`noise_coefficients`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ._arrays import (
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
from .schedules import Schedule, get_schedule


class Levels(NamedTuple):
    """Aligned schedule scalars for the current level ``sigma`` and the trusted level ``sigma_min``."""

    sigma: Array
    sigma_min: Array
    a_t: Array
    b_t: Array
    a_m: Array
    b_m: Array
    gap: Array  # D; NaN where the pair is inadmissible (only reachable under tracing)
    schedule: Schedule
    dtype: Any
    ok: Array | None = None  # the admissibility mask when it was not checked (tracing, checks off), else None


def clean_exact(lv: Levels, value: Array, computed: Array, xp: Namespace) -> Array:
    """``computed``, with ``value`` set (not computed) at clean entries; NaN where inadmissible and unchecked.

    A coefficient that is exactly ``value`` for a clean sample must not be left to a backend: its
    ``sqrt`` need not be correctly rounded (PyTorch's CPU kernels are not, on AVX-512), so
    ``sqrt(b_t * b_t)`` may miss ``b_t`` by an ulp, and ``b_t * b_t`` underflows for tiny float32 levels.
    """
    out = xp.where(lv.sigma_min == 0, value, computed)
    if lv.ok is not None:
        out = xp.where(lv.ok, out, xp.full_like(out, math.nan))
    return out


def _unit_at_clean(lv: Levels, xp: Namespace) -> Array:
    """``D`` with 1 at the clean entries, whose coefficients are set, not computed: no 0 / 0 there."""
    return xp.where(lv.sigma_min == 0, xp.ones_like(lv.gap), lv.gap)


def kernel_root(lv: Levels, xp: Namespace) -> Array:
    """``sqrt(D)``, the spread of the transition kernel; ``b_t`` exactly at a clean entry (:func:`clean_exact`)."""
    return clean_exact(lv, lv.b_t, xp.sqrt(_unit_at_clean(lv, xp)), xp)


def noise_coefficients(lv: Levels, xp: Namespace) -> tuple[Array, Array]:
    """``(sqrt(D), a_m b_t / sqrt(D))``: the kernel's spread and the epsilon target's coefficient.

    They are ``b_t`` and ``1`` exactly at a clean entry (:func:`clean_exact`), so the noise form is the
    standard forward process and target there by IEEE basic operations alone, on every backend and
    processor in eager mode (a compiler that contracts ``a * x + b * z`` into a fused multiply-add
    does so alike for the same expression, so the equality also holds within one compiled function).
    """
    ab, gap = lv.a_m * lv.b_t, _unit_at_clean(lv, xp)
    root = clean_exact(lv, lv.b_t, xp.sqrt(gap), xp)
    c_eps = clean_exact(lv, xp.ones_like(ab), xp.sqrt((ab * ab) / gap), xp)  # not ab / root: XLA makes it ab * rsqrt
    return root, c_eps


def pair_coefficients(lv: Levels, xp: Namespace) -> tuple[Array, Array]:
    """``(c_t, c_m)`` of the pair-form x0 target ``c_t x_t + c_m x_tmin``; ``0`` and ``1`` exactly at a clean entry."""
    gap = _unit_at_clean(lv, xp)
    c_t = -(lv.a_t * (lv.b_m * lv.b_m)) / gap
    c_m = (lv.a_m * (lv.b_t * lv.b_t)) / gap
    return clean_exact(lv, xp.zeros_like(c_t), c_t, xp), clean_exact(lv, xp.ones_like(c_m), c_m, xp)


def _check_one(level: Array, name: str, schedule: Schedule, xp: Namespace) -> None:
    if not values_readable(level):
        return
    raise_where(level != level, xp, f"{name} must not be NaN", v=level)
    lower, upper = schedule.lower, schedule.upper
    outside = (level < lower) | (level > upper) if math.isfinite(upper) else (level < lower) | (level == math.inf)
    raise_where(
        outside,
        xp,
        f"{name}={{v!r}} is outside the domain [{lower}, {upper}] of the {schedule.name!r} schedule",
        v=level,
    )


def _inside(level: Array, schedule: Schedule) -> Array:
    """True where ``level`` is a number in the schedule's domain: exactly the entries ``_check_one`` accepts."""
    upper = schedule.upper
    below_top = (level <= upper) if math.isfinite(upper) else (level < math.inf)
    return (level >= schedule.lower) & below_top  # False at NaN


def _admissible(s: Array, m: Array, sched: Schedule, *, strict: bool, velocity: bool) -> Array:
    """Every condition on a level pair in one boolean array (False at NaN).

    ``m >= lower``, ``s > m`` (or ``s == m == 0`` when not strict) and ``s <= upper`` imply that both
    levels lie in the domain, so five comparisons cover what the detailed checks report one by one.
    """
    order = (s > m) if strict else ((s > m) | ((s == m) & (m == 0)))
    upper = sched.upper
    if not math.isfinite(upper):
        top = s < math.inf
    elif velocity and sched.velocity_singular_at_upper:
        top = s < upper
    else:
        top = s <= upper
    return (m >= sched.lower) & order & top


class _Frame(NamedTuple):
    """Stands in for the data array when only levels are given: they align with each other."""

    shape: tuple[int, ...]
    dtype: Any
    device: Any


def level_frame(sigma: object, sigma_min: object, xp: Namespace | None) -> tuple[_Frame, Namespace]:
    """A stand-in "data array" with the longer of the two level shapes, and the namespace.

    Python numbers alone use NumPy in float64; arrays run in float32 unless one is float64.
    """
    arrays = [v for v in (sigma, sigma_min) if not is_scalar(v)]
    if xp is None:
        xp = namespace({"sigma": sigma, "sigma_min": sigma_min}, None) if arrays else numpy_namespace()
    longest: tuple[int, ...] = ()
    for a in arrays:  # a plain loop: max(..., key=len) is a graph break under torch.compile
        if len(a.shape) > len(longest):  # type: ignore[attr-defined]
            longest = tuple(a.shape)  # type: ignore[attr-defined]
    device = device_of(arrays[0]) if arrays else None
    return _Frame(longest, xp.float32 if arrays else xp.float64, device), xp


def single_level(x: Array, x_name: str, sigma: object, schedule: Any, xp: Namespace) -> tuple[Array, Array, Array]:
    """``(sigma, a, b)`` aligned with ``x``, for the forward process at one level."""
    sched = get_schedule(schedule)
    s = as_level(sigma, "sigma", x, x_name, compute_dtype(xp, x, sigma), xp)
    inside = _inside(s, sched)
    if values_readable(inside) and not bool(xp.all(inside)):
        _check_one(s, "sigma", sched, xp)
    a, b = sched.coefficients(s, xp)
    return s, a, b


def _explain(s: Array, m: Array, sched: Schedule, xp: Namespace, *, strict: bool, velocity: bool) -> None:
    """Raise the ``ValueError`` that names the first inadmissible entry of a failed level pair."""
    _check_one(s, "sigma", sched, xp)
    _check_one(m, "sigma_min", sched, xp)
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


def _check_gap(s: Array, m: Array, gap: Array, sched: Schedule, xp: Namespace, *, strict: bool) -> None:
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


def pair_levels(
    x: Array,
    x_name: str,
    sigma: object,
    sigma_min: object,
    schedule: Any,
    xp: Namespace,
    *,
    strict: bool = True,
    velocity: bool = False,
) -> Levels:
    """Check and compute the scalars for ``sigma`` above ``sigma_min``.

    ``strict`` requires ``sigma > sigma_min`` everywhere (targets and weights); otherwise
    ``sigma == sigma_min == 0`` is allowed (the forward kernel at level zero). ``velocity`` also
    rejects levels where the schedule's velocity diverges.
    """
    sched = get_schedule(schedule)
    dtype = compute_dtype(xp, x, sigma, sigma_min)
    s = as_level(sigma, "sigma", x, x_name, dtype, xp)
    m = as_level(sigma_min, "sigma_min", x, x_name, dtype, xp)
    ok = _admissible(s, m, sched, strict=strict, velocity=velocity)
    unchecked = not values_readable(ok)  # traced, or checks switched off
    if not unchecked and not bool(xp.all(ok)):  # one sync; then name the first problem, in a fixed order
        _explain(s, m, sched, xp, strict=strict, velocity=velocity)
    a_t, b_t = sched.coefficients(s, xp)
    a_m, b_m = sched.coefficients(m, xp)
    gap = sched.gap(s, m, xp)
    # a clean entry is a_m = 1, b_m = 0, D = b_t * b_t, set whatever the schedule (or a backend's sqrt) gives
    clean = m == 0
    a_m = xp.where(clean, xp.ones_like(a_m), a_m)
    b_m = xp.where(clean, xp.zeros_like(b_m), b_m)
    if not sched.exact_at_zero:
        gap = xp.where(clean, b_t * b_t, gap)
    if not unchecked and not sched.exact_gap:
        _check_gap(s, m, gap, sched, xp, strict=strict)
    if unchecked:  # nothing was checked: every inadmissible entry becomes NaN, never a finite value
        gap = xp.where(ok, gap, xp.full_like(gap, math.nan))
    return Levels(s, m, a_t, b_t, a_m, b_m, gap, sched, dtype, ok if unchecked else None)
