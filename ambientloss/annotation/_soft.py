r"""Soft ambient weights of stored low-quality samples, from a noise-conditional classifier.

For each low-quality sample the classifier is evaluated once, on the stored ``x_m`` (already noised
to its trusted level ``sigma_min``; the raw sample for ``sigma_min = 0``) at that level, and its
probability is turned into the importance weight :math:`r = c / (1 - c) \cdot \pi_q / \pi_p` by
:func:`ambientloss.soft_ambient_weight` (derivation: docs/math, "Soft ambient diffusion"). No noise is
added here: the weight must be the density ratio at the very ``x_m`` the ambient target uses.
"""

from __future__ import annotations

import math

from ..core.arrays import Array, Namespace, cast, check_floating, compute_dtype, device_of, is_scalar, raise_where
from ..core.soft import soft_ambient_weight
from ._checks import check_probabilities, check_probability_class, resolve
from ._engine import Classifier, _check_positive_int, _inference

__all__ = ["soft_weights_from_classifier"]


def _levels(sigma_min: Array | float, n: int, x_m: Array, xp: Namespace) -> Array:
    """``(N,)`` levels in ``x_m``'s dtype: one number repeated, or an ``(N,)`` array; finite and >= 0."""
    if is_scalar(sigma_min):
        value = float(sigma_min)
        if not (math.isfinite(value) and value >= 0):
            msg = f"sigma_min must be a finite level >= 0, got {value!r}"
            raise ValueError(msg)
        return xp.full((n,), value, dtype=x_m.dtype, device=device_of(x_m))
    levels: Array = sigma_min  # not a Python number, so an array
    check_floating(levels, "sigma_min", xp)
    if tuple(levels.shape) != (n,):
        msg = f"sigma_min must be one number or one level per sample, shape ({n},), got {tuple(levels.shape)}"
        raise ValueError(msg)
    bad = ~((levels >= 0) & (levels < math.inf))
    raise_where(bad, xp, "sigma_min must be a finite level >= 0, got {v!r}", v=levels)
    return cast(levels, x_m.dtype, xp)


def soft_weights_from_classifier(
    classifier: Classifier,
    x_m: Array,
    sigma_min: Array | float,
    /,
    *,
    probability: str,
    prior_odds: float = 1.0,
    max_weight: float | None = None,
    batch_size: int = 1024,
    xp: Namespace | None = None,
) -> Array:
    r"""Per-sample soft ambient weights ``r(x_m) = c / (1 - c) / prior_odds`` of stored low-quality samples.

    Parameters
    ----------
    classifier : callable
        ``classifier(x_sigma, sigma) -> p`` as in :func:`classifier_trajectory`: ``x_sigma`` of
        shape ``(B, ...)``, ``sigma`` of shape ``(B,)``, returning ``(B,)`` probabilities of the
        class ``probability``. Torch classifiers run under ``torch.no_grad``.
    x_m : array
        ``(N, ...)`` the stored low-quality samples at their trusted levels: the ``x_tmin`` the
        ambient target is built from (``frozen_x_tmin``), or the raw samples where ``sigma_min = 0``.
    sigma_min : array or float
        The level of each ``x_m``, ``(N,)`` or one number, in the classifier's units.
    probability : {"clean", "corrupt"}
        Which class the classifier returns the probability of.
    prior_odds : float
        ``pi_p / pi_q``, the clean-to-low-quality ratio the classifier was trained with (1: balanced).
    max_weight : float, optional
        Cap on the weight (bounds the variance, biases the loss; see
        :func:`~ambientloss.soft_ambient_weight`).
    batch_size : int
        Rows per classifier call.
    xp : namespace, optional
        Array namespace; inferred from ``x_m`` when omitted.

    Returns
    -------
    array
        ``(N,)`` weights in ``x_m``'s library and float dtype: multiply them into the low-quality
        samples' loss weights (clean samples keep 1).

    Examples
    --------
    Two 1-D Gaussians of equal variance at VE level 0.5: the Bayes classifier's odds are the density
    ratio ``exp(w (x - 1/2))`` with ``w = -1 / (0.09 + 0.25)``.

    >>> import numpy as np
    >>> from ambientloss.annotation import soft_weights_from_classifier
    >>> def p_clean(x_sigma, sigma):                  # clean N(0, 0.09), low-quality N(1, 0.09), VE
    ...     w = -1.0 / (0.09 + sigma**2)
    ...     return 1.0 / (1.0 + np.exp(-w * (x_sigma[:, 0] - 0.5)))
    >>> x_m = np.array([[0.5], [1.5]])                # stored at sigma_min = 0.5
    >>> r = soft_weights_from_classifier(p_clean, x_m, 0.5, probability="clean")
    >>> np.allclose(r, np.exp(-(x_m[:, 0] - 0.5) / 0.34))
    True
    """
    if not callable(classifier):
        msg = f"classifier must be a callable classifier(x_sigma, sigma) -> probabilities, got {classifier!r}"
        raise TypeError(msg)
    kind = check_probability_class(probability)
    step = _check_positive_int(batch_size, "batch_size")
    xp = resolve({"x_m": x_m}, xp)
    check_floating(x_m, "x_m", xp)
    if x_m.ndim < 1 or x_m.shape[0] == 0:
        msg = f"x_m must be a non-empty batch of samples (N, ...), got shape {tuple(x_m.shape)}"
        raise ValueError(msg)
    n = int(x_m.shape[0])
    dtype = compute_dtype(xp, x_m)
    levels = _levels(sigma_min, n, x_m, xp)
    outs = []
    with _inference(x_m):
        for start in range(0, n, step):
            p = classifier(x_m[start : start + step, ...], levels[start : start + step])
            outs.append(xp.reshape(xp.astype(p, dtype) if p.dtype != dtype else p, (-1,)))
    probs = xp.concat(outs)
    if tuple(probs.shape) != (n,):
        msg = f"classifier must return one probability per row, got {tuple(probs.shape)} values for {n} samples"
        raise ValueError(msg)
    check_probabilities(probs, "classifier output", xp)
    p_clean = probs if kind == "clean" else 1 - probs
    return soft_ambient_weight(p_clean, prior_odds=prior_odds, max_weight=max_weight, xp=xp)
