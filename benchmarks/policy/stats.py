"""Summaries over seeds: mean, sample standard deviation and a 95 % Student-t interval for the mean."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["interval", "summary"]


def interval(values: Sequence[float]) -> tuple[float, float]:
    """95 % t interval ``(low, high)`` for the mean of ``values`` (a point for one value)."""
    v = np.asarray(values, dtype=np.float64)
    m = float(v.mean())
    if v.size < 2:
        return m, m
    from scipy import stats

    half = float(stats.t.ppf(0.975, v.size - 1)) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return m - half, m + half


def summary(values: Sequence[float]) -> dict[str, float]:
    """``mean``, ``std`` (ddof 1; 0 for one value), ``low``, ``high`` (95 % interval) and ``n``.

    Examples
    --------
    >>> s = summary([0.8, 0.9, 1.0])
    >>> round(s["mean"], 3), round(s["std"], 3), round(s["high"] - s["mean"], 3)
    (0.9, 0.1, 0.248)
    """
    v = np.asarray(values, dtype=np.float64)
    low, high = interval(values)
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "low": low,
        "high": high,
        "n": int(v.size),
    }
