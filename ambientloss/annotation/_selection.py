r"""Per-sample ``sigma_min`` from a classifier's probability trajectory over a grid of noise levels.

A noise-conditional classifier ``c(x_sigma, sigma)`` is trained to tell clean from corrupt samples.
A corrupt sample *looks clean* at level :math:`\sigma` when

.. math:: p_\text{clean}(\sigma) > \tfrac12 - \varepsilon
          \quad\Longleftrightarrow\quad p_\text{corrupt}(\sigma) < \tfrac12 + \varepsilon ,

evaluated as the margin ``(p_clean - 1/2) + eps > 0`` (or ``(1/2 - p_corrupt) + eps > 0``, the form of
the published code), averaged over noise draws and optionally smoothed with an exponential moving
average along ascending :math:`\sigma`. Two rules turn the criterion into a level:

* ``"first"``: the first grid level where it holds (Ambient-o, ambient-utils). One noisy dip of the
  trajectory below the threshold selects a level that is far too small.
* ``"monotone"``: the smallest grid level from which it holds at *every* larger grid level. Total
  variation between the noised clean and corrupt laws only shrinks as the noise grows (data
  processing), so the population criterion is monotone and this rule is robust to dips.

The selected level is the grid point itself: the true crossing lies between the previous grid level
and the selected one, so the answer errs on the safe side by at most one grid step.

A sample for which the rule finds no level takes the ``fallback``. How many did is logged at INFO
level on the ``"ambientloss.annotation"`` logger; when every sample did, :class:`AllFallbackWarning`
says so (the result then describes the grid and the classifier, not the data). Smoothing is given in
grid steps (``ema_span``, refused with :class:`GridTooShortError` when longer than the grid) or as a
fraction of the grid's length (``ema_fraction``, what the presets use, so that a preset means the same
on a grid of 10 levels as on one of 2048).
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any, Literal, get_args

from ..core.arrays import Array, Namespace, cast, compute_dtype, device_of, is_scalar, is_traced, values_readable
from ._aggregate import group_codes, group_mean, source_sigma_min
from ._checks import as_grid, check_eps, check_fallback, check_probabilities, check_probability_class, resolve
from ._warnings import AllFallbackWarning, GridTooShortError

__all__ = ["POOLS", "RULES", "SELECTION_PRESETS", "ema", "select_sigma_min", "select_with_preset"]

RULES = ("first", "monotone")

Pool = Literal["max", "median", "mean_trajectory"]

#: named ways to pool a group's samples into one level (a number in ``[0, 1]`` is a quantile)
POOLS: tuple[Pool, ...] = get_args(Pool)

logger = logging.getLogger("ambientloss.annotation")

#: Keyword arguments of :func:`select_sigma_min` that reproduce published selection rules.
SELECTION_PRESETS: dict[str, dict[str, Any]] = {
    # Ambient-o (pixel diffusion): sigmoid output = P(corrupt), mean of the 4 draws, pandas
    # ewm(span=32, adjust=False) on its 2048 levels (a span of 1/64 of the grid), first level with
    # 0.5 - p + 0.05 > 0, else the largest grid level.
    "ambient_o": {
        "probability": "corrupt",
        "eps": 0.05,
        "rule": "first",
        "ema_fraction": 1 / 64,
        "fallback": "largest",
    },
    # ambient-utils analyze_classifier_trajectory: p = P(corrupt), first level with 0.5 - p + 0.01 > 0,
    # no smoothing, else the last level.
    "ambient_utils": {"probability": "corrupt", "eps": 0.01, "rule": "first", "ema_span": None, "fallback": "largest"},
}


def _check_span(span: object) -> float:
    if not is_scalar(span) or not float(span) >= 1:  # type: ignore[arg-type]
        msg = f"ema_span must be a number >= 1 (pandas' span), got {span!r}"
        raise ValueError(msg)
    return float(span)  # type: ignore[arg-type]


def _check_fraction(fraction: object) -> float:
    if not is_scalar(fraction) or not 0.0 < float(fraction) <= 1.0:  # type: ignore[arg-type]
        msg = f"ema_fraction must be a number in (0, 1] (the EMA span as a fraction of the grid), got {fraction!r}"
        raise ValueError(msg)
    return float(fraction)  # type: ignore[arg-type]


def smoothing_span(ema_span: float | None, ema_fraction: float | None, n_levels: int) -> float | None:
    """The EMA span in grid steps: ``ema_span`` (at most the grid's length) or ``max(1, ema_fraction * G)``."""
    if ema_span is not None and ema_fraction is not None:
        msg = f"give ema_span (grid steps) or ema_fraction (of the grid), not both; got {ema_span!r}, {ema_fraction!r}"
        raise ValueError(msg)
    if ema_fraction is not None:
        return max(1.0, _check_fraction(ema_fraction) * n_levels)
    if ema_span is None:
        return None
    span = _check_span(ema_span)
    if span > n_levels:
        msg = (
            f"ema_span={span:g} is longer than the grid ({n_levels} levels): the smoothed trajectory would "
            f"still carry the first level's value at the last one, and samples would silently take the "
            f"fallback; use ema_fraction= (a fraction of the grid) or a span of at most {n_levels}"
        )
        raise GridTooShortError(msg)
    return span


def ema(x: Array, /, *, span: float, xp: Namespace | None = None) -> Array:
    r"""Exponential moving average along the last axis, as pandas ``ewm(span=span, adjust=False).mean()``.

    .. math:: y_0 = x_0, \qquad y_g = (1 - \alpha)\, y_{g-1} + \alpha\, x_g,
              \qquad \alpha = \frac{2}{\mathrm{span} + 1}.

    Eagerly the recursion runs step by step, exactly as written. Under ``jax.jit`` (or any tracing)
    the same sums are formed by a log-depth doubling scan, which agrees to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import ema
    >>> ema(np.array([0.0, 1.0, 1.0]), span=3)          # alpha = 1/2
    array([0.  , 0.5 , 0.75])
    """
    xp = resolve({"x": x}, xp)
    alpha = 2.0 / (_check_span(span) + 1.0)
    n = x.shape[-1]
    if n == 0:
        return x
    if not is_traced(x):  # eager: the sequential recursion; traced: doubling windows
        y = x[..., 0]
        out = [y]
        for g in range(1, n):
            y = (1.0 - alpha) * y + alpha * x[..., g]
            out.append(y)
        return xp.stack(out, axis=-1)
    z = xp.concat([x[..., :1], alpha * x[..., 1:]], axis=-1)
    shift, decay = 1, 1.0 - alpha
    while shift < n:  # z_g <- z_g + (1 - alpha)^shift z_{g - shift}: windows double each pass
        pad = xp.zeros_like(z[..., :shift])
        z = z + decay * xp.concat([pad, z[..., :-shift]], axis=-1)
        shift, decay = 2 * shift, decay * decay
    return z


def looks_clean(p: Array, probability: str, eps: float) -> Array:
    """The criterion as a boolean array: ``(p_clean - 1/2) + eps > 0`` or ``(1/2 - p_corrupt) + eps > 0``."""
    margin = (p - 0.5) + eps if probability == "clean" else (0.5 - p) + eps
    return margin > 0


def crossing_index(holds: Array, rule: str, xp: Namespace) -> tuple[Array, Array]:
    """Index along the last axis selected by ``rule`` and whether the criterion was met at all."""
    n = holds.shape[-1]
    if rule == "first":
        return xp.argmax(xp.astype(holds, xp.int32), axis=-1), xp.any(holds, axis=-1)
    fails = ~holds
    last_fail = (n - 1) - xp.argmax(xp.astype(xp.flip(fails, axis=-1), xp.int32), axis=-1)
    index = xp.where(xp.any(fails, axis=-1), last_fail + 1, xp.zeros_like(last_fail))
    return index, index < n


def check_rule(rule: object) -> str:
    if rule not in RULES:
        msg = f"rule must be 'first' or 'monotone', got {rule!r}"
        raise ValueError(msg)
    return str(rule)


def report_fallback(found: Array, what: str, xp: Namespace, *, dataset: bool = False) -> None:
    """Log how many took the fallback; warn (:class:`AllFallbackWarning`) when all did. Eager only."""
    if not values_readable(found):
        return
    total = int(math.prod(found.shape))
    never = total - int(xp.sum(xp.astype(found, xp.int64)))
    if never:
        logger.info("%s: %d of %d took the fallback (the criterion held at no grid level)", what, never, total)
    if total and never == total:
        subject = "the dataset" if dataset else "the sample" if found.ndim == 0 else f"every sample ({total})"
        msg = (
            f"{what}: {subject} took the fallback: the criterion held at no grid level. The grid may end "
            "too low, eps may be too small, or the classifier may be miscalibrated near the top of the grid"
        )
        warnings.warn(msg, AllFallbackWarning, stacklevel=3)


def levels_at(grid: Array, index: Array, found: Array, fallback: float | None, xp: Namespace) -> Array:
    """``grid[index]`` where ``found``, else the fallback level (``None`` = the largest grid level)."""
    n = grid.shape[0]
    safe = xp.where(found, index, xp.zeros_like(index))
    safe = xp.where(safe < n, safe, xp.full_like(safe, n - 1))
    level = xp.reshape(xp.take(grid, xp.reshape(safe, (-1,)), axis=0), tuple(index.shape))
    other = grid[-1] if fallback is None else xp.asarray(fallback, dtype=grid.dtype, device=device_of(grid))
    return xp.where(found, level, xp.broadcast_to(other, tuple(level.shape)))


def check_pool(pool: object, groups: object) -> str | float:
    """A pool name or a quantile in ``[0, 1]``; a pool other than the default needs ``groups``."""
    if groups is None and pool != "max":
        msg = f"pool={pool!r} pools the samples of each group: pass groups= (one group label per sample)"
        raise ValueError(msg)
    if pool in POOLS:
        return str(pool)
    if is_scalar(pool) and 0.0 <= float(pool) <= 1.0:  # type: ignore[arg-type]
        return float(pool)  # type: ignore[arg-type]
    msg = f"pool must be one of {POOLS} or a quantile in [0, 1], got {pool!r}"
    if pool in ("min", "mean"):
        msg += (
            "; 'min' gives a group the level of its cleanest-looking sample (the bias pooling removes), "
            "and a mean of levels is nobody's level and depends on the schedule's units"
        )
    raise ValueError(msg)


def select_sigma_min(
    probs: Array,
    grid: Array,
    /,
    *,
    probability: str,
    eps: float,
    rule: str = "monotone",
    ema_span: float | None = None,
    ema_fraction: float | None = None,
    fallback: str | float = "largest",
    groups: Any = None,
    pool: Pool | float = "max",
    xp: Namespace | None = None,
) -> Array:
    r"""Per-sample ``sigma_min`` from classifier probabilities on a grid of noise levels.

    Parameters
    ----------
    probs : array
        Classifier probabilities of shape ``(N, G)`` or ``(N, G, draws)`` (averaged over the draws),
        or ``(G,)`` for one sample; entries in ``[0, 1]``.
    grid : array or sequence of float
        ``(G,)`` strictly increasing noise levels, in any schedule's units; the result is in the same units.
    probability : {"clean", "corrupt"}
        Which class ``probs`` is the probability of. Required: a sigmoid output may be either.
    eps : float
        Threshold in ``[0, 1/2)``: the sample looks clean where ``p_clean > 1/2 - eps``.
    rule : {"monotone", "first"}
        ``"monotone"``: smallest grid level from which the criterion holds at every larger level.
        ``"first"``: first grid level where it holds.
    ema_span : float, optional
        Smooth the draw-averaged trajectory along ascending ``sigma`` with :func:`ema` of this span in
        grid steps before thresholding; a span longer than the grid raises :class:`GridTooShortError`.
    ema_fraction : float, optional
        The span as a fraction in ``(0, 1]`` of the grid's length instead: ``max(1, ema_fraction * G)``
        steps (1 is no smoothing). ``1/64`` is Ambient-o's span of 32 on its 2048 levels.
    fallback : "largest", "inf" or float
        Level of a sample for which the rule finds no level: the largest grid level (used only above
        the grid: every grid builder ends below pure noise, so every sampler can draw it), ``inf``
        (never used at any noise level) or the given number. How many took it is logged; when all
        did, :class:`AllFallbackWarning` is raised as a warning.
    groups : array or sequence, optional
        One hashable label per sample (a demonstration, a source, a quality bucket): every sample
        of a group gets one level, pooled by ``pool``. Pooling reads the values on the host.
    pool : {"max", "median", "mean_trajectory"} or float
        How a group's samples make its level. ``"max"`` (the default, the conservative choice): the
        largest of the members' own levels, so no sample's level drops. A number ``q`` in ``[0, 1]``:
        the members' ``q``-quantile (inverted CDF, a member's level); ``"median"``: the median of the
        members' levels, as in :func:`source_sigma_min`. Both let a group's few corrupt-looking
        samples be trusted lower than they would be alone. ``"mean_trajectory"``: the rule applied to
        the group's mean trajectory (all members' draws averaged per level), i.e. the classifier-mean
        criterion of :func:`sigma_min_from_classifier_mean` for the group's own data: robust to one
        sample's noise, not conservative per sample. A fallback applies to a whole group.
    xp : namespace, optional
        Array namespace; inferred from ``probs`` and ``grid`` when omitted.

    Returns
    -------
    array
        ``(N,)`` levels (``()`` for one sample) in ``grid``'s units and dtype. Each is a grid point
        (the first one at or above the crossing) or the fallback; with ``groups``, the same for every
        sample of a group.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import select_sigma_min
    >>> grid = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    >>> p_corrupt = np.array([[0.9, 0.5, 0.8, 0.52, 0.5]])          # a dip at 0.2
    >>> select_sigma_min(p_corrupt, grid, probability="corrupt", eps=0.05, rule="first")
    array([0.2])
    >>> select_sigma_min(p_corrupt, grid, probability="corrupt", eps=0.05, rule="monotone")
    array([0.4])

    One level per demonstration: the straight-segment chunk 1 of demonstration ``"a"`` looks clean
    at every level, but it carries its demonstration's level.

    >>> p_clean = np.array([[0.0, 0.0, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5], [0.0, 0.5, 0.5, 0.5, 0.5]])
    >>> select_sigma_min(p_clean, grid, probability="clean", eps=0.05)                 # per sample
    array([0.3, 0.1, 0.2])
    >>> select_sigma_min(p_clean, grid, probability="clean", eps=0.05, groups=["a", "a", "b"])
    array([0.3, 0.3, 0.2])
    """
    xp = resolve({"probs": probs, "grid": grid}, xp)
    kind = check_probability_class(probability)
    threshold = check_eps(eps)
    rule = check_rule(rule)
    fb = check_fallback(fallback)
    how = check_pool(pool, groups)
    check_probabilities(probs, "probs", xp)
    grid = as_grid(grid, probs, xp)
    span = smoothing_span(ema_span, ema_fraction, int(grid.shape[0]))
    p = mean_over_draws(probs, grid.shape[0], xp)
    if groups is not None and p.ndim != 2:
        msg = f"groups= needs probs with a sample axis, shape (N, G) or (N, G, draws), got {tuple(probs.shape)}"
        raise ValueError(msg)
    codes = None if groups is None else group_codes(groups, int(p.shape[0]))[0]
    if codes is not None and how == "mean_trajectory":
        p, codes = group_mean(p, codes, xp)  # one trajectory per group; the EMA is linear: order is immaterial
    if span is not None:
        p = ema(p, span=span, xp=xp)
    index, found = crossing_index(looks_clean(p, kind, threshold), rule, xp)
    report_fallback(found, "select_sigma_min", xp)
    levels = levels_at(grid, index, found, fb, xp)
    if codes is None:
        return levels
    if how == "mean_trajectory":
        return xp.take(levels, xp.asarray(codes, device=device_of(levels)), axis=0)
    return source_sigma_min(levels, codes, reduce=how, xp=xp)[0]


def mean_over_draws(probs: Array, n_levels: int, xp: Namespace) -> Array:
    """Check the layout ``(G,)``, ``(N, G)`` or ``(N, G, draws)`` and average the draws (compute dtype)."""
    if probs.ndim not in (1, 2, 3):
        msg = f"probs must have shape (G,), (N, G) or (N, G, draws), got {tuple(probs.shape)}"
        raise ValueError(msg)
    if probs.ndim >= 2 and probs.shape[0] == 0:
        msg = f"probs holds no samples (shape {tuple(probs.shape)}); the dataset is empty"
        raise ValueError(msg)
    axis = 0 if probs.ndim == 1 else 1
    if probs.shape[axis] != n_levels:
        msg = (
            f"probs has {probs.shape[axis]} levels on axis {axis} (shape {tuple(probs.shape)}) "
            f"but grid has {n_levels}; expected the grid axis to match"
        )
        raise ValueError(msg)
    if probs.ndim == 3 and probs.shape[2] == 0:
        msg = f"probs has no noise draws (shape {tuple(probs.shape)})"
        raise ValueError(msg)
    p = cast(probs, compute_dtype(xp, probs), xp)
    return xp.mean(p, axis=-1) if probs.ndim == 3 else p


def select_with_preset(
    name: str,
    probs: Array,
    grid: Array,
    /,
    *,
    groups: Any = None,
    pool: Pool | float = "max",
    xp: Namespace | None = None,
    **overrides: Any,
) -> Array:
    """:func:`select_sigma_min` with the keywords of ``SELECTION_PRESETS[name]``, optionally overridden.

    ``groups`` and ``pool`` pool the levels per group as in :func:`select_sigma_min`.

    The smoothing keywords replace each other: ``ema_span=`` given here drops the preset's
    ``ema_fraction`` and the other way round.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import select_with_preset
    >>> p_corrupt = np.array([[0.9, 0.52, 0.7], [0.9, 0.505, 0.4]])
    >>> select_with_preset("ambient_utils", p_corrupt, np.array([1.0, 2.0, 3.0]))   # 0.52 < 0.51? no
    array([3., 2.])
    >>> select_with_preset("ambient_utils", p_corrupt, np.array([1.0, 2.0, 3.0]), eps=0.05)
    array([2., 2.])
    """
    if name not in SELECTION_PRESETS:
        valid = ", ".join(repr(k) for k in SELECTION_PRESETS)
        msg = f"unknown selection preset {name!r}; valid names are {valid}"
        raise ValueError(msg)
    unknown = set(overrides) - set(_KEYWORDS)
    if unknown:
        msg = f"unknown keyword(s) {sorted(unknown)} for select_sigma_min; valid: {sorted(_KEYWORDS)}"
        raise TypeError(msg)
    options = dict(SELECTION_PRESETS[name])
    if _SMOOTHING & set(overrides):
        options = {k: v for k, v in options.items() if k not in _SMOOTHING}
    return select_sigma_min(probs, grid, groups=groups, pool=pool, xp=xp, **{**options, **overrides})


_SMOOTHING = {"ema_span", "ema_fraction"}
_KEYWORDS = ("probability", "eps", "rule", "ema_span", "ema_fraction", "fallback")
