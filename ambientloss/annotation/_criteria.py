r"""Dataset-level ``sigma_min``: total variation from held-out accuracy, or the classifier-mean criterion.

Write :math:`p_t`, :math:`q_t` for the clean and corrupt laws noised to level :math:`t` and
:math:`c(x, t) = P(\text{clean} \mid x_t = x)`. The two criteria measure different divergences:

* **Total variation.** For any classifier, ``2 * balanced accuracy - 1`` on a balanced set is at most
  :math:`\mathrm{TV}(p_t, q_t)`, with equality for the Bayes classifier, which also gives
  :math:`\mathrm{TV} = \mathbb E_{(p_t + q_t)/2} |2c^* - 1|`. :func:`total_variation_estimate` computes
  either from classifier outputs on held-out clean and corrupt samples at every level, and
  :func:`sigma_min_from_tv` returns the smallest level with :math:`\mathrm{TV} < \varepsilon`. With a
  weak classifier the accuracy estimate is too small, so the level is too small: it is only as good
  as the classifier.
* **Classifier mean.** For the Bayes classifier,
  :math:`\mathbb E_{q_t}[c^*] = \tfrac12 - \Delta(p_t, q_t)/4` with the triangular discrimination
  :math:`\Delta = \int (p - q)^2 / (p + q)`, and :math:`\mathrm{TV}^2 \le \Delta / 2 \le \mathrm{TV}`.
  So :func:`sigma_min_from_classifier_mean` (mean :math:`c` on corrupt data :math:`> \tfrac12 - \varepsilon`)
  is :math:`\Delta < 4\varepsilon`: implied by :math:`\mathrm{TV} < 2\varepsilon`, implying
  :math:`\mathrm{TV} < \sqrt{2\varepsilon}`, and **not** equivalent to :math:`\mathrm{TV} < \varepsilon`.

TV contracts as the noise grows (data processing), so the population criteria are monotone in the
level and the default rule is ``"monotone"``; estimates from finite held-out sets need not be.
"""

from __future__ import annotations

from typing import Any

from ..core.arrays import Array, Namespace, check_floating, compute_dtype, is_scalar, raise_where, values_readable
from ._checks import as_grid, check_eps, check_fallback, check_probabilities, check_probability_class, resolve
from ._selection import check_rule, crossing_index, levels_at, looks_clean, report_fallback

__all__ = ["sigma_min_from_classifier_mean", "sigma_min_from_tv", "total_variation_estimate"]


def _per_level(probs: Array, name: str, n_levels: int | None, xp: Namespace) -> Array:
    """``(n, G)`` or ``(n, G, draws)`` as ``(n * draws, G)`` p-values in the compute dtype."""
    check_probabilities(probs, name, xp)
    if probs.ndim not in (2, 3) or probs.shape[0] == 0:
        msg = f"{name} must have shape (n, G) or (n, G, draws) with n >= 1, got {tuple(probs.shape)}"
        raise ValueError(msg)
    if n_levels is not None and probs.shape[1] != n_levels:
        msg = f"{name} has {probs.shape[1]} levels on axis 1 but {n_levels} were expected"
        raise ValueError(msg)
    p = xp.astype(probs, compute_dtype(xp, probs))
    if p.ndim == 3:  # every draw is one more noised held-out example
        p = xp.reshape(xp.permute_dims(p, (0, 2, 1)), (-1, p.shape[1]))
    return p


def total_variation_estimate(
    probs_clean: Array,
    probs_corrupt: Array,
    /,
    *,
    probability: str,
    method: str = "accuracy",
    xp: Namespace | None = None,
) -> Array:
    r"""Total variation between noised clean and corrupt data at each level, from a held-out set.

    Parameters
    ----------
    probs_clean, probs_corrupt : array
        Classifier outputs ``(n, G)`` or ``(n, G, draws)`` on held-out clean and corrupt samples
        noised to each grid level (draws count as further examples).
    probability : {"clean", "corrupt"}
        Which class the outputs are the probability of.
    method : {"accuracy", "mean_abs"}
        ``"accuracy"``: :math:`P(c > 1/2 \mid \text{clean}) - P(c > 1/2 \mid \text{corrupt})`, i.e.
        ``2 * balanced accuracy - 1`` (ties at 1/2 count half), a lower bound on TV for any classifier.
        ``"mean_abs"``: the balanced mean of :math:`|2c - 1|`, exact for the Bayes classifier only.

    Returns
    -------
    array
        ``(G,)`` estimates.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import total_variation_estimate
    >>> clean = np.array([[0.9, 0.6], [0.8, 0.4]])        # P(clean) on 2 clean samples at 2 levels
    >>> corrupt = np.array([[0.2, 0.5], [0.3, 0.1]])        # a tie at 1/2 counts half
    >>> total_variation_estimate(clean, corrupt, probability="clean")
    array([1.  , 0.25])
    """
    xp = resolve({"probs_clean": probs_clean, "probs_corrupt": probs_corrupt}, xp)
    kind = check_probability_class(probability)
    p = _per_level(probs_clean, "probs_clean", None, xp)
    q = _per_level(probs_corrupt, "probs_corrupt", int(probs_clean.shape[1]), xp)
    if kind == "corrupt":
        p, q = 1 - p, 1 - q
    if method == "accuracy":

        def said_clean(c: Array) -> Array:
            return xp.mean(xp.astype(c > 0.5, c.dtype) + 0.5 * xp.astype(c == 0.5, c.dtype), axis=0)

        return said_clean(p) - said_clean(q)
    if method == "mean_abs":
        return (xp.mean(xp.abs(2 * p - 1), axis=0) + xp.mean(xp.abs(2 * q - 1), axis=0)) / 2
    msg = f"method must be 'accuracy' or 'mean_abs', got {method!r}"
    raise ValueError(msg)


def sigma_min_from_tv(
    tv: Array,
    grid: Array,
    /,
    *,
    eps: float,
    rule: str = "monotone",
    fallback: str | float = "largest",
    xp: Namespace | None = None,
) -> Array:
    """Dataset ``sigma_min``: the grid level from which ``TV < eps`` (``rule`` as in ``select_sigma_min``).

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import sigma_min_from_tv
    >>> sigma_min_from_tv(np.array([0.5, 0.08, 0.12, 0.04]), np.array([1.0, 2.0, 3.0, 4.0]), eps=0.1)
    array(4.)
    """
    xp = resolve({"tv": tv, "grid": grid}, xp)
    threshold, rule, fb = _check_tv_eps(eps), check_rule(rule), check_fallback(fallback)
    check_floating(tv, "tv", xp)
    grid = as_grid(grid, tv, xp)
    if tuple(tv.shape) != tuple(grid.shape):
        msg = f"tv must have the grid's shape {tuple(grid.shape)}, got {tuple(tv.shape)}"
        raise ValueError(msg)
    if values_readable(tv):
        raise_where(~((tv >= -1) & (tv <= 1)), xp, "tv must lie in [-1, 1] (no NaN); got {v!r}", v=tv)
    index, found = crossing_index(tv < threshold, rule, xp)
    report_fallback(found, "sigma_min_from_tv", xp, dataset=True)
    return levels_at(grid, index, found, fb, xp)


def _check_tv_eps(eps: Any) -> float:
    if not is_scalar(eps) or not 0.0 < float(eps) <= 1.0:
        msg = f"eps must be a number in (0, 1] (a total-variation threshold), got {eps!r}"
        raise ValueError(msg)
    return float(eps)


def sigma_min_from_classifier_mean(
    probs_corrupt: Array,
    grid: Array,
    /,
    *,
    probability: str,
    eps: float,
    rule: str = "monotone",
    fallback: str | float = "largest",
    xp: Namespace | None = None,
) -> Array:
    r"""Dataset ``sigma_min``: the grid level from which the mean :math:`c` on corrupt data exceeds ``1/2 - eps``.

    For the Bayes classifier this is :math:`\Delta(p_t, q_t) < 4\varepsilon` (see the module notes).

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import sigma_min_from_classifier_mean
    >>> p_clean = np.array([[0.1, 0.3, 0.5], [0.2, 0.5, 0.4]])   # 2 corrupt samples, 3 levels
    >>> sigma_min_from_classifier_mean(p_clean, [1.0, 2.0, 3.0], probability="clean", eps=0.1)
    array(2.)
    """
    xp = resolve({"probs_corrupt": probs_corrupt, "grid": grid}, xp)
    kind, threshold = check_probability_class(probability), check_eps(eps)
    rule, fb = check_rule(rule), check_fallback(fallback)
    grid = as_grid(grid, probs_corrupt, xp)
    mean = xp.mean(_per_level(probs_corrupt, "probs_corrupt", int(grid.shape[0]), xp), axis=0)
    index, found = crossing_index(looks_clean(mean, kind, threshold), rule, xp)
    report_fallback(found, "sigma_min_from_classifier_mean", xp, dataset=True)
    return levels_at(grid, index, found, fb, xp)
