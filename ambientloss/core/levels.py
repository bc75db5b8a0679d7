r"""Noise levels prepared once: cast, aligned, checked, with the schedule's coefficients every consumer needs.

:class:`Levels` holds the levels of a training step; :func:`prepare_levels` prepares annotations
without a training level (samplers, thresholds, masks). Every target, noising function, weight and
admissibility function takes either raw levels
``(sigma, sigma_min)`` or one :class:`Levels` object. A raw call builds a :class:`Levels` inside, so a
training step that passes the object to several functions prepares, resolves the schedule and checks
its levels once instead of once per call (one host read with checks on, none with them off).

The scalars are computed in float32 (float64 when any input is float64), whatever the dtype of the
data, and ``D = a_m^2 b_t^2 - a_t^2 b_m^2`` is always formed in factored form. A clean entry
(trusted level 0) uses ``a_m = 1``, ``b_m = 0``, ``D = b_t * b_t``, ``sqrt(D) = b_t`` and
``a_m b_t / sqrt(D) = 1`` exactly (set, not computed), which makes the noise form reduce bit-exactly to
the standard forward process and target there.
"""

from __future__ import annotations

import math
from typing import Any

from ._domain import check_one, inside, same_schedule
from ._prepare import fill
from .arrays import (
    Array,
    Namespace,
    aligned_shape,
    check_floating,
    check_level_dtype,
    compute_dtype,
    device_of,
    is_scalar,
    namespace,
    numpy_namespace,
    reshape_to,
    values_readable,
)
from .buffer import Buffer, as_buffer, buffer_threshold
from .schedules import DEFAULT_SCHEDULE, Schedule, get_schedule, schedule_given

__all__ = ["Levels", "prepare_levels"]

_NO_BUFFER = Buffer()
_KINDS: dict[str, str] = {}  # prediction name -> canonical kind: targets.PREDICTIONS, copied when targets loads


class Levels:
    r"""The noise levels of one batch, checked once, with the schedule's coefficients at them.

    Build it once per training step and pass it in place of ``sigma, sigma_min`` to
    :func:`~ambientloss.ambient_pair`, :func:`~ambientloss.ambient_target`, :func:`~ambientloss.renoise`,
    :func:`~ambientloss.loss_weight`, :func:`~ambientloss.target_variance`, :func:`~ambientloss.usable`,
    :func:`~ambientloss.trusted_level` and :func:`~ambientloss.threshold`: each then skips its own
    preparation (casts, schedule, checks) and shares the coefficients. Results are bit-identical to the
    raw-level calls with the same dtypes. The compute dtype comes from the levels alone (a raw call also
    looks at the data): build float64 data's levels in float64.

    A consumer's own ``schedule=`` is best left out: it then uses the levels' schedule. Given, even as
    ``schedule="vp"`` (the default's value, but the default is a distinct marker,
    ``ambientloss.core.schedules.DEFAULT_SCHEDULE``), it must be the levels' schedule, or the call
    raises ``ValueError`` naming both.

    Every sample must be usable at ``sigma``: ``sigma > threshold(sigma_min)`` (see :class:`Buffer`), or
    ``0 < sigma < sigma_max``, where it is trained as a clean sample (:attr:`trusted_level` 0).

    Parameters
    ----------
    sigma : array or float
        The level each sample is trained at, shape ``()``, ``(B,)``, ``(B, T)``...
    sigma_min : array or float
        Trusted level of each sample (0 for a clean one), aligned with ``sigma`` on the leading axes.
    sigma_max : array or float, optional
        Upper end of the low-noise branch (Ambient-Omni locality); ``None`` or 0: no such branch.
    schedule : str, Schedule or (a, b) pair of functions
        Units of the levels: ``"vp"`` (default), ``"ve"``, ``"flow"``, a :class:`~ambientloss.Discrete`
        table or a :class:`~ambientloss.Custom` schedule.
    buffer : Buffer, optional
        Margin above ``sigma_min`` for corrupt samples; none by default.
    prediction : str
        The prediction trained; only ``"velocity"`` (``"flow"``) changes the checks: it also rejects
        the top of a schedule whose velocity diverges there (VP's ``sigma = 1``).
    xp : namespace, optional
        Array namespace; inferred when omitted (NumPy float64 for Python numbers alone).

    Attributes
    ----------
    sigma, sigma_min, sigma_max : array
        The levels in :attr:`dtype`, right-padded to align with each other (``sigma_max`` may be None).
    trusted_level : array
        The level the targets use: ``sigma_min``, or 0 on the low-noise branch (NaN where not usable,
        when unchecked).
    usable : array
        Boolean mask of the usable samples: all True once checked; under tracing or with checks off,
        False marks the entries whose coefficients, targets and weights are NaN.
    a_t, b_t, a_m, b_m, gap : array
        ``(a, b)`` at ``sigma`` and at :attr:`trusted_level` and ``D = a_m^2 b_t^2 - a_t^2 b_m^2``.
    checked : bool
        Whether the values were read and verified (eager mode with checks on).
    schedule, buffer, prediction, dtype, xp
        The resolved options, the compute dtype (float32, or float64 when a level is float64) and namespace.

    Raises
    ------
    ValueError
        Eager mode with checks on: a level is NaN or outside the schedule's domain, or a sample is not
        usable; the message names the argument, the value and the index. One host read decides; none
        under :func:`ambientloss.checks` ``(False)``, ``jax.jit`` or ``torch.compile``.
    TypeError
        Non-floating levels, arrays from two libraries, or a ``buffer`` that is not a :class:`Buffer`.

    Examples
    --------
    >>> import numpy as np
    >>> import ambientloss as al
    >>> x_tmin, noise = np.array([[0.3, -1.2], [0.5, 0.1]]), np.array([[0.1, 0.2], [-0.3, 1.0]])
    >>> levels = al.Levels(np.array([0.6, 0.7]), np.array([0.0, 0.4]))      # checked here, once
    >>> x_t, target = al.ambient_pair(x_tmin, levels, noise, prediction="epsilon")
    >>> weight = al.loss_weight(levels, prediction="epsilon")                  # 1 - 0.4**2 / 0.7**2
    >>> weight.round(4)
    array([1.    , 0.6735])
    >>> bool((target[0] == noise[0]).all())                 # clean row: the target is the noise itself
    True
    >>> al.Levels(0.5, 0.6)                                  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: sigma must be greater than sigma_min where sigma_min > 0 ...; got sigma=0.5 and sigma_min=0.6
    """

    sigma: Array
    sigma_min: Array
    sigma_max: Array | None
    _trusted: Array
    usable: Array
    a_t: Array
    b_t: Array
    a_m: Array
    b_m: Array
    gap: Array
    schedule: Schedule
    buffer: Buffer
    prediction: str
    dtype: Any
    xp: Namespace
    checked: bool
    _clean: Array  # trusted level 0: the coefficients set there
    _one: Array
    _nan: Array | None  # unchecked: NaN where unusable, else None
    _cache: dict[str, Any]
    _where: Any  # the namespace's where for operands of one dtype

    def __init__(
        self,
        sigma: Array | float,
        sigma_min: Array | float,
        sigma_max: Array | float | None = None,
        /,
        *,
        schedule: Any = "vp",
        buffer: Buffer | None = None,
        prediction: str = "x0",
        xp: Namespace | None = None,
    ) -> None:
        kind = _KINDS.get(prediction) if isinstance(prediction, str) else None
        if kind is None:
            from .targets import canonical_prediction  # targets builds on this module

            kind = canonical_prediction(prediction)  # raises: every valid name is in _KINDS
        buf = _NO_BUFFER if buffer is None else as_buffer(buffer)
        fill(self, sigma, sigma_min, sigma_max, get_schedule(schedule), buf, kind, xp, None, "sigma")

    def __setattr__(self, name: str, value: object) -> None:
        msg = f"Levels is read-only; build a new one instead of setting {name!r}"
        raise AttributeError(msg)

    def __repr__(self) -> str:
        shape = tuple(getattr(self.sigma, "shape", ()))
        return f"Levels(shape={shape}, schedule={self.schedule!r}, dtype={self.dtype}, checked={self.checked})"

    @property
    def trusted_level(self) -> Array:
        """The level the targets use: ``sigma_min``, or 0 on the low-noise branch (NaN where unusable, unchecked)."""

        def compute() -> Array:
            xp, trusted = self.xp, self._trusted
            if tuple(trusted.shape) != tuple(self.usable.shape):  # one per sample, like the levels
                trusted = trusted + xp.zeros_like(self.sigma)
            return trusted if self.checked else xp.where(self.usable, trusted, xp.full_like(trusted, math.nan))

        return self._cached("trusted", compute)

    @property
    def threshold(self) -> Array:
        """Lower end of the high-noise branch of each sample: ``sigma > threshold`` (0 for a clean sample)."""
        return self._cached("threshold", lambda: buffer_threshold(self.sigma_min, self.buffer, self.schedule, self.xp))

    def _cached(self, key: str, compute: Any) -> Any:
        cache = self._cache
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    def _exact(self, value: Array, computed: Array) -> Array:
        """``computed`` with ``value`` set at clean entries; NaN where unusable and unchecked."""
        out = self._where(self._clean, value, computed)
        return out if self._nan is None else self._where(self.usable, out, self._nan)

    def _unit_gap(self) -> Array:
        """``D`` with 1 at the clean entries, whose coefficients are set, not computed: no 0 / 0 there."""
        cache = self._cache
        if "unit_gap" not in cache:
            cache["unit_gap"] = self._where(self._clean, self._one, self.gap)
        return cache["unit_gap"]

    def _root(self) -> Array:
        """``sqrt(D)``, the spread of the transition kernel; ``b_t`` exactly at a clean entry."""
        cache = self._cache
        if "root" not in cache:
            cache["root"] = self._exact(self.b_t, self.xp.sqrt(self._unit_gap()))
        return cache["root"]

    def _squares(self) -> tuple[Array, Array]:
        """``(a_m^2, b_t^2)``, shared by the noise coefficient and the weights (VP: ``(1 - m)(1 + m)``, no root)."""
        cache = self._cache
        if "squares" not in cache:
            a_m2 = cache["a_m2"] if "a_m2" in cache else self.a_m * self.a_m
            cache["squares"] = a_m2, self.b_t * self.b_t
        return cache["squares"]  # type: ignore[no-any-return]

    def _noise(self) -> tuple[Array, Array]:
        """``(sqrt(D), a_m b_t / sqrt(D))``: the kernel's spread and the epsilon coefficient (``b_t`` and 1 if clean).

        They make the noise form the standard forward process and target at clean entries by IEEE basic
        operations alone (a compiler that contracts ``a * x + b * z`` into a fused multiply-add does so
        alike for the same expression, so the equality also holds within one compiled function).
        """
        cache = self._cache
        if "noise" not in cache:
            a_m2, b_t2 = self._squares()  # sqrt(a_m^2 b_t^2 / gap), not a_m b_t / root: XLA makes that a rsqrt
            cache["noise"] = self._root(), self._exact(self._one, self.xp.sqrt((a_m2 * b_t2) / self._unit_gap()))
        return cache["noise"]  # type: ignore[no-any-return]

    def _kernel(self) -> tuple[Array, Array]:
        """``(a_t / a_m, sqrt(D) / a_m)``: the transition kernel ``x_t = scale x_tmin + spread z``."""
        cache = self._cache
        if "kernel" not in cache:
            cache["kernel"] = self.a_t / self.a_m, self._root() / self.a_m
        return cache["kernel"]  # type: ignore[no-any-return]

    def _pair(self) -> tuple[Array, Array]:
        """``(c_t, c_m)`` of the pair-form x0 target ``c_t x_t + c_m x_tmin``; ``0`` and ``1`` exactly when clean."""

        def compute() -> tuple[Array, Array]:
            gap = self._unit_gap()
            c_t = -(self.a_t * (self.b_m * self.b_m)) / gap
            c_m = (self.a_m * (self.b_t * self.b_t)) / gap
            return self._exact(self.xp.zeros_like(c_t), c_t), self._exact(self._one, c_m)

        return self._cached("pair", compute)  # type: ignore[no-any-return]

    def _fitter(self, x: Array, x_name: str, dtype: Any) -> Any:
        """A function taking a per-sample coefficient to the data's shape (right-padded, checked) and dtype."""
        xp, level_shape, x_shape = self.xp, tuple(self.sigma.shape), tuple(x.shape)
        shape = aligned_shape(level_shape, x_shape, "levels", x_name)  # checked once for every coefficient

        def fit(value: Array) -> Array:
            if tuple(value.shape) == level_shape and level_shape != shape:
                value = xp.reshape(value, shape)
            elif value.ndim != len(shape):
                value = reshape_to(value, x_shape, "levels", x_name, xp)
            return value if value.dtype == dtype else xp.astype(value, dtype)

        return fit

    def _require(
        self, kind: str, *, schedule: Any = DEFAULT_SCHEDULE, extra: object = None, velocity: bool = True
    ) -> None:
        """Refuse what the levels were not built for (velocity checks, another schedule) and a level after them."""
        if extra is not None:
            msg = "sigma_min is part of the Levels: pass nothing in its place"
            raise TypeError(msg)
        if velocity and kind == "velocity" and self.prediction != "velocity":
            msg = "prediction='velocity' needs Levels built with prediction='velocity' (it checks the domain's top)"
            raise ValueError(msg)
        if schedule_given(schedule) and not same_schedule(get_schedule(schedule), self.schedule):
            msg = (
                f"schedule={schedule!r} is given with Levels of schedule {self.schedule!r}; give it to Levels only "
                "(a function given Levels uses theirs)"
            )
            raise ValueError(msg)


def pair_levels(
    x: Array,
    x_name: str,
    sigma: object,
    sigma_min: object,
    schedule: Any,
    xp: Namespace,
    *,
    strict: bool = True,
    kind: str = "x0",
) -> Levels:
    """A :class:`Levels` aligned with data ``x`` (errors name ``x_name``), in the dtype of the data and levels.

    This is what every function given raw levels builds. ``strict=False`` also admits
    ``sigma == sigma_min == 0`` (the forward kernel at level zero).
    """
    lv = Levels.__new__(Levels)
    fill(lv, sigma, sigma_min, None, get_schedule(schedule), _NO_BUFFER, kind, xp, x, x_name, strict=strict)
    return lv


def level_pair(sigma: object, sigma_min: object, schedule: Any, xp: Namespace | None) -> Levels:
    """A :class:`Levels` of raw levels aligned with each other, without the velocity check (weights, variances)."""
    lv = Levels.__new__(Levels)
    fill(lv, sigma, sigma_min, None, get_schedule(schedule), _NO_BUFFER, "x0", xp, None, "sigma")
    return lv


def prepare_levels(
    named: dict[str, object], schedule: Schedule, xp: Namespace | None, *, extra: dict[str, object] | None = None
) -> tuple[Namespace, Any, dict[str, Array], tuple[int, ...]]:
    """Resolve the namespace and dtype, cast, check shapes and (eagerly) the domain of every level.

    For functions of per-sample annotations without a training level (samplers, thresholds, masks).
    ``named`` holds levels (``None`` entries are dropped); ``extra`` holds other floating arrays that
    only take part in namespace, dtype and shape resolution (e.g. the uniforms of a sampler). Arrays
    must share one shape; Python numbers and 0-d arrays stand for every sample. Python numbers alone
    compute in float64 NumPy. Returns ``(xp, dtype, levels by name, shape)``.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import get_schedule
    >>> from ambientloss.core.levels import prepare_levels
    >>> named = {"sigma_min": np.zeros(3, np.float32), "sigma_max": 0.5}
    >>> xp, dtype, levels, shape = prepare_levels(named, get_schedule("vp"), None)
    >>> levels["sigma_max"], shape
    (array(0.5, dtype=float32), (3,))
    """
    everything = {k: v for k, v in {**(extra or {}), **named}.items() if v is not None}
    arrays = {k: v for k, v in everything.items() if not is_scalar(v)}
    if xp is None:
        xp = namespace(everything, None) if arrays else numpy_namespace()
    shape: tuple[int, ...] = ()
    first = ""
    for name, value in arrays.items():
        (check_level_dtype if name in named else check_floating)(value, name, xp)
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
        ok = inside(level, schedule)
        if values_readable(ok) and not bool(xp.all(ok)):
            check_one(level, name, schedule, xp)
    return xp, dtype, out, shape
