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

``base_weight`` multiplies by a level-only weight written for the x0 loss and converted to the chosen
prediction (divided by ``Q_k^2``, the square of the target's ``x0`` coefficient): ``"edm"`` gives
``(sigma~^2 + sigma_data^2) / (sigma~ sigma_data)^2`` on the x0 loss, ``"min_snr"`` gives
``min(SNR, gamma)`` on the x0 loss, hence ``min(SNR, gamma) / SNR`` on the epsilon loss.

All of these options travel together as one frozen :class:`Weighting`, the ``weighting=`` argument
of :func:`loss_weight` and of the adapters' losses; a policy name alone is shorthand for
``Weighting(policy=name)``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

from .arrays import Array, Namespace
from .levels import Levels, level_pair
from .schedules import DEFAULT_SCHEDULE
from .targets import canonical_prediction

__all__ = ["BASE_WEIGHTS", "POLICIES", "Weighting", "as_weighting", "loss_weight", "target_variance"]

Policy = Literal["inverse_variance", "none", "ambient_o", "x_tmin"]
BaseWeight = Literal["edm", "min_snr"]

POLICIES: tuple[Policy, ...] = get_args(Policy)
BASE_WEIGHTS: tuple[BaseWeight | None, ...] = (None, *get_args(BaseWeight))


def _positive(name: str, value: object) -> float:
    """``value`` as a float, or ``ValueError`` naming ``name`` unless it is a positive finite number."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):  # NumPy scalars included
        number = float(value)
        if number > 0 and math.isfinite(number):
            return number
    msg = f"{name} must be a positive finite number, got {value!r}"
    raise ValueError(msg)


@dataclass(frozen=True, repr=False)
class Weighting:
    r"""The loss-weighting options of :func:`loss_weight`, validated once: a policy, a base weight, a cap.

    The weight is ``min(policy(sigma, sigma_min) * base_weight(sigma), cap)``, with ``1 - r =
    D / (a_m b_t)^2`` (1 for clean samples, which every policy weights by 1):

    ========================= ================================================================
    ``policy``                weight
    ========================= ================================================================
    ``"inverse_variance"``    ``rho = (1 - r) sigma_data^2 / (sigma_data^2 + (b_m/a_m)^2)``; VP and
                              ``sigma_data = 1``: ``1 - sigma_min^2 / sigma^2``. Recommended: every
                              ambient sample then has the residual variance of a clean one.
    ``"none"``                ``1`` (the plain ambient loss; variance unbounded near ``sigma_min``)
    ``"ambient_o"``           ``1`` where ``1 - r >= 1 / s_max``, else ``0`` (Ambient-o's buffer)
    ``"x_tmin"``              ``a_m^2 (1 - r)^2``: the loss measured in x_tmin space
    ========================= ================================================================

    ``base_weight`` is written for the x0 loss and converted to the prediction (divided by
    ``Q_k^2``): ``"edm"`` gives ``(sigma~^2 + sigma_data^2) / (sigma~ sigma_data)^2``,
    ``"min_snr"`` gives ``min(SNR, min_snr_gamma)``.

    Parameters
    ----------
    policy : {"inverse_variance", "none", "ambient_o", "x_tmin"}
        How to weight the levels just above ``sigma_min``, where the target's variance grows.
    base_weight : {None, "edm", "min_snr"}
        An optional level-only base weight (EDM's, or min-SNR-gamma); not to be confused with the
        base level law ``base=`` of :mod:`ambientloss.sampling`.
    sigma_data : float
        Data standard deviation per dimension, used by ``"inverse_variance"`` and ``"edm"``.
    s_max : float or None
        Ambient-o's buffer (4 in the released scripts), greater than 1; ``None`` disables it.
    min_snr_gamma : float
        ``gamma`` of min-SNR weighting.
    cap : float, optional
        Upper bound applied to the final weight.

    Raises
    ------
    ValueError
        Naming the field and the value: an unknown ``policy`` or ``base_weight``, a number that is
        not positive and finite, or ``s_max <= 1``.

    Examples
    --------
    Ambient-o's pixel setting: its buffer ``s_max = 4`` times EDM's weight with ``sigma_data = 0.5``.

    >>> import numpy as np
    >>> from ambientloss import Weighting, loss_weight
    >>> ambient_o = Weighting(policy="ambient_o", s_max=4, base_weight="edm", sigma_data=0.5)
    >>> ambient_o
    Weighting(policy='ambient_o', base_weight='edm', sigma_data=0.5)
    >>> sigma = np.array([0.5, 0.45])          # VE, sigma_min = 0.4: 1 - r = 0.36 (inside), 0.21 (outside)
    >>> loss_weight(sigma, np.full(2, 0.4), weighting=ambient_o, schedule="ve")   # EDM's 8 inside, 0 outside
    array([8., 0.])

    A policy name is shorthand for the policy alone; the object is frozen and hashable.

    >>> bool(loss_weight(0.5, 0.3, weighting="none") == loss_weight(0.5, 0.3, weighting=Weighting(policy="none")))
    True
    >>> Weighting(policy="none") == Weighting("none") and hash(Weighting()) == hash(Weighting())
    True
    >>> Weighting(s_max=1.0)
    Traceback (most recent call last):
        ...
    ValueError: s_max must be greater than 1, got 1.0
    """

    policy: Literal["inverse_variance", "none", "ambient_o", "x_tmin"] = "inverse_variance"  # POLICIES
    base_weight: Literal["edm", "min_snr"] | None = None  # BASE_WEIGHTS
    sigma_data: float = 1.0
    s_max: float | None = 4.0
    min_snr_gamma: float = 5.0
    cap: float | None = None

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            msg = f"unknown policy {self.policy!r}; valid values are {', '.join(map(repr, POLICIES))}"
            raise ValueError(msg)
        if self.base_weight not in BASE_WEIGHTS:
            msg = f"unknown base_weight {self.base_weight!r}; valid values are {', '.join(map(repr, BASE_WEIGHTS))}"
            raise ValueError(msg)
        for name in ("sigma_data", "s_max", "min_snr_gamma", "cap"):
            value = getattr(self, name)
            if value is not None or name in ("sigma_data", "min_snr_gamma"):
                object.__setattr__(self, name, _positive(name, value))  # plain floats: equal options hash equal
        if self.s_max is not None and self.s_max <= 1:
            msg = f"s_max must be greater than 1, got {self.s_max!r}"
            raise ValueError(msg)

    def __repr__(self) -> str:
        changed = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if getattr(self, f.name) != f.default]
        return f"Weighting({', '.join(changed)})"


def as_weighting(weighting: Weighting | str, /, *, name: str = "weighting") -> Weighting:
    """``weighting`` as a :class:`Weighting`; a policy name is shorthand for ``Weighting(policy=name)``.

    Raises ``ValueError`` naming ``name`` for an unknown policy name and ``TypeError`` for anything
    else than a ``Weighting`` or a string.

    Examples
    --------
    >>> from ambientloss.core.weights import as_weighting
    >>> as_weighting("none")
    Weighting(policy='none')
    """
    if isinstance(weighting, Weighting):
        return weighting
    if isinstance(weighting, str):
        if weighting not in POLICIES:
            valid = ", ".join(map(repr, POLICIES))
            msg = f"unknown {name} {weighting!r}; valid values are a Weighting or a policy name: {valid}"
            raise ValueError(msg)
        return _BY_POLICY[weighting]
    msg = f"{name} must be a Weighting or a policy name, got {type(weighting).__name__}"
    raise TypeError(msg)


#: the Weighting each policy name stands for, built once (they are frozen)
_BY_POLICY: dict[str, Weighting] = {policy: Weighting(policy=policy) for policy in POLICIES}


def _levels(sigma: object, sigma_min: object, schedule: Any, xp: Namespace | None) -> tuple[Levels, Namespace]:
    if isinstance(sigma, Levels):
        sigma._require("x0", schedule=schedule, extra=sigma_min)
        return sigma, sigma.xp
    lv = level_pair(sigma, sigma_min, schedule, xp)
    return lv, lv.xp


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


def loss_weight(
    sigma: Levels | Array | float,
    sigma_min: Array | float | None = None,
    /,
    *,
    weighting: Weighting | str = "inverse_variance",
    prediction: str = "x0",
    schedule: Any = DEFAULT_SCHEDULE,
    xp: Namespace | None = None,
) -> Array:
    r"""Per-sample loss weight for the squared error against an ambient target.

    Parameters
    ----------
    sigma, sigma_min : array or float
        Current and trusted levels (``sigma > sigma_min``), aligned with each other on their
        leading axes; the result has their broadcast shape, e.g. ``(B,)``. Or one
        :class:`~ambientloss.Levels` in place of both: ``loss_weight(levels, ...)``.
    weighting : Weighting or {"inverse_variance", "none", "ambient_o", "x_tmin"}
        The options (:class:`Weighting`: policy, base weight, ``sigma_data``, ``s_max``,
        ``min_snr_gamma``, cap); a policy name is shorthand for ``Weighting(policy=name)``.
    prediction : str
        The target's prediction type; needed to convert the base weight.
    schedule : str or Schedule
        As in :func:`ambient_target`.
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
    >>> from ambientloss import Weighting
    >>> edm = Weighting(policy="none", base_weight="edm", sigma_data=0.5)
    >>> float(loss_weight(0.5, 0.3, weighting=edm, schedule="ve"))   # (0.5**2 + 0.5**2) / (0.5 * 0.5)**2
    8.0
    """
    options = as_weighting(weighting)
    policy, base, s_max, cap = options.policy, options.base_weight, options.s_max, options.cap
    sigma_data, min_snr_gamma = options.sigma_data, options.min_snr_gamma
    kind = canonical_prediction(prediction)
    lv, xp = _levels(sigma, sigma_min, schedule, xp)
    clean = lv._clean  # trusted level 0: a clean sample, or one on the low-noise branch
    one = lv._one
    a_m2, b_t2 = lv._squares()
    sd2 = sigma_data * sigma_data
    if policy == "inverse_variance" and sd2 == 1 and lv.schedule.unit_norm:  # a_m^2 + b_m^2 = 1 (VP)
        # D with 1 at clean entries, where b_t^2 <= a_t^2 + b_t^2 = 1 makes the ratio >= 1 (inf if b_t^2 is 0): 1
        w = xp.minimum(lv._unit_gap() / b_t2, one)
    elif policy == "inverse_variance":  # multiplying by sd2 == 1 is exact: skipped
        b_m2 = lv.b_m * lv.b_m
        rho = (lv.gap * sd2 if sd2 != 1 else lv.gap) / (b_t2 * ((sd2 * a_m2 if sd2 != 1 else a_m2) + b_m2))
        w = xp.where(clean, one, xp.minimum(rho, one))  # rho <= 1 exactly, not up to rounding
    elif policy == "x_tmin":
        w = xp.where(clean, one, (lv.gap * lv.gap) / (a_m2 * b_t2 * b_t2))
    elif policy == "ambient_o" and s_max is not None:
        inside = clean | (lv.gap * s_max >= a_m2 * b_t2)
        w = xp.where(inside, one, xp.zeros_like(one))
    else:
        w = one
    if not lv.checked:
        w = w * (lv.gap / lv.gap)  # NaN for inadmissible pairs (unchecked: tracing, checks off), else exactly 1
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
    sigma: Levels | Array | float,
    sigma_min: Array | float | None = None,
    /,
    *,
    schedule: Any = DEFAULT_SCHEDULE,
    xp: Namespace | None = None,
) -> Array:
    r"""Per-dimension variance ``v = b_m^2 b_t^2 / D`` of ``T_x0 - x0`` (0 for clean samples).

    The ambient x0 target is ``x0 + xi`` with ``xi ~ N(0, v I)`` independent of ``(x0, x_t)``; a
    prediction ``k`` has variance ``Q_k^2 v``. Useful to log, or to build a custom weight. Takes raw
    levels or one :class:`~ambientloss.Levels`.

    Examples
    --------
    >>> from ambientloss import target_variance
    >>> round(float(target_variance(0.5, 0.3, schedule="ve")), 6)   # 0.25 * 0.09 / 0.16
    0.140625
    """
    lv, xp = _levels(sigma, sigma_min, schedule, xp)
    # b_m^2 * (b_t^2 / D): b_t^2 / D >= 1 is well scaled, so tiny sigma_min does not underflow through b_m^2 b_t^2
    return (lv.b_m * lv.b_m) * ((lv.b_t * lv.b_t) / lv.gap)
