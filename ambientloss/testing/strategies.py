"""Hypothesis strategies for testing ambient-diffusion targets (requires ``hypothesis``).

Levels are in the units of the schedule: VP ``s`` in ``(0, 1]``, VE ``sigma > 0``, rectified-flow
``t`` in ``(0, 1]``. :func:`level_pairs` mixes ordinary draws with the edge cases where
implementations go wrong: a clean sample (``sigma_min = 0``), ``sigma`` one ulp above ``sigma_min``,
the top of the VP schedule (``s = 1``) and tiny or huge VE levels.
"""

from __future__ import annotations

import math

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without the test extra
    msg = (
        "ambientloss.testing.strategies needs Hypothesis; install it with "
        '`pip install hypothesis` or `pip install "ambientloss[test]"`'
    )
    raise ImportError(msg) from exc

import numpy as np

from .gaussian import Gaussian, random_gaussian

__all__ = ["SCHEDULES", "batch_shapes", "edge_cases", "edge_level_pairs", "gaussians", "level_pairs", "schedules"]

#: schedules the strategies and :func:`~ambientloss.testing.check.check_target_fn` know
SCHEDULES = ("vp", "ve", "flow")

_RANGES = {"vp": (1e-3, 1.0), "ve": (1e-3, 1e3), "flow": (1e-3, 1.0)}


def schedules() -> st.SearchStrategy[str]:
    """One of ``"vp"``, ``"ve"``, ``"flow"``."""
    return st.sampled_from(SCHEDULES)


def _check_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        msg = f"unknown schedule {schedule!r}; valid values are {', '.join(map(repr, SCHEDULES))}"
        raise ValueError(msg)


def _regular_pair(schedule: str, clean: bool, top: bool) -> st.SearchStrategy[tuple[float, float]]:
    lo, hi = _RANGES[schedule]
    log_uniform = st.floats(math.log(lo), math.log(hi)).map(math.exp)  # VE levels span decades
    sigma = log_uniform if schedule == "ve" else st.floats(lo, hi, exclude_max=schedule == "vp" and not top)
    frac = st.floats(0.0, 0.98)  # sigma_min = frac * sigma < sigma
    if not clean:
        frac = st.floats(0.01, 0.98)
    return st.tuples(sigma, frac).map(lambda p: (p[0], p[0] * p[1]))


def edge_level_pairs(schedule: str, *, clean: bool = True, top: bool = True) -> st.SearchStrategy[tuple[float, float]]:
    """Only the edge cases of :func:`level_pairs` for ``schedule``.

    ``sigma`` one ulp above ``sigma_min``; with ``clean`` also ``sigma_min = 0`` at small levels;
    with ``top`` the VP top ``s = 1`` (where the velocity prediction diverges, so pass ``top=False``
    for it); VE tiny (``1e-100``) and huge (``1e100``) levels.
    """
    _check_schedule(schedule)
    lo, hi = _RANGES[schedule]
    ulp_lo = 0.05 if schedule != "ve" else lo
    ulp_hi = 0.95 if schedule != "ve" else hi
    above = st.floats(ulp_lo, ulp_hi).map(lambda m: (float(np.nextafter(m, math.inf)), m))
    options: list[st.SearchStrategy[tuple[float, float]]] = [above]
    if clean:
        options.append(st.sampled_from([1e-3, 1e-2]).map(lambda s: (s, 0.0)))
    if schedule == "vp" and top:
        options.append(st.floats(0.0, 0.99).map(lambda m: (1.0, m)))
    if schedule == "ve":
        options.append(st.sampled_from([(1e-100, 0.0), (1e-100, 5e-101), (1e100, 0.0), (1e100, 5e99)]))
    return st.one_of(options)


def edge_cases(schedule: str, sigma_min: float, *, top: bool = True) -> list[tuple[str, float, float]]:
    """Every edge case around one trusted level, as ``(name, sigma, sigma_min)``.

    ``"one ulp above"`` (``sigma = nextafter(sigma_min)``), ``"clean"`` (``sigma_min = 0`` at a small
    ``sigma``), with ``top`` the VP ``"top"`` (``s = 1``), for VE ``"tiny"`` (``1e-100``) and ``"huge"``
    (``1e100``) levels, and last ``"equal"`` (``sigma == sigma_min``, inadmissible: the case ``t == t_n``).
    """
    _check_schedule(schedule)
    m = float(sigma_min)
    cases = [
        ("one ulp above", float(np.nextafter(m, math.inf)), m),
        ("clean", 1e-3, 0.0),
    ]
    if schedule == "vp" and top:
        cases.append(("top", 1.0, m))
    if schedule == "ve":
        cases += [("tiny", 1e-100, 0.0), ("tiny", 1e-100, 5e-101), ("huge", 1e100, 0.0), ("huge", 1e100, 5e99)]
    cases.append(("equal", m, m))  # last: the admissible edges come first
    return cases


def level_pairs(
    schedule: str, *, edges: bool = True, clean: bool = True, top: bool = True
) -> st.SearchStrategy[tuple[float, float]]:
    """``(sigma, sigma_min)`` with ``sigma > sigma_min >= 0`` in ``schedule``'s units.

    Parameters
    ----------
    schedule : str
        ``"vp"``, ``"ve"`` or ``"flow"``.
    edges : bool
        Mix in :func:`edge_level_pairs` (about one draw in four).
    clean : bool
        Allow ``sigma_min = 0``.
    top : bool
        Allow the VP top ``s = 1``.
    """
    _check_schedule(schedule)
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
