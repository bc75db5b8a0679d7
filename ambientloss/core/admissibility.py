r"""Admissible noise levels of annotated samples: where a sample may be used, and with which target.

A sample annotated with ``(sigma_min, sigma_max)`` is usable at level ``sigma`` on two branches:

* the **high-noise branch** ``sigma > threshold(sigma_min)``, with the ambient target built from
  ``x_tmin`` at ``sigma_min`` (``threshold(sigma_min) = sigma_min`` without a buffer);
* the **low-noise branch** ``0 < sigma < sigma_max`` (Ambient-Omni locality), with the standard
  target on the sample itself.

A clean sample (``sigma_min == 0``) is usable at every positive level of the schedule's domain; level 0
(no noise) is never a training level. Both inequalities are strict, so ``sigma == sigma_min`` (where
the ambient target divides by zero) is never usable. ``sigma_min > sigma_max`` gives two disjoint
intervals.

The buffer (:class:`~ambientloss.Buffer`) and the branches live in :mod:`ambientloss.core.buffer`;
each function here takes raw levels or one :class:`~ambientloss.Levels`, which holds them checked.
"""

from __future__ import annotations

import math
from typing import Any

from ._domain import admissible_mask, level_frame
from .arrays import (
    Array,
    Namespace,
    as_level,
    compute_dtype,
    is_scalar,
    raise_where,
)
from .buffer import Buffer, as_buffer, branches, buffer_threshold
from .levels import Levels, prepare_levels
from .schedules import DEFAULT_SCHEDULE, get_schedule
from .targets import canonical_prediction

__all__ = ["admissible", "threshold", "trusted_level", "usable"]


def admissible(
    sigma: Array | float,
    sigma_min: Array | float,
    /,
    *,
    schedule: Any = DEFAULT_SCHEDULE,
    prediction: str = "x0",
    xp: Namespace | None = None,
) -> Array:
    """Boolean mask of the level pairs that have an ambient target; never raises on array values.

    ``sigma > sigma_min >= lower`` and ``sigma <= upper`` of the schedule (``sigma < 1`` for the VP
    velocity, which diverges there); ``False`` at NaN. Levels align on their leading axes, so
    ``(B,)`` against ``(B, T)`` gives ``(B, T)``. Under ``jax.jit`` or ``torch.compile`` pass it as
    ``where=`` to :func:`~ambientloss.squared_error`: inadmissible targets are NaN there.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import admissible
    >>> admissible(np.array([0.5, 0.3, 0.0]), np.array([0.3, 0.3, 0.0]))
    array([ True, False, False])
    """
    sched = get_schedule(schedule)
    velocity = canonical_prediction(prediction) == "velocity"
    like, xp = level_frame({"sigma": sigma, "sigma_min": sigma_min}, xp)
    dtype = compute_dtype(xp, like, sigma, sigma_min)
    s = as_level(sigma, "sigma", like, "sigma", dtype, xp)
    m = as_level(sigma_min, "sigma_min", like, "sigma", dtype, xp)
    return admissible_mask(s, m, sched, strict=True, velocity=velocity)


def _out(value: Array, scalar: bool) -> Any:
    if not scalar:
        return value
    return bool(value) if value.dtype == bool else float(value)


def threshold(
    sigma_min: Levels | Array | float,
    /,
    *,
    buffer: Buffer | None = None,
    schedule: Any = DEFAULT_SCHEDULE,
    xp: Namespace | None = None,
) -> Any:
    r"""Lower end of the high-noise branch: a sample is usable there iff ``sigma > threshold``.

    ``max(factor * sigma_min, sigma_min + additive, l(sigma~_min / sqrt(1 - min_gap)))`` for a
    corrupt sample and ``0`` for a clean one (``sigma_min == 0``); see :class:`Buffer`. The result may
    lie above the top of the schedule's domain, in which case the branch is empty.

    Parameters
    ----------
    sigma_min : array or float
        Per-sample trusted levels, shape ``(N,)`` or ``()``, in the units of ``schedule``.
    buffer : Buffer, optional
        Safety margin for corrupt samples; none by default.
    schedule : str or Schedule
        Units of the levels (``"vp"`` by default, as everywhere; Ambient-o works in ``"ve"``).
    xp : namespace, optional
        Array namespace; inferred when omitted (NumPy float64 for Python numbers).

    Returns
    -------
    array or float
        Same shape as ``sigma_min``, in float32 (float64 for float64 input); a float for a float.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import Buffer, threshold
    >>> threshold(np.array([0.0, 1.0, 2.0]), buffer=Buffer.from_s_max(4), schedule="ve").round(4)
    array([0.    , 1.1547, 2.3094])
    >>> threshold(0.5, buffer=Buffer(min_gap=0.75), schedule="ve")      # VE: sigma_min / sqrt(1 - 0.75)
    1.0
    """
    if isinstance(sigma_min, Levels):
        sigma_min._require("x0", schedule=schedule)
        _same_buffer(sigma_min, buffer)
        return sigma_min.threshold
    sched = get_schedule(schedule)
    buf = as_buffer(buffer)
    xp, _, levels, _ = prepare_levels({"sigma_min": sigma_min}, sched, xp)
    return _out(buffer_threshold(levels["sigma_min"], buf, sched, xp), is_scalar(sigma_min))


def _same_buffer(levels: Levels, buffer: Buffer | None) -> None:
    if buffer is not None and buffer != levels.buffer:
        msg = f"buffer={buffer!r} is given with Levels of buffer {levels.buffer!r}; give it to Levels only"
        raise ValueError(msg)


def usable(
    sigma: Levels | Array | float,
    sigma_min: Array | float | None = None,
    sigma_max: Array | float | None = None,
    /,
    *,
    buffer: Buffer | None = None,
    schedule: Any = DEFAULT_SCHEDULE,
    xp: Namespace | None = None,
) -> Any:
    r"""Boolean mask: whether each sample may be trained at ``sigma``.

    .. math:: \sigma > \mathrm{threshold}(\sigma_{min}) \quad\text{or}\quad 0 < \sigma < \sigma_{max}

    Strict at both ends; ``sigma_max=None`` (or 0) means no low-noise branch. Level 0 is never usable.

    Parameters
    ----------
    sigma : array or float
        Per-sample levels, shape ``(N,)`` (or ``()`` for one example).
    sigma_min, sigma_max : array or float
        Annotations of the same shape, or one number for every sample, in the units of ``schedule``.
    buffer : Buffer, optional
        Margin above ``sigma_min`` for corrupt samples.
    schedule : str or Schedule
        Units of all levels (``"vp"`` by default).
    xp : namespace, optional
        Array namespace; inferred when omitted.

    Raises
    ------
    ValueError
        In eager mode, for NaN levels, levels outside the schedule's domain (naming the argument, the
        value and the index) and arrays of different shapes.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import usable
    >>> sigma = np.array([0.5, 0.5, 0.5, 0.5])
    >>> usable(sigma, np.array([0.0, 0.5, 0.2, 2.0]), np.array([0.0, 0.0, 0.0, 0.6]), schedule="ve")
    array([ True, False,  True,  True])
    """
    if isinstance(sigma, Levels):
        sigma._require("x0", schedule=schedule, extra=sigma_max if sigma_min is None else sigma_min)
        _same_buffer(sigma, buffer)
        return sigma.usable
    sched = get_schedule(schedule)
    buf = as_buffer(buffer)
    named = {"sigma": sigma, "sigma_min": sigma_min, "sigma_max": sigma_max}
    xp, _, lv, _ = prepare_levels(named, sched, xp)
    high, low = branches(lv["sigma"], lv["sigma_min"], lv.get("sigma_max"), buf, sched, xp)
    return _out(high | low, all(v is None or is_scalar(v) for v in named.values()))


def trusted_level(
    sigma: Levels | Array | float,
    sigma_min: Array | float | None = None,
    sigma_max: Array | float | None = None,
    /,
    *,
    buffer: Buffer | None = None,
    schedule: Any = DEFAULT_SCHEDULE,
    xp: Namespace | None = None,
) -> Any:
    r"""The level to pass as ``sigma_min`` to the targets: 0 on the low-noise branch, else ``sigma_min``.

    Where ``0 < sigma < sigma_max`` the sample is treated as clean (standard target, ``x_tmin`` is the
    sample itself). Where both branches apply, 0 is returned: both targets are unbiased, and by the
    structure theorem (``T = x0 + xi`` with independent ``xi`` of variance ``v > 0``) the standard
    target has the lower variance. On the high-noise branch only, the result is ``sigma_min``.

    Raises
    ------
    ValueError
        In eager mode, where ``sigma`` is not usable (naming the sample index and the levels), plus
        every error of :func:`usable`. Under ``jax.jit`` / ``torch.compile`` those entries are NaN
        instead: every target and weight built from them is NaN, so they cannot train silently; mask
        them with ``where=usable(...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import trusted_level
    >>> trusted_level(np.array([0.5, 0.5, 3.0]), np.array([0.0, 0.2, 2.0]), np.array([0.0, 0.0, 0.0]), schedule="ve")
    array([0. , 0.2, 2. ])
    >>> trusted_level(0.3, 2.0, 0.5, schedule="ve")     # low-noise branch: treated as clean
    0.0
    """
    if isinstance(sigma, Levels):
        sigma._require("x0", schedule=schedule, extra=sigma_max if sigma_min is None else sigma_min)
        _same_buffer(sigma, buffer)
        return sigma.trusted_level
    sched = get_schedule(schedule)
    buf = as_buffer(buffer)
    named = {"sigma": sigma, "sigma_min": sigma_min, "sigma_max": sigma_max}
    xp, _, lv, _ = prepare_levels(named, sched, xp)
    s, m = lv["sigma"], lv["sigma_min"]
    high, low = branches(s, m, lv.get("sigma_max"), buf, sched, xp)
    ok = high | low
    message = "sigma={s!r} is not usable: not above the threshold {t!r} of sigma_min={m!r}"
    if "sigma_max" in lv:
        message += " and not below sigma_max={top!r}"
    raise_where(~ok, xp, message, s=s, t=buffer_threshold(m, buf, sched, xp), m=m, top=lv.get("sigma_max", m))
    level = xp.where(low, xp.zeros_like(m), m + xp.zeros_like(s))
    level = xp.where(ok, level, xp.full_like(level, math.nan))
    return _out(level, all(v is None or is_scalar(v) for v in named.values()))
