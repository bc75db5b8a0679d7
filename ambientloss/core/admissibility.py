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

A :class:`Buffer` keeps corrupt samples away from ``sigma_min``, where the ambient target's variance
``v = sigma~_m^2 / (1 - r)`` grows without bound (``1 - r`` is the relative log-SNR gap). The
threshold is the largest of

.. math::
    f\,\sigma_{min},\qquad \sigma_{min} + \delta,\qquad
    \ell\!\left(\tilde\sigma_{min} / \sqrt{1 - g}\right),

for ``factor`` ``f``, ``additive`` ``delta`` and ``min_gap`` ``g`` (``l`` maps a schedule-free level
``b / a`` back to the schedule, so that ``1 - r > g``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ._arrays import (
    Array,
    Namespace,
    as_level,
    check_floating,
    compute_dtype,
    device_of,
    is_scalar,
    namespace,
    numpy_namespace,
    raise_where,
    values_readable,
)
from ._levels import _admissible, _check_one, _inside, level_frame
from .schedules import Schedule, get_schedule
from .targets import canonical_prediction

__all__ = ["Buffer", "admissible", "threshold", "trusted_level", "usable"]


@dataclass(frozen=True)
class Buffer:
    r"""Safety margin above ``sigma_min`` for corrupt samples (clean samples ignore it).

    Parameters
    ----------
    factor : float
        Multiplicative: usable if ``sigma > factor * sigma_min`` (``>= 1``).
    additive : float
        Additive: usable if ``sigma > sigma_min + additive`` (``>= 0``), in the schedule's units.
    min_gap : float
        Minimum relative log-SNR gap ``1 - r = 1 - sigma~_min^2 / sigma~^2`` (``0 <= min_gap < 1``),
        measured on the schedule-free level ``sigma~ = b / a``, so it means the same in every
        schedule. It bounds the ambient target's variance by ``sigma~_min^2 / min_gap``.

    Notes
    -----
    All given margins apply together: the threshold is the largest of them.

    Examples
    --------
    >>> from ambientloss import Buffer
    >>> round(Buffer.from_s_max(4).factor, 6)          # Ambient-o pixel: sqrt(4 / 3)
    1.154701
    >>> Buffer(additive=0.05)
    Buffer(factor=1.0, additive=0.05, min_gap=0.0)
    """

    factor: float = 1.0
    additive: float = 0.0
    min_gap: float = 0.0

    def __post_init__(self) -> None:
        for name in ("factor", "additive", "min_gap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                msg = f"Buffer.{name} must be a finite number, got {value!r}"
                raise ValueError(msg)
            object.__setattr__(self, name, float(value))
        if self.factor < 1:
            msg = f"Buffer.factor must be >= 1 (1 means no multiplicative margin), got {self.factor!r}"
            raise ValueError(msg)
        if self.additive < 0:
            msg = f"Buffer.additive must be >= 0, got {self.additive!r}"
            raise ValueError(msg)
        if not 0 <= self.min_gap < 1:
            msg = f"Buffer.min_gap must lie in [0, 1), got {self.min_gap!r}"
            raise ValueError(msg)

    @classmethod
    def from_s_max(cls, s_max: float) -> Buffer:
        r"""Ambient-o's buffer ``sigma > sigma_min sqrt(1 + 1 / (s_max - 1))``.

        In VE this is ``1 - r >= 1 / s_max``: the ambient factor ``sigma^4 / (sigma^2 - sigma_min^2)^2``
        stays below ``s_max^2`` and the target variance below ``s_max sigma_min^2``.
        """
        if isinstance(s_max, bool) or not isinstance(s_max, (int, float)) or not (1 < s_max < math.inf):
            msg = f"s_max must be a finite number greater than 1, got {s_max!r}"
            raise ValueError(msg)
        return cls(factor=math.sqrt(1 + 1 / (s_max - 1)))

    @property
    def is_identity(self) -> bool:
        """Whether the buffer leaves the threshold at ``sigma_min``."""
        return self.factor == 1 and self.additive == 0 and self.min_gap == 0


def _buffer(buffer: Buffer | None) -> Buffer:
    if buffer is None:
        return Buffer()
    if not isinstance(buffer, Buffer):
        msg = f"buffer must be an ambientloss.Buffer or None, got {type(buffer).__name__}"
        raise TypeError(msg)
    return buffer


def prepare_levels(
    named: dict[str, object], schedule: Schedule, xp: Namespace | None, *, extra: dict[str, object] | None = None
) -> tuple[Namespace, Any, dict[str, Array], tuple[int, ...]]:
    """Resolve the namespace and dtype, cast, check shapes and (eagerly) the domain of every level.

    ``named`` holds levels (``None`` entries are dropped); ``extra`` holds other floating arrays that
    only take part in namespace, dtype and shape resolution (e.g. the uniforms of a sampler). Arrays
    must share one shape; Python numbers and 0-d arrays stand for every sample. Python numbers alone
    compute in float64 NumPy.
    """
    everything = {k: v for k, v in {**(extra or {}), **named}.items() if v is not None}
    arrays = {k: v for k, v in everything.items() if not is_scalar(v)}
    if xp is None:
        xp = namespace(everything, None) if arrays else numpy_namespace()
    shape: tuple[int, ...] = ()
    first = ""
    for name, value in arrays.items():
        check_floating(value, name, xp)
        this = tuple(value.shape)  # type: ignore[attr-defined]
        if this == ():
            continue
        if shape == ():
            shape, first = this, name
        elif this != shape:
            msg = f"{first} and {name} must have the same shape (one entry per sample), got {shape} and {this}"
            raise ValueError(msg)
    dtype = compute_dtype(xp, *arrays.values()) if arrays else xp.float64
    device = next((device_of(v) for v in arrays.values()), None)
    out: dict[str, Array] = {}
    for name, value in everything.items():
        if is_scalar(value):
            v = float(value)  # type: ignore[arg-type]
            if not math.isfinite(v):
                msg = f"{name} must be finite, got {v}"
                raise ValueError(msg)
            out[name] = xp.asarray(v, dtype=dtype, device=device)
        else:
            out[name] = value if value.dtype == dtype else xp.astype(value, dtype)  # type: ignore[attr-defined]
    for name in named:
        if named[name] is None:
            continue
        level = out[name]
        inside = _inside(level, schedule)
        if values_readable(inside) and not bool(xp.all(inside)):
            _check_one(level, name, schedule, xp)
    return xp, dtype, out, shape


def admissible(
    sigma: Array | float,
    sigma_min: Array | float,
    /,
    *,
    schedule: Any = "vp",
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
    like, xp = level_frame(sigma, sigma_min, xp)
    dtype = compute_dtype(xp, like, sigma, sigma_min)
    s = as_level(sigma, "sigma", like, "sigma", dtype, xp)
    m = as_level(sigma_min, "sigma_min", like, "sigma", dtype, xp)
    return _admissible(s, m, sched, strict=True, velocity=velocity)


def _threshold(m: Array, buffer: Buffer, sched: Schedule, xp: Namespace) -> Array:
    """Threshold of ``m`` (already checked, in the compute dtype); 0 where ``m == 0``."""
    thr = m
    if buffer.factor != 1:
        thr = xp.maximum(thr, m * buffer.factor)
    if buffer.additive != 0:
        thr = xp.maximum(thr, m + buffer.additive)
    if buffer.min_gap != 0:
        nu = sched.schedule_free(m, xp) / math.sqrt(1 - buffer.min_gap)
        thr = xp.maximum(thr, sched.from_schedule_free(nu, xp))
    return xp.where(m == 0, xp.zeros_like(thr), thr)


def _out(value: Array, scalar: bool) -> Any:
    if not scalar:
        return value
    return bool(value) if value.dtype == bool else float(value)


def threshold(
    sigma_min: Array | float,
    /,
    *,
    buffer: Buffer | None = None,
    schedule: Any = "vp",
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
    sched = get_schedule(schedule)
    buf = _buffer(buffer)
    xp, _, levels, _ = prepare_levels({"sigma_min": sigma_min}, sched, xp)
    return _out(_threshold(levels["sigma_min"], buf, sched, xp), is_scalar(sigma_min))


def _branches(
    sigma: Array, m: Array, top: Array | None, buffer: Buffer, sched: Schedule, xp: Namespace
) -> tuple[Array, Array]:
    """``(high, low)`` boolean arrays: ``sigma > threshold`` and ``0 < sigma < sigma_max``."""
    high = sigma > _threshold(m, buffer, sched, xp)
    low = (sigma < top) & (sigma > 0) if top is not None else xp.zeros_like(high)
    return high, low


def usable(
    sigma: Array | float,
    sigma_min: Array | float,
    sigma_max: Array | float | None = None,
    /,
    *,
    buffer: Buffer | None = None,
    schedule: Any = "vp",
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
    sched = get_schedule(schedule)
    buf = _buffer(buffer)
    named = {"sigma": sigma, "sigma_min": sigma_min, "sigma_max": sigma_max}
    xp, _, lv, _ = prepare_levels(named, sched, xp)
    high, low = _branches(lv["sigma"], lv["sigma_min"], lv.get("sigma_max"), buf, sched, xp)
    return _out(high | low, all(v is None or is_scalar(v) for v in named.values()))


def trusted_level(
    sigma: Array | float,
    sigma_min: Array | float,
    sigma_max: Array | float | None = None,
    /,
    *,
    buffer: Buffer | None = None,
    schedule: Any = "vp",
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
    sched = get_schedule(schedule)
    buf = _buffer(buffer)
    named = {"sigma": sigma, "sigma_min": sigma_min, "sigma_max": sigma_max}
    xp, _, lv, _ = prepare_levels(named, sched, xp)
    s, m = lv["sigma"], lv["sigma_min"]
    high, low = _branches(s, m, lv.get("sigma_max"), buf, sched, xp)
    ok = high | low
    message = "sigma={s!r} is not usable: not above the threshold {t!r} of sigma_min={m!r}"
    if "sigma_max" in lv:
        message += " and not below sigma_max={top!r}"
    raise_where(~ok, xp, message, s=s, t=_threshold(m, buf, sched, xp), m=m, top=lv.get("sigma_max", m))
    level = xp.where(low, xp.zeros_like(m), m + xp.zeros_like(s))
    level = xp.where(ok, level, xp.full_like(level, math.nan))
    return _out(level, all(v is None or is_scalar(v) for v in named.values()))
