"""Argument checks shared by the annotation functions: probabilities, grids, thresholds, class names."""

from __future__ import annotations

import math
from typing import Any

from ..core.arrays import (
    Array,
    Namespace,
    check_floating,
    device_of,
    is_scalar,
    namespace,
    raise_where,
    values_readable,
)

PROBABILITY_CLASSES = ("clean", "corrupt")


def resolve(named: dict[str, Any], xp: Namespace | None) -> Namespace:
    """Namespace of the array arguments; lists and tuples are skipped (they are converted later)."""
    arrays = {k: v for k, v in named.items() if not isinstance(v, (list, tuple))}
    return namespace(arrays, xp)


def check_probability_class(probability: object) -> str:
    """``"clean"`` or ``"corrupt"``: which class the classifier's probabilities are of."""
    if probability not in PROBABILITY_CLASSES:
        msg = (
            f"probability must be 'clean' or 'corrupt' (the class whose probability the classifier "
            f"returns), got {probability!r}"
        )
        raise ValueError(msg)
    return str(probability)


def check_eps(eps: object, name: str = "eps") -> float:
    """A threshold ``eps`` in ``[0, 1/2)``."""
    if not is_scalar(eps):
        msg = f"{name} must be a number in [0, 0.5), got {type(eps).__name__}"
        raise TypeError(msg)
    value = float(eps)  # type: ignore[arg-type]
    if not 0.0 <= value < 0.5:
        msg = f"{name} must lie in [0, 0.5), got {value}"
        raise ValueError(msg)
    return value


def check_probabilities(p: Array, name: str, xp: Namespace) -> None:
    """Floating dtype, and (eagerly) every entry in ``[0, 1]`` and not NaN."""
    check_floating(p, name, xp)
    if not values_readable(p):
        return
    bad = ~((p >= 0) & (p <= 1))  # True at NaN
    raise_where(bad, xp, f"{name} must be probabilities in [0, 1] (no NaN); got {{v!r}}", v=p)


def as_grid(grid: Any, like: Array | None, xp: Namespace, name: str = "grid") -> Array:
    """A checked 1-D, finite, strictly increasing floating grid of at least one level."""
    if isinstance(grid, (list, tuple)):
        dtype = like.dtype if like is not None and xp.isdtype(like.dtype, "real floating") else xp.float64
        grid = xp.asarray([float(v) for v in grid], dtype=dtype, device=device_of(like) if like is not None else None)
    check_floating(grid, name, xp)
    if grid.ndim != 1 or grid.shape[0] < 1:
        msg = f"{name} must be a non-empty 1-D array of noise levels, got shape {tuple(grid.shape)}"
        raise ValueError(msg)
    if values_readable(grid):
        finite = (grid == grid) & (xp.abs(grid) < math.inf)
        raise_where(~finite, xp, f"{name} must be finite (no NaN or inf); got {{v!r}}", v=grid)
        if grid.shape[0] > 1:
            lo, hi = grid[:-1], grid[1:]
            raise_where(
                ~(hi > lo),
                xp,
                f"{name} must be strictly increasing; got {{a!r}} followed by {{b!r}}",
                a=lo,
                b=hi,
            )
    return grid


def check_fallback(fallback: object) -> float | None:
    """``"largest"`` gives ``None``; ``"inf"`` gives ``inf``; a number (not NaN) gives itself."""
    if fallback == "largest":
        return None
    if fallback == "inf":
        return math.inf
    if is_scalar(fallback) and not math.isnan(float(fallback)):  # type: ignore[arg-type]
        return float(fallback)  # type: ignore[arg-type]
    msg = f"fallback must be 'largest', 'inf' or a number (not NaN), got {fallback!r}"
    raise ValueError(msg)
