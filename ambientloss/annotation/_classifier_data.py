r"""Training data and loss for a noise-conditional clean-vs-corrupt classifier.

A classifier ``c(x_sigma, sigma)`` that tells clean from corrupt samples at every noise level is what
per-sample ``sigma_min`` annotation evaluates (math notes 6.6). Training it needs three pieces, all
written against the array API:

* :func:`sample_levels` turns uniforms into noise levels of a base distribution of
  :mod:`ambientloss.sampling`, in the classifier's schedule;
* :func:`classifier_batch` noises a balanced batch (``B`` clean and ``B`` corrupt samples, pair ``i``
  at the same level) with :func:`ambientloss.add_noise` and returns the labels;
* :func:`binary_cross_entropy` is the logistic loss on logits in log-sum-exp form, with the meaning
  of the logit stated by ``positive`` (never guessed), and :func:`class_probability` turns logits
  into the probability that selection rules expect.

Labels are always ``is_corrupt`` (``True`` / ``1`` for a corrupt sample), whatever the logit means.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..core.arrays import (
    Array,
    Namespace,
    cast,
    check_floating,
    compute_dtype,
    device_of,
    namespace,
    raise_where,
    sigmoid,
    values_readable,
)
from ..core.conversions import convert_level
from ..core.losses import check_reduction
from ..core.noising import add_noise
from ..core.schedules import VE, VP, Flow, get_schedule
from ._checks import PROBABILITY_CLASSES, check_probability_class

__all__ = [
    "CLASSES",
    "ClassifierBatch",
    "binary_cross_entropy",
    "class_probability",
    "classifier_batch",
    "sample_levels",
]

#: the two classes a clean-vs-corrupt classifier separates
CLASSES = PROBABILITY_CLASSES


def check_positive(value: object) -> str:
    """``positive``: ``"clean"`` or ``"corrupt"``, the class whose log-odds the logits are."""
    if value not in CLASSES:
        msg = f"positive must be 'clean' or 'corrupt' (the class whose log-odds the logits are), got {value!r}"
        raise ValueError(msg)
    return str(value)


class ClassifierBatch(NamedTuple):
    """A noised balanced batch: network input, its level and the label of every row."""

    x_t: Array  #: ``(2B, ...)``: the ``B`` clean rows first, then the ``B`` corrupt rows
    sigma: Array  #: ``(2B,)`` levels in the schedule's units; row ``i`` and row ``B + i`` share one
    is_corrupt: Array  #: ``(2B,)`` boolean labels, ``False`` for the clean half


def classifier_batch(
    clean: Array,
    corrupt: Array,
    sigma: Array | float,
    noise: Array,
    /,
    *,
    schedule: Any = "vp",
    xp: Namespace | None = None,
) -> ClassifierBatch:
    r"""Noise ``B`` clean and ``B`` corrupt samples at shared levels for classifier training.

    .. math:: x_t = a(\sigma_i)\, x_i + b(\sigma_i)\, \varepsilon_i, \qquad
              \sigma_{B+i} = \sigma_i ,

    so both classes see exactly the same distribution of levels and the level itself carries no
    information about the label.

    Parameters
    ----------
    clean, corrupt : array
        ``(B, ...)`` samples of each class, same shape (a balanced batch).
    sigma : array or float
        Levels ``(B,)`` (one per pair, e.g. from :func:`sample_levels`) or one number.
    noise : array
        Standard Gaussian noise ``(2B, ...)``: rows ``:B`` noise the clean half.
    schedule, xp
        As in :func:`ambientloss.add_noise`.

    Returns
    -------
    ClassifierBatch
        ``x_t`` ``(2B, ...)``, ``sigma`` ``(2B,)`` and boolean ``is_corrupt`` ``(2B,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import classifier_batch
    >>> clean, corrupt = np.zeros((2, 3)), np.ones((2, 3))
    >>> batch = classifier_batch(clean, corrupt, np.array([0.0, 0.6]), np.ones((4, 3)))
    >>> batch.x_t[:, 0], batch.sigma, batch.is_corrupt
    (array([0. , 0.6, 1. , 1.4]), array([0. , 0.6, 0. , 0.6]), array([False, False,  True,  True]))
    """
    xp = namespace({"clean": clean, "corrupt": corrupt, "sigma": sigma, "noise": noise}, xp)
    check_floating(clean, "clean", xp)
    check_floating(corrupt, "corrupt", xp)
    if clean.ndim < 1 or tuple(clean.shape) != tuple(corrupt.shape):
        msg = (
            "clean and corrupt must have the same shape (B, ...) for a balanced batch, got "
            f"{tuple(clean.shape)} and {tuple(corrupt.shape)}"
        )
        raise ValueError(msg)
    n = int(clean.shape[0])
    expected = (2 * n, *tuple(clean.shape[1:]))
    if tuple(noise.shape) != expected:
        msg = f"noise must have shape {expected} (2B rows, clean half first), got {tuple(noise.shape)}"
        raise ValueError(msg)
    dtype = clean.dtype if clean.dtype == corrupt.dtype else compute_dtype(xp, clean, corrupt)
    if sigma is None or isinstance(sigma, bool):
        msg = f"sigma must be an array of shape ({n},) or a number, got {sigma!r}"
        raise TypeError(msg)
    if hasattr(sigma, "shape"):
        check_floating(sigma, "sigma", xp)
        if tuple(sigma.shape) != (n,):
            msg = f"sigma must have shape ({n},) (one level per clean/corrupt pair) or be a number, got {sigma.shape}"
            raise ValueError(msg)
        levels = xp.concat([sigma, sigma])
    else:
        wide = compute_dtype(xp, clean, corrupt)  # float32 at least: a bf16 level would be off by 0.4 %
        levels = xp.full((2 * n,), float(sigma), dtype=wide, device=device_of(clean))
    data = xp.concat([cast(clean, dtype, xp), cast(corrupt, dtype, xp)])
    x_t = add_noise(data, levels, noise, schedule=schedule, xp=xp)
    device = device_of(clean)
    labels = xp.concat([xp.zeros((n,), dtype=xp.bool, device=device), xp.ones((n,), dtype=xp.bool, device=device)])
    return ClassifierBatch(x_t, levels, labels)


def sample_levels(
    u: Array,
    /,
    *,
    base: Any = None,
    schedule: Any = "vp",
    xp: Namespace | None = None,
) -> Array:
    r"""Noise levels in ``schedule``'s units from uniforms ``u`` in ``[0, 1)``, by inverse transform.

    .. math:: \sigma = \operatorname{convert}\big(F^{-1}_\text{base}(u)\big),

    where :math:`F^{-1}_\text{base}` is the base's ``icdf`` in its own schedule and the conversion to
    ``schedule`` keeps the schedule-free level ``b / a`` (:func:`ambientloss.convert_level`), so the
    classifier sees the same information content whatever units it is conditioned on.

    Parameters
    ----------
    u : array
        Uniform draws in ``[0, 1)``, any shape (for example ``(B,)``).
    base : ambientloss.sampling.Base, optional
        Law of the levels: ``LogNormal()`` (EDM, the default), ``UniformVP()``, ``LogitNormal()``,
        a ``GridDensity`` ... (see :mod:`ambientloss.sampling`).
    schedule : str or Schedule
        Units of the returned levels.
    xp : namespace, optional
        Array namespace; inferred when omitted.

    Returns
    -------
    array
        Levels with the shape and dtype of ``u``.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import sample_levels
    >>> from ambientloss.sampling import LogNormal, UniformVP
    >>> sample_levels(np.array([0.5]), base=LogNormal(mean=0.0), schedule="ve")       # exp(0)
    array([1.])
    >>> sample_levels(np.array([0.0, 0.6]), base=UniformVP(), schedule="ve")         # 0.6 / 0.8
    array([0.  , 0.75])
    """
    from ..sampling import Base, LogNormal

    base = LogNormal() if base is None else base
    if not isinstance(base, Base):
        msg = f"base must be an ambientloss.sampling.Base (LogNormal(), UniformVP(), ...), got {type(base).__name__}"
        raise TypeError(msg)
    xp = namespace({"u": u}, xp)
    check_floating(u, "u", xp)
    if values_readable(u):
        raise_where(~((u >= 0) & (u < 1)), xp, "u must contain uniforms in [0, 1), got {v!r}", v=u)
    levels = base.icdf(u, xp=xp)
    target, source = get_schedule(schedule), base.schedule
    if target is source or (type(target) is type(source) and type(target) in (VP, VE, Flow)):
        return levels
    return convert_level(levels, source=source, target=target, xp=xp)


def _softplus(z: Array, xp: Namespace) -> Array:
    """``log(1 + exp(z))`` without overflow: ``max(z, 0) + log1p(exp(-|z|))``."""
    return xp.where(z > 0, z, xp.zeros_like(z)) + xp.log1p(xp.exp(-xp.abs(z)))


def _labels(is_corrupt: Array, logits: Array, xp: Namespace) -> Array:
    if tuple(is_corrupt.shape) != tuple(logits.shape):
        msg = f"is_corrupt must have the shape of logits {tuple(logits.shape)}, got {tuple(is_corrupt.shape)}"
        raise ValueError(msg)
    if is_corrupt.dtype == xp.bool:
        return is_corrupt
    if values_readable(is_corrupt):
        raise_where(
            (is_corrupt != 0) & (is_corrupt != 1), xp, "is_corrupt must be 0/1 or boolean, got {v!r}", v=is_corrupt
        )
    return is_corrupt == 1


def binary_cross_entropy(
    logits: Array,
    is_corrupt: Array,
    /,
    *,
    positive: str,
    reduction: str = "mean",
    xp: Namespace | None = None,
) -> Array:
    r"""Logistic loss of a clean-vs-corrupt classifier, stable for any logit.

    With ``z`` the logit of the class ``positive`` and ``y = 1`` where the sample belongs to it,

    .. math:: \ell = -y \log\sigma(z) - (1 - y) \log(1 - \sigma(z))
                   = \operatorname{softplus}(z) - y\,z ,

    computed as ``max(z, 0) - y z + log1p(exp(-|z|))`` (no overflow, no ``log(0)``).

    Parameters
    ----------
    logits : array
        Classifier logits, any shape (``(B,)`` typically).
    is_corrupt : array
        Labels of the same shape: boolean, or 0/1 numbers (1 = corrupt).
    positive : {"clean", "corrupt"}
        The class whose log-odds ``logits`` are. Required: a swapped convention trains a classifier
        whose probabilities mean the opposite of what the selection rule reads.
    reduction : {"mean", "sum", "none", "per_sample"}
        ``"none"`` and ``"per_sample"`` return the per-element losses.
    xp : namespace, optional
        Array namespace; inferred when omitted.

    Returns
    -------
    array
        A scalar, or the losses with the shape of ``logits``; float32 (float64 for float64 logits).

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import binary_cross_entropy
    >>> logits = np.array([0.0, 800.0, -800.0])
    >>> binary_cross_entropy(logits, np.array([True, True, True]), positive="corrupt", reduction="none")
    array([6.93147181e-01, 0.00000000e+00, 8.00000000e+02])
    """
    check_positive(positive)
    check_reduction(reduction)
    xp = namespace({"logits": logits, "is_corrupt": is_corrupt}, xp)
    check_floating(logits, "logits", xp)
    if values_readable(logits):
        raise_where(logits != logits, xp, "logits must not be NaN, got {v!r}", v=logits)
    y = _labels(is_corrupt, logits, xp)
    if positive == "clean":
        y = ~y
    z = xp.astype(logits, compute_dtype(xp, logits))
    loss = _softplus(z, xp) - xp.where(y, z, xp.zeros_like(z))
    if reduction in ("none", "per_sample"):
        return loss
    total = xp.sum(loss)
    return total if reduction == "sum" else total / max(math.prod(loss.shape), 1)


def class_probability(logits: Array, /, *, positive: str, probability: str, xp: Namespace | None = None) -> Array:
    r"""The probability of class ``probability`` from logits of class ``positive``: ``sigmoid(+-z)``.

    Stable for any ``z``. Use it to turn a classifier's output into the ``P(clean)`` or ``P(corrupt)``
    that a selection rule is told it receives.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import class_probability
    >>> class_probability(np.array([0.0, 2.0]), positive="corrupt", probability="clean")
    array([0.5       , 0.11920292])
    """
    check_positive(positive)
    check_probability_class(probability)
    xp = namespace({"logits": logits}, xp)
    check_floating(logits, "logits", xp)
    return sigmoid(logits if positive == probability else -logits, xp)
