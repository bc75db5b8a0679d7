"""Hypothesis strategies for testing ambient-diffusion targets (requires ``hypothesis``).

Levels are in the units of the schedule: VP ``s`` in ``(0, 1]``, VE ``sigma > 0``, rectified-flow
``t`` in ``(0, 1]``. :func:`level_pairs` mixes ordinary draws with the edge cases where
implementations go wrong: a clean sample (``sigma_min = 0``), ``sigma`` one ulp above ``sigma_min``,
the top of the VP schedule (``s = 1``) and tiny or huge VE levels.
"""

from __future__ import annotations

import math
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without the test extra
    msg = (
        "ambientloss.testing.strategies needs Hypothesis; install it with "
        '`pip install hypothesis` or `pip install "ambientloss[test]"`'
    )
    raise ImportError(msg) from exc

import numpy as np

from .gaussian import Gaussian, OracleSchedule, random_gaussian
from .oracle_schedules import resolve

__all__ = [
    "SCHEDULES",
    "batch_shapes",
    "custom_schedules",
    "edge_cases",
    "edge_level_pairs",
    "gaussians",
    "level_pairs",
    "level_shapes",
    "schedules",
]

#: named schedules the strategies and :func:`~ambientloss.testing.check.check_target_fn` know; they also
#: take a custom :class:`~ambientloss.testing.gaussian.OracleSchedule` or any :class:`ambientloss.Schedule`
SCHEDULES = ("vp", "ve", "flow")


def custom_schedules() -> st.SearchStrategy[OracleSchedule]:
    """A random member of the custom family ``a = cos(c t)^p / (1 + k t)``, ``b = sin(c t)`` on ``[0, 1]``.

    :func:`~ambientloss.testing.oracle_schedules.custom_schedule` turns a draw into the matching
    :class:`ambientloss.Custom` schedule for the implementation under test.
    """
    return st.builds(
        lambda k, c, p: OracleSchedule("custom", k=k, c=c, p=p),
        st.floats(0.0, 2.0),
        st.floats(0.3, 1.4),
        st.floats(0.0, 2.0),
    )


def schedules(*, custom: bool = False) -> st.SearchStrategy[Any]:
    """One of ``"vp"``, ``"ve"``, ``"flow"``; with ``custom`` also random :func:`custom_schedules`."""
    named = st.sampled_from(SCHEDULES)
    return st.one_of(named, custom_schedules()) if custom else named


def _span(schedule: Any) -> tuple[Any, float, float]:
    """The oracle and the range of ordinary levels: ``(1e-3, 1e3)`` in VE, the top 99.9% of a bounded domain."""
    oracle = resolve(schedule)
    if math.isinf(oracle.upper):
        return oracle, 1e-3, 1e3
    return oracle, oracle.lower + 1e-3 * (oracle.upper - oracle.lower), oracle.upper


def _inner(oracle: Any, lo: float, hi: float) -> tuple[float, float]:
    """The fractions ``lo..hi`` of a bounded domain (VE: ``1e-3..1e3`` whatever the fractions)."""
    if math.isinf(oracle.upper):
        return 1e-3, 1e3
    width = oracle.upper - oracle.lower
    return oracle.lower + lo * width, oracle.lower + hi * width


def _has_top(oracle: Any) -> bool:
    """The top of the domain is an edge worth checking: the VP ``s = 1``, or a custom top with ``a > 0``."""
    if oracle.name == "vp":
        return True
    return oracle.name not in ("ve", "flow") and oracle.scalars(oracle.upper).a > 0


def _regular_pair(schedule: Any, clean: bool, top: bool) -> st.SearchStrategy[tuple[float, float]]:
    oracle, lo, hi = _span(schedule)
    if math.isinf(oracle.upper):
        sigma = st.floats(math.log(lo), math.log(hi)).map(math.exp)  # VE levels span decades
    else:
        sigma = st.floats(lo, hi, exclude_max=_has_top(oracle) and not top)
    frac = st.floats(0.0, 0.98) if clean else st.floats(0.01, 0.98)  # sigma_min = frac * sigma < sigma
    return st.tuples(sigma, frac).map(lambda p: (p[0], p[0] * p[1]))


def edge_level_pairs(schedule: Any, *, clean: bool = True, top: bool = True) -> st.SearchStrategy[tuple[float, float]]:
    """Only the edge cases of :func:`level_pairs` for ``schedule``.

    ``sigma`` one ulp above ``sigma_min``; with ``clean`` also ``sigma_min = 0`` at small levels;
    with ``top`` the VP top ``s = 1`` (where the velocity prediction diverges, so pass ``top=False``
    for it; a custom schedule's top too); VE tiny (``1e-100``) and huge (``1e100``) levels.
    """
    oracle = resolve(schedule)
    ulp_lo, ulp_hi = _inner(oracle, 0.05, 0.95)
    above = st.floats(ulp_lo, ulp_hi).map(lambda m: (float(np.nextafter(m, math.inf)), m))
    options: list[st.SearchStrategy[tuple[float, float]]] = [above]
    if clean:
        small = (1e-3, 1e-2) if math.isinf(oracle.upper) else _inner(oracle, 1e-3, 1e-2)
        options.append(st.sampled_from(small).map(lambda s: (s, 0.0)))
    if top and _has_top(oracle):
        below = _inner(oracle, 0.0, 0.99)
        options.append(st.floats(*below).map(lambda m: (oracle.upper, m)))
    if oracle.name == "ve":
        options.append(st.sampled_from([(1e-100, 0.0), (1e-100, 5e-101), (1e100, 0.0), (1e100, 5e99)]))
    return st.one_of(options)


def edge_cases(schedule: Any, sigma_min: float, *, top: bool = True) -> list[tuple[str, float, float]]:
    """Every edge case around one trusted level, as ``(name, sigma, sigma_min)``.

    ``"one ulp above"`` (``sigma = nextafter(sigma_min)``), ``"clean"`` (``sigma_min = 0`` at a small
    ``sigma``), with ``top`` the ``"top"`` of a bounded domain (VP ``s = 1``, custom schedules), for VE
    ``"tiny"`` (``1e-100``) and ``"huge"`` (``1e100``) levels, and last ``"equal"`` (``sigma == sigma_min``,
    inadmissible: the case ``t == t_n``).
    """
    oracle = resolve(schedule)
    m = float(sigma_min)
    cases = [
        ("one ulp above", float(np.nextafter(m, math.inf)), m),
        ("clean", _inner(oracle, 1e-3, 1e-3)[0], 0.0),
    ]
    if top and _has_top(oracle):
        cases.append(("top", oracle.upper, m))
    if oracle.name == "ve":
        cases += [("tiny", 1e-100, 0.0), ("tiny", 1e-100, 5e-101), ("huge", 1e100, 0.0), ("huge", 1e100, 5e99)]
    cases.append(("equal", m, m))  # last: the admissible edges come first
    return cases


def level_pairs(
    schedule: Any, *, edges: bool = True, clean: bool = True, top: bool = True
) -> st.SearchStrategy[tuple[float, float]]:
    """``(sigma, sigma_min)`` with ``sigma > sigma_min >= 0`` in ``schedule``'s units.

    Parameters
    ----------
    schedule : str, OracleSchedule or ambientloss.Schedule
        ``"vp"``, ``"ve"``, ``"flow"``, a :func:`custom_schedules` draw or any library schedule.
    edges : bool
        Mix in :func:`edge_level_pairs` (about one draw in four).
    clean : bool
        Allow ``sigma_min = 0``.
    top : bool
        Allow the VP top ``s = 1``.
    """
    resolve(schedule)
    regular = _regular_pair(schedule, clean, top)
    if not edges:
        return regular
    return st.one_of(regular, regular, regular, edge_level_pairs(schedule, clean=clean, top=top))


def gaussians(d: int | st.SearchStrategy[int] = 3) -> st.SearchStrategy[Gaussian]:
    """A random well-conditioned :class:`~ambientloss.testing.gaussian.Gaussian` in ``d`` dimensions."""
    dims = d if isinstance(d, st.SearchStrategy) else st.just(int(d))
    return st.builds(lambda n, seed: random_gaussian(np.random.default_rng(seed), n), dims, st.integers(0, 2**32 - 1))


def batch_shapes(max_batch: int = 5, max_horizon: int = 6, max_dim: int = 4) -> st.SearchStrategy[tuple[int, int, int]]:
    """``(B, T, D)`` action-chunk shapes, with ``B == T`` (where a mis-broadcast level hides) often."""
    free = st.tuples(st.integers(1, max_batch), st.integers(1, max_horizon), st.integers(1, max_dim))
    square = st.integers(2, min(max_batch, max_horizon)).flatmap(
        lambda n: st.tuples(st.just(n), st.just(n), st.integers(1, max_dim))
    )
    return st.one_of(square, free)


def level_shapes(max_rank: int = 4, max_side: int = 4) -> st.SearchStrategy[tuple[tuple[int, ...], tuple[int, ...]]]:
    """``(data_shape, level_shape)`` for data of any rank with per-sample or per-``(B, T)`` levels.

    Data of rank 1 is one unbatched example with a scalar level ``()``; otherwise the levels are
    ``(B,)`` (one per sample) or, from rank 3 on, ``(B, T)`` (one per sample and time step of an action
    chunk), aligned with the leading axes of the data. ``B == T`` comes up often.
    """

    def build(shape: tuple[int, ...], per_step: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if len(shape) == 1:
            return shape, ()
        return shape, shape[:2] if per_step and len(shape) >= 3 else shape[:1]

    side = st.integers(1, max_side)
    shapes = st.one_of(
        st.lists(side, min_size=1, max_size=max_rank).map(tuple),
        st.integers(2, max_side).flatmap(lambda n: st.lists(side, max_size=max_rank - 2).map(lambda r: (n, n, *r))),
    )
    return st.builds(build, shapes, st.booleans())
