r"""From per-sample ``sigma_min`` to shared levels: buckets, sources, and quality scores by quantile.

A per-sample ``sigma_min`` can bias the model: a corrupt sample that happens to look clean gets a small
level and is over-used at low noise. Sharing one level across a group trades that bias for fewer
low-noise samples:

* :func:`bucket_sigma_min`: samples split into ``n_buckets`` quantile buckets of their own values; every
  sample in a bucket gets the bucket's ``reduce`` (by default the maximum, so nobody's level drops).
  Tied values always share a bucket.
* :func:`source_sigma_min`: one level per data source (robot, simulator, web shard...), or per any
  group label (a demonstration, an episode, a quality bucket). The annotators' ``groups=`` / ``pool=``
  options (:func:`select_sigma_min`) pool through it.
* :func:`sigma_min_by_quality`: a level per quantile band of an external quality score (CLIP-IQA in
  Ambient-o's ImageNet run: the bottom 80-90 % get one ``sigma_min``). The band of a sample is read from
  its **rank**, the inverse of the sorting permutation, ``argsort(argsort(scores))``; the sorting
  permutation itself (one ``argsort``) lists sample indices, not ranks, and using it as the rank
  assigns bands essentially at random.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.arrays import Array, Namespace, check_floating, compute_dtype, device_of, is_scalar, to_numpy
from ._checks import resolve

__all__ = ["bucket_sigma_min", "quality_ranks", "sigma_min_by_quality", "source_sigma_min"]

_REDUCES = ("max", "min", "mean", "median")


def _values(values: Array, name: str, xp: Namespace) -> Array:
    check_floating(values, name, xp)
    if values.ndim != 1 or values.shape[0] == 0:
        msg = f"{name} must be a non-empty 1-D array (one value per sample), got shape {tuple(values.shape)}"
        raise ValueError(msg)
    if bool(xp.any(values != values)):
        msg = f"{name} must not contain NaN"
        raise ValueError(msg)
    return values


def _check_reduce(reduce: object) -> str | float:
    if reduce in _REDUCES:
        return str(reduce)
    if is_scalar(reduce) and 0.0 <= float(reduce) <= 1.0:  # type: ignore[arg-type]
        return float(reduce)  # type: ignore[arg-type]
    msg = f"reduce must be one of {_REDUCES} or a quantile in [0, 1], got {reduce!r}"
    raise ValueError(msg)


def _reduce(sorted_values: Array, how: str | float, xp: Namespace) -> Array:
    """``how`` of an ascending 1-D array (quantiles: the inverted-CDF value ``v[ceil(q n) - 1]``)."""
    n = int(sorted_values.shape[0])
    if how == "max":
        return sorted_values[-1]
    if how == "min":
        return sorted_values[0]
    if how == "mean":
        return xp.mean(sorted_values)
    if how == "median":
        return (sorted_values[(n - 1) // 2] + sorted_values[n // 2]) / 2
    return sorted_values[max(0, math.ceil(float(how) * n) - 1)]


def quality_ranks(scores: Array, /, *, higher_is_better: bool = True, xp: Namespace | None = None) -> Array:
    """Rank of every sample by quality, ``0`` for the worst: the inverse of the sorting permutation.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import quality_ranks
    >>> scores = np.array([0.9, 0.1, 0.5, 0.7])
    >>> quality_ranks(scores), np.argsort(scores)          # ranks vs the sorting permutation
    (array([3, 0, 1, 2]), array([1, 2, 3, 0]))
    """
    xp = resolve({"scores": scores}, xp)
    s = _values(scores, "scores", xp)
    order = xp.argsort(s if higher_is_better else -s, stable=True)  # worst first
    return xp.argsort(order, stable=True)


def sigma_min_by_quality(
    scores: Array,
    /,
    *,
    fractions: Sequence[float],
    levels: Sequence[float],
    higher_is_better: bool = True,
    xp: Namespace | None = None,
) -> Array:
    """``sigma_min`` per quality band: ranks below ``fractions[0] * N`` get ``levels[0]``, and so on.

    ``fractions`` increase in ``(0, 1)``; ``levels`` has one more entry, from the worst band to the best.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import sigma_min_by_quality
    >>> scores = np.array([0.9, 0.1, 0.5, 0.7, 0.3])
    >>> sigma_min_by_quality(scores, fractions=[0.8], levels=[0.2, 0.0])   # the bottom 80 %: 0.2
    array([0. , 0.2, 0.2, 0.2, 0.2])
    """
    xp = resolve({"scores": scores}, xp)
    fr = [float(f) for f in fractions]
    if not fr or any(not 0.0 < f < 1.0 for f in fr) or any(b <= a for a, b in itertools.pairwise(fr)):
        msg = f"fractions must be a non-empty increasing sequence in (0, 1), got {list(fractions)}"
        raise ValueError(msg)
    if len(levels) != len(fr) + 1:
        msg = f"levels must have len(fractions) + 1 = {len(fr) + 1} entries (worst band first), got {len(levels)}"
        raise ValueError(msg)
    ranks = quality_ranks(scores, higher_is_better=higher_is_better, xp=xp)
    n = int(scores.shape[0])
    dtype = compute_dtype(xp, scores)
    band = xp.zeros(ranks.shape, dtype=xp.int64, device=device_of(scores))
    for f in fr:
        band = band + xp.astype(xp.astype(ranks, xp.float64) >= f * n, xp.int64)
    table = xp.asarray([float(v) for v in levels], dtype=dtype, device=device_of(scores))
    return xp.take(table, band, axis=0)


def bucket_sigma_min(
    sigma_min: Array, /, *, n_buckets: int, reduce: str | float = "max", xp: Namespace | None = None
) -> Array:
    """Replace per-sample levels by the ``reduce`` of their quantile bucket (ties share a bucket).

    Sample ``i`` goes to bucket ``floor(r_i * n_buckets / N)``, ``r_i`` the number of samples with a
    strictly smaller value.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import bucket_sigma_min
    >>> bucket_sigma_min(np.array([0.1, 0.4, 0.2, 0.9, 0.3, 0.8]), n_buckets=2)
    array([0.3, 0.9, 0.3, 0.9, 0.3, 0.9])
    """
    xp = resolve({"sigma_min": sigma_min}, xp)
    values = _values(sigma_min, "sigma_min", xp)
    how = _check_reduce(reduce)
    if isinstance(n_buckets, bool) or not isinstance(n_buckets, (int, np.integer)) or n_buckets < 1:
        msg = f"n_buckets must be a positive integer, got {n_buckets!r}"
        raise ValueError(msg)
    n = int(values.shape[0])
    ordered = xp.sort(values)
    below = xp.searchsorted(ordered, values, side="left")  # samples strictly smaller
    bucket = (below * int(n_buckets)) // n
    out = xp.zeros_like(values)
    for b in range(int(n_buckets)):
        member = bucket == b
        if not bool(xp.any(member)):
            continue
        members = xp.sort(values[member])
        out = xp.where(member, _reduce(members, how, xp), out)
    return out


def group_codes(groups: Any, n: int, name: str = "groups") -> tuple[np.ndarray, list[Any]]:
    """``(codes, labels)``: the index of every sample's label in ``labels``, sorted by ``repr``.

    ``groups`` holds one hashable label per sample: a list, or a NumPy / backend array.
    """
    labels = to_numpy(groups) if hasattr(groups, "shape") else np.asarray(list(groups), dtype=object)
    if labels.shape != (n,):
        msg = f"{name} must hold one label per sample ({n}), got shape {labels.shape}"
        raise ValueError(msg)
    keys = labels.tolist()
    unique = sorted(set(keys), key=repr)
    code_of = {label: i for i, label in enumerate(unique)}
    return np.fromiter((code_of[k] for k in keys), dtype=np.int64, count=n), unique


def group_mean(rows: Array, groups: Any, xp: Namespace) -> tuple[Array, np.ndarray]:
    """``(means, codes)``: the mean of ``rows`` ``(N, ...)`` over each group's samples, ``(K, ...)``.

    Summed in float64 on the host in the samples' order within each group, so the result does not
    depend on how the samples were batched; returned in ``rows``' library, dtype and device.
    """
    codes, unique = group_codes(groups, int(rows.shape[0]))
    host = np.asarray(to_numpy(rows), dtype=np.float64)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(unique) + 1))
    sums = np.add.reduceat(host[order], bounds[:-1], axis=0)
    counts = np.diff(bounds).reshape((-1,) + (1,) * (host.ndim - 1))
    return xp.asarray(sums / counts, dtype=rows.dtype, device=device_of(rows)), codes


def source_sigma_min(
    sigma_min: Array, sources: Any, /, *, reduce: str | float = "max", xp: Namespace | None = None
) -> tuple[Array, dict[Any, float]]:
    """One level per source (or any group label): ``(per-sample levels, {source: level})``.

    ``sources`` holds one hashable label per sample (a list, or a NumPy / backend integer array): a
    data source, a demonstration, an episode, a quality bucket. ``reduce="max"`` is the conservative
    choice: no sample's level drops below its own.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import source_sigma_min
    >>> per_sample, table = source_sigma_min(np.array([0.2, 0.5, 0.0, 0.1]), ["sim", "sim", "real", "real"])
    >>> per_sample, table
    (array([0.5, 0.5, 0.1, 0.1]), {'real': 0.1, 'sim': 0.5})
    """
    xp = resolve({"sigma_min": sigma_min}, xp)
    values = _values(sigma_min, "sigma_min", xp)
    how = _check_reduce(reduce)
    host = to_numpy(values)
    codes, unique = group_codes(sources, int(values.shape[0]), "sources")
    order = np.lexsort((host, codes))  # by source, then by level: each source's levels sorted, side by side
    bounds = np.searchsorted(codes[order], np.arange(len(unique) + 1))
    ordered = host[order]
    levels = np.array([float(_reduce(ordered[bounds[i] : bounds[i + 1]], how, np)) for i in range(len(unique))])
    table = {label: float(levels[i]) for i, label in enumerate(unique)}
    return xp.asarray(levels[codes], dtype=values.dtype, device=device_of(values)), table
