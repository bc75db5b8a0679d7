"""Bin sorting: env mechanics, layouts, input checks, and the scripted expert replayed through the env."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.sorting import env, expert

LAYOUT = env.make_layout(None)
LEFT_BIN = (0.24, 0.82)  # centre of bin 0 in the default layout
RIGHT_BIN = (0.76, 0.82)


def _env(gripper=(0.5, 0.3), obj=(0.5, 0.3), colour=0, **kwargs) -> env.BatchEnv:
    tasks = env.Tasks(np.array([gripper], float), np.array([obj], float), np.array([colour]))
    return env.BatchEnv(LAYOUT, tasks, **kwargs)


def _go(e: env.BatchEnv, x: float, y: float, grip: float) -> None:
    """Step until the gripper reaches ``(x, y)`` (or the episode ends), holding the grip command."""
    for _ in range(100):
        e.step(np.array([[x, y, grip]]))
        if e.done[0] or np.allclose(e.gripper[0], (x, y)):
            return


def _replay(layout: env.Layout, tasks: env.Tasks, demos: list) -> env.BatchEnv:
    """Run every demo's actions side by side in one env (shorter demos repeat their last action)."""
    e = env.BatchEnv(layout, tasks)
    horizon = max(len(a) for _, a in demos)
    for t in range(horizon):
        e.step(np.stack([a[min(t, len(a) - 1)] for _, a in demos]))
    return e


# ---------------------------------------------------------------------------------------------- mechanics


def test_first_observation_layout():
    e = _env(gripper=(0.2, 0.3), obj=(0.6, 0.25), colour=1)
    assert (e.obs_dim, e.action_dim) == (9, 3)
    np.testing.assert_array_equal(e.observe(), [[0.2, 0.3, 0.2, 0.3, -1.0, 0.6, 0.25, 1.0, 0.0]])
    assert _env(colour=0).observe()[0, 7] == -1.0
    assert e.observe().dtype == np.float64


def test_speed_is_clipped_and_previous_position_observed():
    e = _env(gripper=(0.2, 0.2))
    e.step(np.array([[0.8, 1.0, -1.0]]))
    moved = e.gripper[0] - (0.2, 0.2)
    assert np.linalg.norm(moved) == pytest.approx(env.MAX_SPEED)
    np.testing.assert_allclose(moved / np.linalg.norm(moved), np.array([0.6, 0.8]))
    np.testing.assert_allclose(e.observe()[0, 2:4], (0.2, 0.2))
    e.step(np.array([[e.gripper[0, 0] + 0.01, e.gripper[0, 1], -1.0]]))  # short moves are exact
    assert np.linalg.norm(e.gripper[0] - e.observe()[0, 2:4]) == pytest.approx(0.01)


def test_gripper_stays_in_the_unit_square():
    e = _env(gripper=(0.01, 0.5))
    e.step(np.array([[-0.5, 0.5, -1.0]]))
    np.testing.assert_array_equal(e.gripper[0], (0.0, 0.5))


@pytest.mark.parametrize(("gap", "picked"), [(0.0, True), (0.029, True), (0.031, False), (0.2, False)])
def test_grasp_radius(gap, picked):
    e = _env(gripper=(0.5 + gap, 0.3), obj=(0.5, 0.3))
    e.step(np.array([[0.5 + gap, 0.3, 1.0]]))
    assert bool(e.holding[0]) is picked
    assert e.observe()[0, 8] == float(picked)
    assert e.observe()[0, 4] == 1.0


def test_closing_counts_only_on_the_open_to_closed_step():
    e = _env(gripper=(0.3, 0.3), obj=(0.5, 0.3))
    e.step(np.array([[0.3, 0.3, 1.0]]))  # close on nothing
    _go(e, 0.5, 0.3, 1.0)  # sweep over the object with a closed gripper
    assert not e.holding[0]
    e.step(np.array([[0.5, 0.3, -1.0]]))
    e.step(np.array([[0.5, 0.3, 1.0]]))
    assert e.holding[0]


def test_a_missed_close_can_be_undone_and_is_counted():
    e = _env(gripper=(0.3, 0.3), obj=(0.5, 0.3))
    e.step(np.array([[0.3, 0.3, 1.0]]))  # closes on nothing
    m = e.metrics()
    assert m["missed"][0]
    assert not m["reopened"][0]
    assert e.observe()[0, 4] == 1.0  # closed ...
    assert e.observe()[0, 8] == 0.0  # ... and empty, as the policy sees it
    e.step(np.array([[0.3, 0.3, -1.0]]))  # reopens
    _go(e, 0.5, 0.3, -1.0)
    e.step(np.array([[0.5, 0.3, 1.0]]))
    m = e.metrics()
    assert e.holding[0]
    assert m["missed"][0]
    assert m["reopened"][0]
    held = _env()
    held.step(np.array([[0.5, 0.3, 1.0]]))  # a close that picks is no miss; opening while holding is a release
    held.step(np.array([[0.5, 0.3, -1.0]]))
    assert not held.metrics()["missed"][0]
    assert not held.metrics()["reopened"][0]


def test_held_object_moves_with_the_gripper_at_its_offset():
    e = _env(gripper=(0.52, 0.3), obj=(0.5, 0.3))
    e.step(np.array([[0.52, 0.3, 1.0]]))
    _go(e, 0.6, 0.4, 1.0)
    np.testing.assert_allclose(e.object[0], (0.58, 0.4))
    np.testing.assert_allclose(e.observe()[0, 5:7], (0.58, 0.4))


def test_drop_outside_a_bin_does_not_count_and_the_object_can_be_picked_again():
    e = _env(colour=1)
    e.step(np.array([[0.5, 0.3, 1.0]]))
    _go(e, 0.5, 0.6, 1.0)
    e.step(np.array([[0.5, 0.6, -1.0]]))  # between the bins' rows: on the table
    assert not e.done[0]
    assert not e.holding[0]
    np.testing.assert_allclose(e.object[0], (0.5, 0.6))
    m = e.metrics()
    assert not m["completion"][0]
    assert not m["logic"][0]
    assert m["bin"][0] == -1
    _go(e, 0.3, 0.6, -1.0)  # the open gripper leaves the object behind
    np.testing.assert_allclose(e.object[0], (0.5, 0.6))
    _go(e, 0.5, 0.6, -1.0)
    e.step(np.array([[0.5, 0.6, 1.0]]))
    _go(e, *RIGHT_BIN, 1.0)
    e.step(np.array([[*RIGHT_BIN, -1.0]]))
    m = e.metrics()
    assert e.done[0]
    assert m["completion"][0]
    assert m["logic"][0]
    assert m["bin"][0] == 1


def test_wrong_bin_completes_without_logic():
    e = _env(colour=1)
    e.step(np.array([[0.5, 0.3, 1.0]]))
    _go(e, *LEFT_BIN, 1.0)
    e.step(np.array([[*LEFT_BIN, -1.0]]))
    m = e.metrics()
    assert e.done[0]
    assert m["completion"][0]
    assert not m["logic"][0]


def test_done_episodes_ignore_actions_and_the_budget_ends_episodes():
    tasks = env.Tasks(np.array([[0.5, 0.3], [0.2, 0.2]]), np.array([[0.5, 0.3], [0.8, 0.2]]), np.array([0, 1]))
    e = env.BatchEnv(LAYOUT, tasks, max_steps=40)
    e.step(np.array([[0.5, 0.3, 1.0], [0.2, 0.2, -1.0]]))
    for _ in range(20):
        e.step(np.array([[*LEFT_BIN, 1.0], [0.2, 0.2, -1.0]]))
    e.step(np.array([[*LEFT_BIN, -1.0], [0.2, 0.2, -1.0]]))
    assert e.done.tolist() == [True, False]
    frozen, steps = e.observe()[0], e.metrics()["steps"][0]
    for _ in range(40):
        e.step(np.array([[0.9, 0.1, 1.0], [0.2, 0.2, -1.0]]))
    np.testing.assert_array_equal(e.observe()[0], frozen)
    assert e.metrics()["steps"].tolist() == [steps, 40]
    assert e.done.tolist() == [True, True]
    assert e.metrics()["completion"].tolist() == [True, False]
    trace = e.trace
    assert trace.shape == (2, 63, 2)
    np.testing.assert_array_equal(trace[0, steps:], np.broadcast_to(frozen[:2], (63 - steps, 2)))


# ------------------------------------------------------------------------------------------ layouts, checks


def test_layouts_are_deterministic_and_seeded_ones_differ():
    default = env.make_layout(None)
    assert default.name == "default"
    np.testing.assert_array_equal(default.bins, env.make_layout(None).bins)
    seen = [default.bins]
    for seed in range(6):
        a, b = env.make_layout(seed), env.make_layout(seed)
        np.testing.assert_array_equal(a.bins, b.bins)
        np.testing.assert_array_equal(a.object_region, b.object_region)
        assert not any(np.array_equal(a.bins, s) for s in seen)
        assert not np.array_equal(a.object_region, default.object_region)
        seen.append(a.bins)
        assert a.bins[0, 2] < a.bins[1, 0]  # bin 0 left of bin 1, apart
        assert a.object_region[3] < a.bins[:, 1].min() - 0.1  # objects well below the bins


def test_sample_tasks_and_bin_of():
    tasks = env.sample_tasks(LAYOUT, 200, np.random.default_rng(0))
    assert tasks.gripper_start.shape == (200, 2)
    assert tasks.object_pos.shape == (200, 2)
    assert set(tasks.colour.tolist()) == {0, 1}
    o = LAYOUT.object_region
    assert np.all((tasks.object_pos >= o[:2]) & (tasks.object_pos <= o[2:]))
    assert env.bin_of(LAYOUT, np.array([LEFT_BIN, RIGHT_BIN, (0.5, 0.82)])).tolist() == [0, 1, -1]


def test_input_checks():
    e = _env()
    with pytest.raises(ValueError, match="actions"):
        e.step(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="actions"):
        e.step(np.zeros(3))
    with pytest.raises(ValueError, match="actions"):
        e.step(np.array([[np.nan, 0.0, 1.0]]))
    with pytest.raises(ValueError, match="tasks"):
        env.BatchEnv(LAYOUT, env.Tasks(np.zeros((2, 2)), np.zeros((3, 2)), np.zeros(2, int)))
    with pytest.raises(ValueError, match="tasks"):
        env.BatchEnv(LAYOUT, env.Tasks(np.zeros((1, 2)), np.zeros((1, 2)), np.array([2])))
    with pytest.raises(ValueError, match="rule"):
        expert.expert_demos(LAYOUT, 1, np.random.default_rng(0), rule="best")
    with pytest.raises(ValueError, match="overlap"):
        env.Layout(np.array([[0.1, 0.7, 0.6, 0.9], [0.5, 0.7, 0.9, 0.9]]), LAYOUT.object_region, LAYOUT.start_region)
    with pytest.raises(TypeError, match="seed"):
        env.make_layout(1.5)


# ------------------------------------------------------------------------------------------------- expert


@pytest.mark.parametrize("layout_seed", [None, 3])
@pytest.mark.parametrize("rule", expert.RULES)
def test_expert_succeeds_for_every_rule(rule, layout_seed):
    layout = env.make_layout(layout_seed)
    n = 50
    demos = expert.expert_demos(layout, n, np.random.default_rng(1), rule=rule)
    rng = np.random.default_rng(1)  # same draws as expert_demos: tasks, then one plan per task
    tasks = env.sample_tasks(layout, n, rng)
    plans = [expert.plan_expert(layout, env.Tasks(*(a[i] for a in tasks)), rng, rule=rule) for i in range(n)]
    m = _replay(layout, tasks, demos).metrics()
    assert m["completion"].all()
    np.testing.assert_array_equal(m["bin"], [p.bin for p in plans])
    if rule == "correct":
        np.testing.assert_array_equal(m["bin"], tasks.colour)
        assert m["logic"].all()
    elif rule == "swapped":
        np.testing.assert_array_equal(m["bin"], 1 - tasks.colour)
        assert not m["logic"].any()
    else:
        assert 0.2 < m["logic"].mean() < 0.8
    assert (m["steps"] <= 90).all()
    assert 40 <= np.median(m["steps"]) <= 70


def test_demos_are_smooth_exactly_tracked_and_recorded_from_the_env():
    layout = env.make_layout(None)
    tasks = env.sample_tasks(layout, 20, np.random.default_rng(2))
    for i in range(20):
        task = env.Tasks(*(a[i] for a in tasks))
        obs, actions = expert.expert_episode(layout, task, np.random.default_rng(i), rule="correct")
        assert obs.shape == (len(actions), 9)
        assert actions.shape[1] == 3
        assert set(np.unique(actions[:, 2]).tolist()) == {-1.0, 1.0}
        path = np.vstack([task.gripper_start, actions[:, :2]])
        assert np.linalg.norm(np.diff(path, axis=0), axis=1).max() <= 0.9 * env.MAX_SPEED
        assert np.abs(np.diff(path, n=3, axis=0)).max() < 0.012  # bounded jerk
        np.testing.assert_array_equal(obs[0], _env(task.gripper_start, task.object_pos, task.colour).observe()[0])
        np.testing.assert_allclose(obs[1:, :2], actions[:-1, :2], atol=1e-12)  # the env executes the plan
        np.testing.assert_array_equal(obs[1:, 4], actions[:-1, 2])
        np.testing.assert_array_equal(actions[-expert.HOLD_STEPS :], np.repeat(actions[-1:], expert.HOLD_STEPS, 0))


def test_rules_share_the_motion_and_differ_only_in_the_bin():
    task = env.Tasks(np.array([0.3, 0.5]), np.array([0.6, 0.2]), np.array(0))
    plans = {rule: expert.plan_expert(LAYOUT, task, np.random.default_rng(7), rule=rule) for rule in expert.RULES}
    assert (plans["correct"].bin, plans["swapped"].bin) == (0, 1)
    a, b = plans["correct"], plans["swapped"]
    n_approach = int(np.argmax(a.grips > 0))
    np.testing.assert_array_equal(a.positions[: n_approach + 1], b.positions[: n_approach + 1])
    np.testing.assert_array_equal(a.grips[: n_approach + 1], b.grips[: n_approach + 1])


def test_demonstrations_of_both_sources_show_the_missed_close_alike():
    n = 200
    demos = {r: expert.expert_demos(LAYOUT, n, np.random.default_rng(3), rule=r) for r in ("correct", "random")}
    rng = np.random.default_rng(3)  # the same draws as expert_demos: tasks, then one plan per task
    tasks = env.sample_tasks(LAYOUT, n, rng)
    plans = [expert.plan_expert(LAYOUT, env.Tasks(*(a[i] for a in tasks)), rng, rule="correct") for i in range(n)]
    missed = np.array([p.missed for p in plans])
    assert 0.1 < missed.mean() < 0.3  # MISS_RATE 0.2: binomial sd 0.028 on 200, fixed seed
    for rule, ds in demos.items():
        m = _replay(LAYOUT, tasks, ds).metrics()
        assert m["completion"].all(), rule  # every demonstration still puts the object in its bin
        np.testing.assert_array_equal(m["missed"], missed)  # the same demonstrations miss under both rules
        np.testing.assert_array_equal(m["reopened"], missed)
        for (obs, act), miss in zip(ds, missed, strict=True):
            empty_closed = (obs[:, 4] > 0) & (obs[:, 8] == 0)
            # a missed close shows the closed, empty gripper and then the open command that undoes it
            assert empty_closed.any() == miss
            assert (act[empty_closed, 2] < 0).any() == miss
    plain = expert.expert_demos(LAYOUT, 20, np.random.default_rng(3), rule="correct", miss_rate=0.0)
    assert not _replay(LAYOUT, env.sample_tasks(LAYOUT, 20, np.random.default_rng(3)), plain).metrics()["missed"].any()
    with pytest.raises(ValueError, match="miss_rate must lie in"):
        expert.plan_expert(LAYOUT, env.Tasks(*(a[0] for a in tasks)), rng, rule="correct", miss_rate=1.5)
