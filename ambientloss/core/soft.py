r"""Soft ambient diffusion: a per-sample importance weight from a noise-conditional classifier.

A low-quality sample ``y ~ q`` noised once to ``x_m`` at its level ``sigma_min`` enters the ambient
loss with the weight ``r(x_m) = p_m(x_m) / q_m(x_m)``, the density ratio of the clean and the
low-quality data at that level. Because ``x_t`` is drawn from ``x_m`` by the same kernel under ``p``
and ``q``, the weighted loss has the expectation of the ambient loss on clean data at every level
``sigma > sigma_min``, so its minimiser is the clean posterior mean (docs/math, "Soft ambient
diffusion"). A classifier ``c(x, sigma) = P(clean | x_sigma = x)`` trained with class priors
``pi_p, pi_q`` gives the ratio by Bayes' rule:

.. math::
    r = \frac{c}{1 - c}\,\frac{\pi_q}{\pi_p}.
"""

from __future__ import annotations

import math
import numbers

from .arrays import Array, Namespace, as_array, raise_where, values_readable

__all__ = ["soft_ambient_weight"]


def _positive(name: str, value: object) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if number > 0 and math.isfinite(number):
            return number
    msg = f"{name} must be a positive finite number, got {value!r}"
    raise ValueError(msg)


def soft_ambient_weight(
    p_clean: Array | float,
    /,
    *,
    prior_odds: float = 1.0,
    max_weight: float | None = None,
    xp: Namespace | None = None,
) -> Array:
    r"""Importance weight ``r = c / (1 - c) / prior_odds`` of a low-quality sample from its classifier probability.

    .. math::
        r(x_m) = \frac{p_{\sigma_{\min}}(x_m)}{q_{\sigma_{\min}}(x_m)}
               = \frac{c(x_m, \sigma_{\min})}{1 - c(x_m, \sigma_{\min})}\,\frac{\pi_q}{\pi_p},
        \qquad w = \min(r, \text{max\_weight})

    Multiply the low-quality samples' loss weights by ``w`` (clean samples keep weight 1): with a
    calibrated classifier the weighted ambient loss at every ``sigma > sigma_min`` has the
    expectation of the clean one, so no sample's level has to be chosen by a hard threshold.

    Parameters
    ----------
    p_clean : array or float
        ``c(x_m, sigma_min)``, the classifier's probability that the sample, noised to its trusted
        level ``sigma_min`` (the stored ``x_m``; the raw sample for ``sigma_min = 0``), is clean.
        Any shape; a real floating dtype.
    prior_odds : float
        ``pi_p / pi_q``, the odds of the clean class the classifier was trained with: the ratio
        of clean to low-quality examples for an unweighted classifier, 1 for a balanced one.
    max_weight : float, optional
        Upper bound on the weight. Bounds the variance, at the price of a bias: the clipped weight
        under-counts the regions where clean data are more likely than low-quality data by more
        than ``max_weight``.
    xp : namespace, optional
        Array namespace; inferred when omitted (NumPy float64 for a Python number).

    Returns
    -------
    array
        Weights of ``p_clean``'s shape and dtype (float64 for a Python number), in ``[0, inf]``:
        0 at ``p_clean = 0``, 1 at ``p_clean = prior_odds / (1 + prior_odds)``, and ``inf`` at
        ``p_clean = 1`` (a point that low-quality data never produce), ``max_weight`` there when
        given.

    Raises
    ------
    ValueError
        Naming the value and its index where ``p_clean`` is outside ``[0, 1]`` or NaN, or when
        ``prior_odds`` / ``max_weight`` is not a positive finite number. While value checks are
        off (:func:`~ambientloss.checks`, tracing) such entries come out NaN.
    TypeError
        When ``p_clean`` does not have a real floating dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import soft_ambient_weight
    >>> soft_ambient_weight(np.array([0.0, 0.2, 0.5, 0.8, 1.0]))
    array([0.  , 0.25, 1.  , 4.  ,  inf])
    >>> soft_ambient_weight(np.array([0.5, 1.0]), prior_odds=0.25, max_weight=10.0)   # trained 1 clean : 4 low-quality
    array([ 4., 10.])
    >>> soft_ambient_weight(1.5)
    Traceback (most recent call last):
        ...
    ValueError: p_clean must be a probability in [0, 1], got 1.5
    """
    odds_prior = _positive("prior_odds", prior_odds)
    cap = None if max_weight is None else _positive("max_weight", max_weight)
    c, xp, _ = as_array(p_clean, "p_clean", xp)
    valid = (c >= 0) & (c <= 1)  # False for NaN
    if values_readable(c):
        raise_where(~valid, xp, "p_clean must be a probability in [0, 1], got {p_clean}", p_clean=c)
    below_one = c < 1
    one = xp.ones_like(c)
    odds = c / xp.where(below_one, one - c, one)  # 1 - c is exact for c >= 1/2 (Sterbenz)
    odds = xp.where(below_one, odds, xp.full_like(c, math.inf))
    weight = odds / odds_prior if odds_prior != 1 else odds
    if cap is not None:
        weight = xp.minimum(weight, xp.full_like(weight, cap))
    return xp.where(valid, weight, xp.full_like(weight, math.nan))
