r"""Loss weights for ambient training: named policies times an optional base weight, with a cap.

Every policy multiplies the squared error against the ambient target of the same prediction and
leaves the minimiser unchanged (the ambient target is unbiased at every level); they differ in how
the levels just above ``sigma_min`` are weighted, where the target's variance
``v = b_m^2 b_t^2 / D`` grows without bound.

======================== ==================================================================
policy                   weight (``1 - r = D / (a_m b_t)^2``; 1 for clean samples)
======================== ==================================================================
``"inverse_variance"``   ``rho = (1 - r) sigma_data^2 / (sigma_data^2 + (b_m/a_m)^2)``; VP and
                         ``sigma_data = 1``: ``1 - sigma_min^2 / sigma^2``. Recommended: every
                         ambient sample then has the residual variance of a clean one.
``"none"``               ``1`` (the plain ambient loss; variance unbounded near ``sigma_min``)
``"ambient_o"``          ``1`` where ``1 - r >= 1 / s_max``, else ``0``: Ambient-o's factor
                         ``sigma^4 / (sigma^2 - sigma_min^2)^2`` in x_tmin space with its buffer
                         ``sigma > sigma_min sqrt(s_max / (s_max - 1))``
``"x_tmin"``             ``a_m^2 (1 - r)^2``: the loss measured in x_tmin space
                         (Consistent Diffusion Meets Tweedie, ambient-laws)
======================== ==================================================================

``base`` multiplies by a level-only weight written for the x0 loss and converted to the chosen
prediction (divided by ``Q_k^2``, the square of the target's ``x0`` coefficient): ``"edm"`` gives
``(sigma~^2 + sigma_data^2) / (sigma~ sigma_data)^2`` on the x0 loss, ``"min_snr"`` gives
``min(SNR, gamma)`` on the x0 loss, hence ``min(SNR, gamma) / SNR`` on the epsilon loss.
"""

from __future__ import annotations

import math
from typing import Any

from ._arrays import Array, Namespace
from ._levels import Levels, level_frame, pair_levels
from .targets import canonical_prediction

__all__ = ["BASE_WEIGHTS", "POLICIES", "loss_weight", "target_variance"]

POLICIES = ("inverse_variance", "none", "ambient_o", "x_tmin")
BASE_WEIGHTS = (None, "edm", "min_snr")


def _levels(sigma: object, sigma_min: object, schedule: Any, xp: Namespace | None) -> tuple[Levels, Namespace]:
    like, xp = level_frame(sigma, sigma_min, xp)
    return pair_levels(like, "sigma", sigma, sigma_min, schedule, xp), xp


def _safe_div(num: Array, den: Array, xp: Namespace) -> Array:
    """``num / den`` with ``inf`` where ``den == 0`` and no floating-point warning."""
    ok = den != 0
    return xp.where(ok, num / xp.where(ok, den, xp.ones_like(den)), xp.full_like(num * den, math.inf))


def _x0_coefficient_sq_times_b2(kind: str, lv: Levels, xp: Namespace) -> Array:
    """``b_t^2 Q_k^2`` where ``Q_k`` is the x0 coefficient of prediction ``kind``."""
    a, b = lv.a_t, lv.b_t
    if kind == "x0":
        return b * b
    if kind == "epsilon":
        return a * a
    if kind == "score":
        return (a * a) / (b * b)
    if kind == "v":
        return (a * a + b * b) ** 2
    da, db = lv.schedule.derivatives(lv.sigma, xp)
    return (da * b - db * a) ** 2


def _snr_over_q2(kind: str, lv: Levels, xp: Namespace) -> Array:
    """``SNR / Q_k^2 = a_t^2 / (b_t^2 Q_k^2)`` in closed form (finite where ``a_t = 0``)."""
    a, b = lv.a_t, lv.b_t
    if kind == "x0":
        return (a * a) / (b * b)
    if kind == "epsilon":
        return xp.ones_like(a)
    if kind == "score":
        return b * b
    if kind == "v":
        return (a * a) / (a * a + b * b) ** 2
    return _safe_div(a * a, _x0_coefficient_sq_times_b2(kind, lv, xp), xp)


def check_options(
    *,
    policy: str,
    base: str | None,
    sigma_data: float,
    s_max: float | None,
    min_snr_gamma: float,
    cap: float | None,
    policy_arg: str = "policy",
) -> None:
    """Raise ``ValueError`` naming the first bad option of :func:`loss_weight` (``policy`` as ``policy_arg``)."""
    if policy not in POLICIES:
        msg = f"unknown {policy_arg} {policy!r}; valid values are {', '.join(map(repr, POLICIES))}"
        raise ValueError(msg)
    if base not in BASE_WEIGHTS:
        msg = f"unknown base {base!r}; valid values are {', '.join(map(repr, BASE_WEIGHTS))}"
        raise ValueError(msg)
    numbers = (("sigma_data", sigma_data), ("s_max", s_max), ("cap", cap), ("min_snr_gamma", min_snr_gamma))
    for name, value in numbers:
        if value is not None and not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
            msg = f"{name} must be a positive finite number, got {value!r}"
            raise ValueError(msg)
    if s_max is not None and s_max <= 1:
        msg = f"s_max must be greater than 1, got {s_max!r}"
        raise ValueError(msg)


def loss_weight(
    sigma: Array | float,
    sigma_min: Array | float,
    /,
    *,
    policy: str = "inverse_variance",
    prediction: str = "x0",
    schedule: Any = "vp",
    base: str | None = None,
    sigma_data: float = 1.0,
    s_max: float | None = 4.0,
    min_snr_gamma: float = 5.0,
    cap: float | None = None,
    xp: Namespace | None = None,
) -> Array:
    r"""Per-sample loss weight for the squared error against an ambient target.

    Parameters
    ----------
    sigma, sigma_min : array or float
        Current and trusted levels (``sigma > sigma_min``), aligned with each other on their
        leading axes; the result has their broadcast shape, e.g. ``(B,)``.
    policy : {"inverse_variance", "none", "ambient_o", "x_tmin"}
        How to weight levels near ``sigma_min`` (see the module docstring).
    prediction : str
        The target's prediction type; needed to convert ``base``.
    schedule : str or Schedule
        As in :func:`ambient_target`.
    base : {None, "edm", "min_snr"}
        An optional level-only base weight (EDM's, or min-SNR-gamma).
    sigma_data : float
        Data standard deviation per dimension, used by ``"inverse_variance"`` and ``"edm"``.
    s_max : float or None
        Ambient-o's buffer (4 in the released scripts); ``None`` disables it.
    min_snr_gamma : float
        ``gamma`` of min-SNR weighting.
    cap : float, optional
        Upper bound applied to the final weight.
    xp : namespace, optional
        Array namespace; inferred when omitted (NumPy for plain Python numbers).

    Returns
    -------
    array
        Weights in float32 (float64 for float64 levels).

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import loss_weight
    >>> loss_weight(np.array([0.5, 0.5]), np.array([0.0, 0.3]))   # 1 - 0.3**2 / 0.5**2
    array([1.  , 0.64])
    """
    check_options(policy=policy, base=base, sigma_data=sigma_data, s_max=s_max, min_snr_gamma=min_snr_gamma, cap=cap)
    kind = canonical_prediction(prediction)
    lv, xp = _levels(sigma, sigma_min, schedule, xp)
    clean = lv.sigma_min == 0
    one = xp.ones_like(lv.gap)
    a_m2, b_t2, b_m2 = lv.a_m * lv.a_m, lv.b_t * lv.b_t, lv.b_m * lv.b_m
    sd2 = sigma_data * sigma_data
    if policy == "inverse_variance":
        rho = (lv.gap * sd2) / (b_t2 * (sd2 * a_m2 + b_m2))
        w = xp.where(clean, one, xp.minimum(rho, one))  # rho <= 1 exactly, not up to rounding
    elif policy == "x_tmin":
        w = xp.where(clean, one, (lv.gap * lv.gap) / (a_m2 * b_t2 * b_t2))
    elif policy == "ambient_o" and s_max is not None:
        inside = clean | (lv.gap * s_max >= a_m2 * b_t2)
        w = xp.where(inside, one, xp.zeros_like(one))
    else:
        w = one
    w = w * (lv.gap / lv.gap)  # NaN for inadmissible pairs (only reachable under tracing), else exactly 1
    if base is not None:
        a_t2 = lv.a_t * lv.a_t
        if base == "edm":  # (b^2 + sd^2 a^2) / (b^2 sd^2) on the x0 loss, divided by Q_k^2
            w = w * _safe_div((b_t2 + sd2 * a_t2) / sd2, _x0_coefficient_sq_times_b2(kind, lv, xp), xp)
        else:  # min(SNR, gamma) / Q_k^2 = min(1, gamma / SNR) * SNR / Q_k^2
            clip = xp.minimum(one, _safe_div(min_snr_gamma * b_t2, a_t2, xp))
            w = w * clip * _snr_over_q2(kind, lv, xp)
    if cap is not None:
        w = xp.minimum(w, xp.full_like(w, cap))
    return w


def target_variance(
    sigma: Array | float,
    sigma_min: Array | float,
    /,
    *,
    schedule: Any = "vp",
    xp: Namespace | None = None,
) -> Array:
    r"""Per-dimension variance ``v = b_m^2 b_t^2 / D`` of ``T_x0 - x0`` (0 for clean samples).

    The ambient x0 target is ``x0 + xi`` with ``xi ~ N(0, v I)`` independent of ``(x0, x_t)``; a
    prediction ``k`` has variance ``Q_k^2 v``. Useful to log, or to build a custom weight.

    Examples
    --------
    >>> from ambientloss import target_variance
    >>> round(float(target_variance(0.5, 0.3, schedule="ve")), 6)   # 0.25 * 0.09 / 0.16
    0.140625
    """
    lv, xp = _levels(sigma, sigma_min, schedule, xp)
    # b_m^2 * (b_t^2 / D): b_t^2 / D >= 1 is well scaled, so tiny sigma_min does not underflow through b_m^2 b_t^2
    return (lv.b_m * lv.b_m) * ((lv.b_t * lv.b_t) / lv.gap)
