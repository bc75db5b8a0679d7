r"""Ambient training targets: their conditional mean given ``x_t`` is the clean target.

For a trusted sample ``x_tmin`` at level ``sigma_min`` and the input ``x_t`` at ``sigma``, write
``x_t = a_t x0 + b_t eps``, ``x_tmin = a_m x0 + b_m eps_m`` and
``D = a_m^2 b_t^2 - a_t^2 b_m^2``. The ambient x0 target is

.. math:: T_{x0} = \frac{a_m b_t^2\, x_{t_{min}} - a_t b_m^2\, x_t}{D}

and every other prediction ``k = P_k x_t + Q_k x0`` gets ``T_k = P_k x_t + Q_k T_{x0}``. Then
``E[T_k | x_t] = E[k | x_t]`` for any data law, so the squared error against ``T_k`` has the
standard minimiser.

Exactness at ``sigma_min = 0`` (a clean sample), on every backend and processor, because the clean
coefficients are set rather than computed and the rest is IEEE basic arithmetic in a fixed order:

* :func:`ambient_pair` returns bit-exactly ``(add_noise(x0, sigma, z), standard_target(x0, z, sigma))``
  for every prediction;
* :func:`ambient_target` returns bit-exactly ``x_tmin`` for x0 prediction. The other predictions are
  the standard conversions of that x0 from ``x_t`` (``eps = (x_t - a_t x0) / b_t``, ...): bit-exactly
  those expressions, but not the noise that made ``x_t`` (the subtraction cancels; see docs/numerics.md).
"""

from __future__ import annotations

from typing import Any

from ._domain import data_after_levels, single_level
from .arrays import Array, Namespace, cast, check_data, compute_dtype
from .levels import _KINDS, Levels, pair_levels
from .schedules import DEFAULT_SCHEDULE, get_schedule

__all__ = ["PREDICTIONS", "ambient_pair", "ambient_target", "canonical_prediction", "standard_target"]

#: accepted prediction names and the canonical name each stands for
PREDICTIONS: dict[str, str] = {
    "x0": "x0",
    "sample": "x0",
    "epsilon": "epsilon",
    "v": "v",
    "v_prediction": "v",
    "velocity": "velocity",
    "flow": "velocity",
    "score": "score",
}
_KINDS.update(PREDICTIONS)  # Levels resolves names without importing this module (it builds on levels)


def canonical_prediction(prediction: str) -> str:
    """Map a prediction name or alias to ``"x0"``, ``"epsilon"``, ``"v"``, ``"velocity"`` or ``"score"``."""
    try:
        return PREDICTIONS[prediction]
    except (KeyError, TypeError):
        valid = ", ".join(repr(k) for k in PREDICTIONS)
        msg = f"unknown prediction {prediction!r}; valid values are {valid}"
        raise ValueError(msg) from None


def ambient_target(
    x_t: Array,
    x_tmin: Array,
    sigma: Levels | Array | float,
    sigma_min: Array | float | None = None,
    /,
    *,
    prediction: str = "x0",
    schedule: Any = DEFAULT_SCHEDULE,
    xp: Namespace | None = None,
) -> Array:
    r"""Ambient target ``c_t * x_t + c_m * x_tmin`` for a network that sees ``x_t`` at ``sigma``.

    ``x_t`` must have been formed from ``x_tmin`` by the transition kernel (:func:`renoise`).
    The x0 target is :math:`T_{x0} = (a_m b_t^2 x_{t_{min}} - a_t b_m^2 x_t) / D` with
    :math:`D = (a_m b_t - a_t b_m)(a_m b_t + a_t b_m)`; the others follow by the usual conversions,
    ``eps = (x_t - a_t T_x0) / b_t``, ``v = a_t eps - b_t T_x0``, ``score = -eps / b_t`` and
    ``velocity = a'_t T_x0 + b'_t eps``.

    Parameters
    ----------
    x_t : array
        Noisy network input at level ``sigma``, any shape ``(B, ...)`` or one unbatched example.
    x_tmin : array
        Trusted sample at level ``sigma_min`` (the clean ``x0`` where ``sigma_min == 0``); same shape.
    sigma, sigma_min : array or float
        Noise levels in the schedule's units, of shape ``()``, ``(B,)``, ``(B, T)``... aligned with
        the leading axes of ``x_t`` and right-padded. ``sigma > sigma_min`` everywhere. Or one
        :class:`~ambientloss.Levels` in place of both: ``ambient_target(x_t, x_tmin, levels)``.
    prediction : str
        ``"x0"`` (alias ``"sample"``), ``"epsilon"``, ``"v"`` (``"v_prediction"``),
        ``"velocity"`` (``"flow"``, ``dx_t/dlevel``) or ``"score"``.
    schedule : str, Schedule or (a, b) pair of functions
        ``"vp"`` (default), ``"ve"``, ``"flow"``, a :class:`~ambientloss.Discrete` table or a
        :class:`~ambientloss.Custom` schedule.
    xp : namespace, optional
        Array namespace; inferred from the inputs when omitted.

    Returns
    -------
    array
        The target, with the shape, dtype and namespace of ``x_t``. Scalars and arithmetic run in
        float32 (float64 for float64 inputs) and the result is cast back.

    Raises
    ------
    ValueError
        Shapes differ or do not align, ``sigma <= sigma_min``, a level is NaN or outside the
        schedule's domain, or ``prediction`` / ``schedule`` is unknown. Under ``jax.jit`` or
        ``torch.compile`` values cannot be checked: inadmissible entries come out NaN.
    TypeError
        Non-floating dtypes, or arrays from two libraries.

    Notes
    -----
    The pair form amplifies the rounding of ``x_t`` by about ``2 / sqrt(1 - r)`` with
    ``r = (a_t b_m)^2 / (a_m b_t)^2``. When you draw the fresh noise yourself, prefer
    :func:`ambient_pair`, which stays accurate to a few ulp as ``sigma -> sigma_min``.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import ambient_target, renoise
    >>> x_tmin = np.array([[0.3, -1.2], [0.5, 0.1]])   # two samples; the first is clean
    >>> sigma_min = np.array([0.0, 0.4])
    >>> sigma = np.array([0.6, 0.7])
    >>> x_t = renoise(x_tmin, sigma, sigma_min, np.array([[0.1, 0.2], [-0.3, 1.0]]))
    >>> ambient_target(x_t, x_tmin, sigma, sigma_min)[0]    # the clean row is returned unchanged
    array([ 0.3, -1.2])
    """
    kind = canonical_prediction(prediction)
    if isinstance(sigma, Levels):
        lv = sigma
        lv._require(kind, schedule=schedule, extra=sigma_min)
        xp = check_data({"x_t": x_t, "x_tmin": x_tmin}, {}, xp)
    else:
        xp = check_data({"x_t": x_t, "x_tmin": x_tmin}, {"sigma": sigma, "sigma_min": sigma_min}, xp)
        lv = pair_levels(x_t, "x_t", sigma, sigma_min, schedule, xp, kind=kind)
    dtype = compute_dtype(xp, x_t, x_tmin)
    xt, xm = cast(x_t, dtype, xp), cast(x_tmin, dtype, xp)
    fit = lv._fitter(x_t, "x_t", dtype)
    a_t, b_t = fit(lv.a_t), fit(lv.b_t)
    c_t, c_m = (fit(c) for c in lv._pair())  # 0 and 1 exactly at clean entries
    t_x0 = c_t * xt + c_m * xm
    if kind == "x0":
        out = t_x0
    else:
        t_eps = (xt - a_t * t_x0) / b_t
        out = _from_x0_eps(kind, t_x0, t_eps, a_t, b_t, lv, fit)
    return cast(out, x_t.dtype, xp)


def _from_x0_eps(kind: str, t_x0: Array, t_eps: Array, a_t: Array, b_t: Array, lv: Levels, fit: Any) -> Array:
    if kind == "epsilon":
        return t_eps
    if kind == "v":
        return a_t * t_eps - b_t * t_x0
    if kind == "score":
        return -t_eps / b_t
    da, db = lv.schedule.derivatives(lv.sigma, lv.xp)
    return fit(da) * t_x0 + fit(db) * t_eps


def kernel(lv: Levels, x_tmin: Array, noise: Array, fit: Any) -> Array:
    """``(a_t / a_m) x_tmin + (sqrt(D) / a_m) noise`` on data in the arithmetic dtype (``fit`` casts and pads)."""
    scale, spread = lv._kernel()
    return fit(scale) * x_tmin + fit(spread) * noise


def ambient_pair(
    x_tmin: Array,
    sigma: Levels | Array | float,
    sigma_min: Array | float | None = None,
    noise: Array | None = None,
    /,
    *,
    prediction: str = "x0",
    schedule: Any = DEFAULT_SCHEDULE,
    xp: Namespace | None = None,
) -> tuple[Array, Array]:
    r"""Network input ``x_t`` and its ambient target, built from the fresh noise (the noise form).

    With ``z = noise`` and ``D`` as in :func:`ambient_target`:

    .. math::
        x_t = \frac{a_t}{a_m} x_{t_{min}} + \frac{\sqrt D}{a_m} z,\qquad
        T_\epsilon = \frac{a_m b_t}{\sqrt D} z,\qquad
        T_{x0} = \frac{x_{t_{min}}}{a_m} - \frac{a_t b_m^2}{a_m \sqrt D} z,

    ``T_v = a_t T_eps - b_t T_x0``, ``T_score = -T_eps / b_t`` and
    ``T_velocity = a'_t T_x0 + b'_t T_eps``. The result equals ``(renoise(...),
    ambient_target(...))`` up to rounding, but involves no cancellation: it stays accurate to a few
    ulp as ``sigma -> sigma_min`` and in bf16 / fp16, and at ``sigma_min = 0`` it is bit-exactly
    ``(add_noise(x0, sigma, noise), standard_target(x0, noise, sigma))``. Prefer it whenever you
    draw the fresh noise yourself; use :func:`ambient_target` when ``x_t`` is given.

    Parameters
    ----------
    x_tmin : array
        Trusted sample at ``sigma_min`` (the clean ``x0`` where ``sigma_min == 0``).
    sigma, sigma_min : array or float
        Current and trusted level, aligned with the leading axes of ``x_tmin``; ``sigma > sigma_min``.
        Or one :class:`~ambientloss.Levels` in place of both: ``ambient_pair(x_tmin, levels, noise)``.
    noise : array
        Fresh standard Gaussian noise ``z``, same shape as ``x_tmin``.
    prediction, schedule, xp
        As in :func:`ambient_target`.

    Returns
    -------
    (x_t, target) : tuple of arrays
        Both with the shape, dtype and namespace of ``x_tmin``.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import ambient_pair
    >>> x_tmin, z = np.array([0.5, -0.2]), np.array([1.0, 0.3])
    >>> x_t, target = ambient_pair(x_tmin, 0.6, 0.0, z, prediction="epsilon")
    >>> bool((target == z).all())    # clean sample: the target is the noise itself
    True
    """
    kind = canonical_prediction(prediction)
    if isinstance(sigma, Levels):
        lv, noise = sigma, data_after_levels(sigma_min, noise, "noise")
        lv._require(kind, schedule=schedule)
        if xp is None and type(x_tmin) is type(lv.sigma) and type(noise) is type(lv.sigma):
            xp = lv.xp  # arrays of the levels' own type: their namespace, without looking it up again
        xp = check_data({"x_tmin": x_tmin, "noise": noise}, {}, xp)
    else:
        noise = data_after_levels(noise, None, "noise")
        xp = check_data({"x_tmin": x_tmin, "noise": noise}, {"sigma": sigma, "sigma_min": sigma_min}, xp)
        lv = pair_levels(x_tmin, "x_tmin", sigma, sigma_min, schedule, xp, kind=kind)
    dtype = compute_dtype(xp, x_tmin, noise)
    xm, z = cast(x_tmin, dtype, xp), cast(noise, dtype, xp)
    fit = lv._fitter(x_tmin, "x_tmin", dtype)
    root, c_eps = lv._noise()  # b_t and 1 exactly at clean entries
    x_t = kernel(lv, xm, z, fit)
    if kind == "epsilon":
        target = fit(c_eps) * z
    elif kind == "score":
        target = (z * fit(-c_eps)) / fit(lv.b_t)
    else:
        c_x = 1 / lv.a_m
        c_z = -(lv.a_t * (lv.b_m * lv.b_m)) / (lv.a_m * root)  # T_x0 = c_x x_tmin + c_z z
        if kind == "v":  # c_z z - c_x x_tmin, the shape of the standard a z - b x0: compilers fuse both alike
            c_x, c_z = lv.b_t * c_x, lv.a_t * c_eps - lv.b_t * c_z
            target = fit(c_z) * z - fit(c_x) * xm
        else:
            if kind == "velocity":
                da, db = lv.schedule.derivatives(lv.sigma, lv.xp)
                c_x, c_z = da * c_x, db * c_eps + da * c_z
            target = fit(c_x) * xm + fit(c_z) * z
    return cast(x_t, x_tmin.dtype, xp), cast(target, x_tmin.dtype, xp)


def standard_target(
    x0: Array,
    noise: Array,
    sigma: Array | float,
    /,
    *,
    prediction: str = "x0",
    schedule: Any = DEFAULT_SCHEDULE,
    xp: Namespace | None = None,
) -> Array:
    """The ordinary denoising target for ``x_t = add_noise(x0, sigma, noise)``.

    ``x0``, ``noise``, ``a * noise - b * x0``, ``-noise / b`` or ``a' x0 + b' noise`` for
    ``prediction`` x0, epsilon, v, score and velocity. This is what :func:`ambient_pair` returns
    bit-exactly at ``sigma_min = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import standard_target
    >>> standard_target(np.array([1.0]), np.array([0.5]), 1.0, prediction="v", schedule="ve")
    array([-0.5])
    """
    kind = canonical_prediction(prediction)
    xp = check_data({"x0": x0, "noise": noise}, {"sigma": sigma}, xp)
    if kind == "x0":
        return x0
    if kind == "epsilon":
        return noise
    sched = get_schedule(schedule)
    s, a, b = single_level(x0, "x0", sigma, sched, xp)
    dtype = compute_dtype(xp, x0, noise)
    x, z = cast(x0, dtype, xp), cast(noise, dtype, xp)
    if kind == "v":
        out = cast(a, dtype, xp) * z - cast(b, dtype, xp) * x
    elif kind == "score":
        out = -z / cast(b, dtype, xp)
    else:
        da, db = sched.derivatives(s, xp)
        out = cast(da, dtype, xp) * x + cast(db, dtype, xp) * z
    return cast(out, x0.dtype, xp)
