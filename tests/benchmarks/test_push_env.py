"""The pushing benchmark: expert success in both dynamics, the sim-to-real gap, determinism and input checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("pymunk")

from benchmarks.push import env
from benchmarks.push.expert import Expert, expert_demos, expert_episode, replay

LAYOUT = env.make_layout(None)


def _run_expert(layout: env.Layout, tasks: env.Tasks, dynamics: env.Dynamics) -> env.BatchEnv:
    batch = env.BatchEnv(layout, tasks, dynamics)
    obs = batch.observe()
    expert = Expert(layout, obs, np.random.default_rng(1))
    while not batch.done.all():
        batch.step(expert(obs))
        obs = batch.observe()
    return batch


@pytest.mark.parametrize("dynamics", [env.SIM, env.REAL], ids=["sim", "real"])
def test_expert_succeeds_in_both_dynamics(dynamics):
    tasks = env.sample_tasks(LAYOUT, 40, np.random.default_rng(0))
    m = _run_expert(LAYOUT, tasks, dynamics).metrics()
    assert m["success"].mean() >= 0.95
    assert np.all(m["final_distance"][m["success"]] <= LAYOUT.tolerance)
    assert 40 <= np.median(m["steps"]) <= 120


def test_expert_succeeds_on_a_seeded_layout():
    layout = env.make_layout(3)
    tasks = env.sample_tasks(layout, 20, np.random.default_rng(2))
    assert _run_expert(layout, tasks, env.REAL).metrics()["success"].mean() >= 0.95


def test_sim_demos_replayed_open_loop_fail_in_real():
    tasks = env.sample_tasks(LAYOUT, 20, np.random.default_rng(3))
    rng = np.random.default_rng(4)
    actions = [
        expert_episode(LAYOUT, env.Tasks(tasks.pusher_start[i], tasks.block_pose[i]), rng, env.SIM)[1]
        for i in range(20)
    ]
    assert replay(LAYOUT, tasks, env.SIM, actions).metrics()["success"].all()  # the physics replays exactly
    assert replay(LAYOUT, tasks, env.REAL, actions).metrics()["success"].mean() <= 0.6


def test_observation_layout_and_trace():
    tasks = env.sample_tasks(LAYOUT, 3, np.random.default_rng(5))
    batch = env.BatchEnv(LAYOUT, tasks, env.REAL, max_steps=4)
    obs = batch.observe()
    assert obs.shape == (3, batch.obs_dim) == (3, 8)
    assert obs.dtype == np.float64
    assert batch.action_dim == 2
    np.testing.assert_allclose(obs[:, 0:2], tasks.pusher_start)
    np.testing.assert_allclose(obs[:, 2:4], tasks.pusher_start)
    np.testing.assert_allclose(obs[:, 4:6], tasks.block_pose[:, :2])
    angle = 4 * tasks.block_pose[:, 2]
    np.testing.assert_allclose(obs[:, 6:8], np.column_stack([np.cos(angle), np.sin(angle)]), atol=1e-12)
    batch.step(obs[:, :2] + 0.01)
    np.testing.assert_allclose(batch.observe()[:, 2:4], obs[:, :2])
    trace = batch.trace
    assert len(trace) == 3
    assert trace[0].pusher.shape == (2, 2)
    assert trace[0].block.shape == (2, 3)


def test_determinism_given_a_seed():
    a = expert_demos(LAYOUT, 3, np.random.default_rng(11), env.SIM)
    b = expert_demos(LAYOUT, 3, np.random.default_rng(11), env.SIM)
    for (obs_a, act_a), (obs_b, act_b) in zip(a, b, strict=True):
        np.testing.assert_array_equal(obs_a, obs_b)
        np.testing.assert_array_equal(act_a, act_b)
        assert obs_a.shape == (len(act_a), 8)
        assert act_a.shape[1] == 2
    tasks = env.sample_tasks(LAYOUT, 5, np.random.default_rng(12))
    again = env.sample_tasks(LAYOUT, 5, np.random.default_rng(12))
    np.testing.assert_array_equal(tasks.block_pose, again.block_pose)
    np.testing.assert_array_equal(tasks.pusher_start, again.pusher_start)


def test_seeded_layouts_differ_from_the_default():
    assert env.make_layout(1) == env.make_layout(1)
    for seed in range(5):
        layout = env.make_layout(seed)
        assert layout.goal != LAYOUT.goal
        assert layout.start_low != LAYOUT.start_low
        assert layout != env.make_layout(seed + 1)


def test_finished_episodes_ignore_actions():
    tasks = env.Tasks(np.array([[0.2, 0.2], [0.1, 0.9]]), np.array([[0.3, 0.4, 0.0], [*LAYOUT.goal, 0.3]]))
    batch = env.BatchEnv(LAYOUT, tasks, env.SIM, max_steps=3)
    assert batch.done.tolist() == [False, True]  # the second block starts in the goal
    for _ in range(3):
        batch.step(np.array([[0.3, 0.2], [np.nan, np.nan]]))
    frozen, steps = batch.observe(), batch.metrics()["steps"]
    assert batch.done.all()
    assert steps.tolist() == [3, 0]
    batch.step(np.array([[0.9, 0.9], [0.5, 0.5]]))
    np.testing.assert_array_equal(batch.observe(), frozen)
    np.testing.assert_array_equal(batch.metrics()["steps"], steps)
    assert [len(t.pusher) for t in batch.trace] == [4, 1]


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda b, t: b.step(np.zeros((3, 2))), "actions"),
        (lambda b, t: b.step(np.full((2, 2), np.nan)), "actions"),
        (lambda b, t: env.BatchEnv(LAYOUT, t, env.SIM, max_steps=0), "max_steps"),
        (lambda b, t: env.BatchEnv(LAYOUT, env.Tasks(t[0], t[1][:, :2]), env.SIM), "tasks.block_pose"),
        (lambda b, t: env.BatchEnv(LAYOUT, t, "real"), "dynamics"),
        (lambda b, t: env.sample_tasks(LAYOUT, -1, np.random.default_rng(0)), "n"),
        (lambda b, t: env.make_layout(-2), "seed"),
        (lambda b, t: dataclasses.replace(env.REAL, friction=-0.1), "friction"),
        (lambda b, t: dataclasses.replace(env.REAL, delay=1.5), "delay"),
        (lambda b, t: dataclasses.replace(env.SIM, block_mass=0.0), "block_mass"),
        (lambda b, t: dataclasses.replace(LAYOUT, tolerance=0.0), "tolerance"),
        (lambda b, t: expert_episode(LAYOUT, t, np.random.default_rng(0), env.SIM), "task"),
        (lambda b, t: expert_demos(LAYOUT, -1, np.random.default_rng(0), env.SIM), "n"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    tasks = env.sample_tasks(LAYOUT, 2, np.random.default_rng(0))
    batch = env.BatchEnv(LAYOUT, tasks, env.SIM)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call(batch, tasks)
