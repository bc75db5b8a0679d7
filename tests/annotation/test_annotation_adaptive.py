"""The adaptive (bisection) annotator equals the full-grid monotone rule on monotone classifiers."""

from __future__ import annotations

import importlib.util
import logging
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ambientloss.annotation import (
    AllFallbackWarning,
    CallCount,
    adaptive_sigma_min,
    bisection_cost,
    classifier_trajectory,
    select_sigma_min,
)

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TableClassifier:
    """P(clean) read from a per-sample table ``(N, G)``; sample id in channel 0, level found in the grid.

    With zero noise and the VE schedule ``x_sigma = x`` exactly, so channel 0 carries the sample id.
    """

    def __init__(self, table: np.ndarray, grid: np.ndarray) -> None:
        self.table, self.grid = table, grid
        self.batches: list[int] = []

    def __call__(self, x_sigma, sigma):
        self.batches.append(int(x_sigma.shape[0]))
        ids = np.asarray(x_sigma[:, 0]).astype(int)
        levels = np.searchsorted(self.grid, np.asarray(sigma))
        return self.table[ids, levels]


@st.composite
def monotone_problem(draw):
    n = draw(st.integers(1, 12))
    g = draw(st.integers(1, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # non-decreasing P(clean) per sample: sorted uniforms on a random sub-interval, sometimes flat
    lo = rng.uniform(0.0, 0.6, size=(n, 1))
    hi = lo + rng.uniform(0.0, 0.4, size=(n, 1))
    table = np.sort(rng.uniform(size=(n, g)), axis=1) * (hi - lo) + lo
    if draw(st.booleans()):
        table = np.round(table * 20) / 20  # plateaus and exact ties
    eps = draw(st.sampled_from([0.0, 0.01, 0.05, 0.2]))
    batch = draw(st.integers(1, 64))
    draws = draw(st.integers(1, 4))
    return table, eps, batch, draws


@given(monotone_problem())
def test_adaptive_equals_full_grid_monotone_rule(problem):
    table, eps, batch, draws = problem
    n, g = table.shape
    grid = np.cumsum(np.full(g, 0.5)) + 0.25
    x = np.zeros((n, 2))
    x[:, 0] = np.arange(n)
    noise = np.zeros((draws, 2))
    clf = TableClassifier(table, grid)
    full = classifier_trajectory(clf, x, grid, n_draws=draws, schedule="ve", noise=noise, batch_size=batch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AllFallbackWarning)
        want = select_sigma_min(full, grid, probability="clean", eps=eps, rule="monotone", fallback="inf")
        clf.batches.clear()
        res = adaptive_sigma_min(
            clf, x, grid, probability="clean", eps=eps, n_draws=draws, schedule="ve", noise=noise, batch_size=batch,
            fallback="inf",
        )  # fmt: skip
    np.testing.assert_array_equal(res.sigma_min, want)
    never = int(np.sum(np.isinf(want)))
    assert res.never_usable == never
    assert len(caught) == (2 if never == n else 0)  # both name an all-fallback result, and only that
    assert all(issubclass(w.category, AllFallbackWarning) for w in caught)
    assert res.evaluations <= n * bisection_cost(g, draws)
    assert res.calls == len(clf.batches)
    assert res.evaluations == sum(clf.batches)
    assert res.full_grid_evaluations == n * g * draws
    # the pool keeps calls full: only the last calls (bisection tails) may be short
    assert all(b <= batch for b in clf.batches)
    if batch >= draws:
        width = (batch // draws) * draws  # whole samples per call
        assert sum(b < width for b in clf.batches) <= math.ceil(math.log2(g)) + 2


def test_adaptive_equals_full_grid_with_seeded_draws_where_the_trajectory_is_a_step():
    """The Bayes classifier of two 1-D Gaussians (VE) with the library's own paired draws."""
    rng = np.random.default_rng(0)
    x = 1.0 + 0.3 * rng.normal(size=(200, 1))  # corrupt samples, q0 = N(1, 0.09); p0 = N(0, 0.09)
    grid = np.exp(np.linspace(np.log(0.01), np.log(20.0), 2048))

    def bayes(x_sigma, sigma):
        w = -1.0 / (0.09 + sigma**2)
        return 1.0 / (1.0 + np.exp(-w * (x_sigma[:, 0] - 0.5)))

    full = classifier_trajectory(bayes, x, grid, n_draws=4, schedule="ve", seed=3, batch_size=8192)
    holds = full.mean(axis=-1) > 0.45
    step = np.array([np.all(np.diff(h.astype(int)) >= 0) for h in holds])
    want = select_sigma_min(full, grid, probability="clean", eps=0.05, rule="monotone")
    counts = CallCount()
    res = adaptive_sigma_min(
        bayes, x, grid, probability="clean", eps=0.05, n_draws=4, schedule="ve", seed=3, batch_size=1024, counts=counts
    )
    assert step.mean() > 0.9  # most realised trajectories are steps; the others may legitimately differ
    # The two runs call the classifier in other batches, where its exp may round a row differently:
    # <= 3 ulp per probability (exp, 1 + e, 1 / .), <= 4 more in the mean of 4 draws and its division,
    # so draw-means agree within 16 eps. No draw-mean lies that close to the threshold 1/2 - eps, so
    # both runs take the same side at every level and the selections are equal exactly.
    assert np.min(np.abs(full.mean(axis=-1) - 0.45)) > 16 * np.finfo(np.float64).eps
    np.testing.assert_array_equal(res.sigma_min[step], want[step])
    per_sample = res.evaluations_per_sample
    assert per_sample <= bisection_cost(2048, 4) == 48
    assert 2048 * 4 / per_sample >= 100  # the goal: at least 100x fewer classifier evaluations
    assert (counts.calls, counts.evaluations) == (res.calls, res.evaluations)


def test_top_level_failure_uses_the_fallback_after_one_probe():
    grid = np.array([0.1, 0.2, 0.4, 0.8])
    table = np.array([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.5]])
    x = np.array([[0.0, 0.0], [1.0, 0.0]])
    clf = TableClassifier(table, grid)
    kw = {"probability": "clean", "eps": 0.05, "schedule": "ve", "noise": np.zeros((1, 2)), "n_draws": 1}
    res = adaptive_sigma_min(clf, x, grid, **kw)
    np.testing.assert_array_equal(res.sigma_min, [0.8, 0.8])  # sample 0: fallback; sample 1: the top level
    np.testing.assert_array_equal(res.index, [4, 3])
    res = adaptive_sigma_min(clf, x, grid, fallback="inf", **kw)
    np.testing.assert_array_equal(res.sigma_min, [math.inf, 0.8])
    res = adaptive_sigma_min(clf, x, grid, probability="corrupt", eps=0.05, fallback=9.0, **{
        k: v for k, v in kw.items() if k not in ("probability", "eps")
    })  # fmt: skip
    np.testing.assert_array_equal(res.sigma_min, [0.1, 0.1])  # as P(corrupt) these look clean everywhere


def test_call_counts_are_logged(caplog):
    grid = np.linspace(0.1, 1.0, 64)
    clf = TableClassifier(np.tile(np.linspace(0, 1, 64), (5, 1)), grid)
    x = np.zeros((5, 2))
    x[:, 0] = np.arange(5)
    with caplog.at_level(logging.INFO, logger="ambientloss.annotation"):
        res = adaptive_sigma_min(
            clf, x, grid, probability="clean", eps=0.05, n_draws=2, schedule="ve", noise=np.zeros((2, 2))
        )
    msg = [r.getMessage() for r in caplog.records if r.name == "ambientloss.annotation"]
    assert any(f"{res.calls} classifier calls" in m and "per sample (full grid: 128)" in m for m in msg), msg


def test_backends(backend):
    grid = np.linspace(0.05, 1.0, 100)

    def clf(x_sigma, sigma):  # P(clean) = sigma / (2 x0): monotone, crosses 0.45 at 0.9 x0 (x0 in channel 0)
        xp = __import__("array_api_compat").array_namespace(x_sigma)
        return xp.clip(sigma / (2 * x_sigma[:, 0]), 0.0, 1.0)

    x = np.array([[0.3, 0.0], [0.6, 0.0], [1.0, 0.0]])
    noise = np.zeros((2, 2))
    want = adaptive_sigma_min(clf, x, grid, probability="clean", eps=0.05, schedule="ve", noise=noise, n_draws=2)
    got = adaptive_sigma_min(
        clf, backend.asarray(x), backend.asarray(grid), probability="clean", eps=0.05, schedule="ve",
        noise=backend.asarray(noise), n_draws=2,
    )  # fmt: skip
    np.testing.assert_allclose(backend.to_numpy(got.sigma_min), want.sigma_min, rtol=1e-6)
    np.testing.assert_array_equal(backend.to_numpy(got.index), want.index)
    assert np.all(want.sigma_min >= 0.9 * x[:, 0])
    assert np.all(want.sigma_min - 0.9 * x[:, 0] <= grid[1] - grid[0] + 1e-12)


def test_bad_input():
    clf = TableClassifier(np.zeros((1, 2)), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="'clean' or 'corrupt'"):
        adaptive_sigma_min(clf, np.zeros((1, 2)), [0.1, 0.2], probability="p", eps=0.05)
    with pytest.raises(ValueError, match="empty"):
        adaptive_sigma_min(clf, np.zeros((0, 2)), [0.1, 0.2], probability="clean", eps=0.05)
    with pytest.raises(ValueError, match="strictly increasing"):
        adaptive_sigma_min(clf, np.zeros((1, 2)), [0.2, 0.1], probability="clean", eps=0.05)
    with pytest.raises(ValueError, match="one probability per input"):
        adaptive_sigma_min(lambda a, s: np.zeros((3, 3)), np.zeros((1, 2)), [0.1], probability="clean", eps=0.05)
