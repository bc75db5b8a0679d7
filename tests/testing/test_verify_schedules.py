"""``check_target_fn`` and the strategies on schedules beyond the named ones: random custom and library objects.

An implementation written for its own schedule is checked by handing the checker that schedule: a custom
:class:`~ambientloss.testing.gaussian.OracleSchedule` (formulas independent of the library) or the
:class:`ambientloss.Schedule` object itself (a :class:`~ambientloss.Discrete` table, say).
"""

from __future__ import annotations

import math
from functools import partial

import array_api_compat
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ambientloss as al
from ambientloss.testing.check import check_target_fn
from ambientloss.testing.gaussian import OracleSchedule
from ambientloss.testing.oracle_schedules import LibrarySchedule, custom_schedule, level_for_free, resolve
from ambientloss.testing.strategies import custom_schedules, edge_cases, level_pairs, level_shapes, schedules

N = 20
CUSTOM = [OracleSchedule("custom", k=0.7, c=1.3, p=1.6), OracleSchedule("custom", k=0.0, c=0.4, p=0.0)]


@pytest.mark.parametrize("oracle", CUSTOM, ids=["k0.7-c1.3-p1.6", "k0-c0.4-p0"])
@pytest.mark.parametrize("prediction", ["x0", "epsilon", "v", "velocity", "score"])
def test_library_target_passes_on_custom_schedules(oracle, prediction):
    fn = partial(al.ambient_target, prediction=prediction, schedule=custom_schedule(oracle))
    report = check_target_fn(fn, prediction=prediction, schedule=oracle, max_examples=N, seed=2)
    assert report.passed, str(report)


@pytest.mark.parametrize("prediction", ["x0", "epsilon", "v"])
def test_library_target_passes_on_a_discrete_table(prediction):
    table = al.Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100)
    fn = partial(al.ambient_target, prediction=prediction, schedule=table)
    report = check_target_fn(fn, prediction=prediction, schedule=table, max_examples=N, seed=4)
    assert report.passed, str(report)
    assert "Discrete" in report.schedule


def test_a_function_with_another_schedule_is_caught():
    """A target computed with the wrong custom schedule is biased for the declared one."""
    fn = partial(al.ambient_target, prediction="x0", schedule=custom_schedule(CUSTOM[0]))
    report = check_target_fn(fn, prediction="x0", schedule=CUSTOM[1], max_examples=N, seed=5)
    assert "unbiased" in report.failed, str(report)


def test_library_schedule_scalars_match_the_oracle():
    oracle = CUSTOM[0]
    lib = LibrarySchedule(custom_schedule(oracle))
    for level in (0.0, 0.2, 0.77, 1.0):
        want, got = oracle.scalars(level), lib.scalars(level)
        np.testing.assert_allclose([got.a, got.b, got.da, got.db], [want.a, want.b, want.da, want.db], rtol=1e-14)
    assert lib.lower == 0.0
    assert lib.upper == 1.0


@pytest.mark.parametrize("spec", ["vp", "ve", "flow", CUSTOM[0], al.Discrete.from_diffusers("linear")])
def test_level_for_free_inverts_schedule_free(spec):
    oracle = resolve(spec)
    for level in (0.05, 0.3, 0.9):
        assert math.isclose(level_for_free(oracle, oracle.schedule_free(level)), level, rel_tol=1e-12)


def test_velocity_without_derivatives_is_refused():
    bare = al.Custom(lambda t: 1 - t, lambda t: t)
    fn = partial(al.ambient_target, prediction="x0", schedule=bare)
    with pytest.raises(ValueError, match="derivatives"):
        check_target_fn(fn, prediction="velocity", schedule=bare)
    assert check_target_fn(fn, prediction="x0", schedule=bare, max_examples=5).passed


def test_unknown_schedule_objects_are_refused():
    with pytest.raises(TypeError, match="schedule must be"):
        check_target_fn(al.ambient_target, schedule=3.0)
    with pytest.raises(ValueError, match="unknown schedule"):
        check_target_fn(al.ambient_target, schedule="cosine")


# ------------------------------------------------------------------------------------------------
# strategies


@settings(max_examples=100, deadline=None)
@given(oracle=custom_schedules(), data=st.data())
def test_custom_schedules_are_valid_and_their_pairs_admissible(oracle, data):
    ts = np.linspace(0.0, 1.0, 33)
    free = np.array([oracle.schedule_free(t) for t in ts])
    assert np.all(np.diff(free) > 0)  # b / a increases
    s, m = data.draw(level_pairs(oracle))
    assert 0 <= m < s <= 1


@settings(max_examples=60, deadline=None)
@given(schedule=schedules(custom=True), m=st.floats(0.05, 0.9))
def test_edge_cases_for_any_schedule(schedule, m):
    cases = edge_cases(schedule, m)
    names = [c[0] for c in cases]
    assert names[0] == "one ulp above"
    assert names[-1] == "equal"
    assert ("top" in names) == (schedule == "vp" or not isinstance(schedule, str))
    for name, s, mm in cases[:-1]:
        assert s > mm >= 0, name


@settings(max_examples=100, deadline=None)
@given(pair=level_shapes())
def test_level_shapes_align_with_leading_axes(pair):
    shape, level_shape = pair
    assert 1 <= len(shape) <= 4
    assert shape[: len(level_shape)] == level_shape
    assert len(level_shape) == (0 if len(shape) == 1 else len(level_shape))
    assert len(level_shape) <= 2


def test_level_shapes_cover_per_step_levels_and_b_equal_t():
    seen = set()

    @settings(max_examples=150, database=None, deadline=None)
    @given(level_shapes())
    def collect(pair):
        shape, level_shape = pair
        seen.add(("rank", len(level_shape)))
        if len(shape) >= 2:
            seen.add(("square", shape[0] == shape[1]))

    collect()
    assert {("rank", 0), ("rank", 1), ("rank", 2), ("square", True), ("square", False)} <= seen


@settings(max_examples=40, deadline=None)
@given(pair=level_shapes(), seed=st.integers(0, 2**32 - 1))
def test_library_target_honours_per_step_levels(pair, seed):
    """The library's target applies (B,) and (B, T) levels along the leading axes, as the strategy promises."""
    shape, level_shape = pair
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(0.3, 0.9, level_shape)
    sigma_min = sigma * rng.uniform(0.0, 0.9, level_shape)
    x_t, x_tmin = rng.standard_normal(shape), rng.standard_normal(shape)
    got = al.ambient_target(x_t, x_tmin, sigma, sigma_min)
    pad = (...,) + (None,) * (len(shape) - len(level_shape))
    want = al.ambient_target(x_t, x_tmin, np.broadcast_to(sigma[pad], shape), np.broadcast_to(sigma_min[pad], shape))
    np.testing.assert_array_equal(got, want)


def test_library_never_returns_nan_where_a_custom_schedule_cannot_resolve_the_pair():
    """One ulp above ``sigma_min`` a custom schedule's ``D`` may round to zero: a clear error, never a NaN.

    Which of these pairs round ``D`` to zero or below depends on the last bits of ``cos``, ``sin`` and
    ``pow``, which differ between processors. So every pair of the schedule itself must give a finite
    target or the clear error; and the same formulas evaluated at the level rounded to a ``2**-20`` grid
    give one-ulp-apart pairs bit-identical ``a`` and ``b``, hence ``D == 0`` exactly: the error, always.
    """
    sched = custom_schedule(CUSTOM[0])
    x = np.ones((1, 3))
    levels = np.linspace(0.05, 0.95, 19)  # 2**20 m lies 0.1 from every rounding midpoint: m, m + ulp snap alike

    def snap(t):
        xp = array_api_compat.array_namespace(t)
        return xp.round(t * 2.0**20) / 2.0**20  # exact operations

    unresolved = al.Custom(lambda t: sched.a(snap(t)), lambda t: sched.b(snap(t)), name="custom-on-a-grid")
    for schedule, must_raise in ((sched, False), (unresolved, True)):
        messages = []
        for m in levels:
            s = np.nextafter(m, 2.0)
            try:
                out = al.ambient_target(x, x, np.array([s]), np.array([m]), schedule=schedule, prediction="epsilon")
            except ValueError as exc:
                messages.append(str(exc))
            else:
                assert np.all(np.isfinite(out))
        assert all("too close" in msg and "custom" in msg for msg in messages)
        if must_raise:
            assert len(messages) == levels.size


def test_custom_schedule_kernel_at_level_zero_is_the_identity():
    """The forward kernel takes ``sigma == sigma_min == 0`` (``D == 0``) on a custom schedule."""
    sched = custom_schedule(CUSTOM[0])
    x, z = np.ones((2, 2)), np.full((2, 2), 5.0)
    out = al.renoise(x, np.array([0.0, 0.6]), np.array([0.0, 0.3]), z, schedule=sched)
    np.testing.assert_array_equal(out[0], x[0])
    assert np.all(np.isfinite(out))
