"""The maze's regime check: the network-free nearest-neighbour policy, the lower-corridor design and the gate."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.maze.closed_loop import MazeEpisodes
from benchmarks.maze.data import SPEED, Demos, chunks
from benchmarks.maze.env import Maze, default_maze
from benchmarks.maze.regime import gate, in_region, nearest_neighbour_policy, plan_region
from benchmarks.policy.rollout import rollout

EMPTY = Maze(np.array([[0.9, 0.9, 0.95, 0.95]]), name="almost empty")


def _line(start, goal):
    n = int(np.ceil(np.linalg.norm(np.subtract(goal, start)) / SPEED))
    return np.linspace(start, goal, n + 1)


def test_nearest_neighbour_policy_replays_the_demonstration_it_starts_on():
    demo = _line([0.1, 0.2], [0.7, 0.2])
    obs, act = chunks(Demos([demo], demo[-1:]))
    policy = nearest_neighbour_policy(obs, act, k=1)
    np.testing.assert_allclose(policy(obs[:1].astype(np.float64))[0], demo[1:17], atol=1e-6)
    env = MazeEpisodes(EMPTY, demo[:1], demo[-1:], max_steps=60)
    m = rollout(env, policy, n_exec=8)
    assert m["success"][0]
    assert m["steps"][0] == len(demo) - 2  # arrives within the 0.03 tolerance one step before the end


def test_nearest_neighbour_policy_chooses_among_the_k_nearest_only():
    obs = np.array([[0.0] * 6, [0.1] * 6, [5.0] * 6])
    act = np.stack([np.zeros((4, 2)), np.full((4, 2), 0.5), np.ones((4, 2))])
    policy = nearest_neighbour_policy(obs, act, k=2, seed=1)
    first_steps = {float(policy(np.zeros((1, 6)))[0, 0, 0]) for _ in range(50)}
    assert first_steps == {0.5, 0.5 + 0.5 * SPEED}  # rows 0 and 1, never the far row 2
    with pytest.raises(ValueError, match=r"k must lie in \[1, 3\], got 4"):
        nearest_neighbour_policy(obs, act, k=4)
    with pytest.raises(ValueError, match="must have the same N"):
        nearest_neighbour_policy(obs[:2], act, k=1)


def test_lower_design_keeps_starts_and_goals_below_y_max():
    d = plan_region(default_maze(), 3, seed=0, y_max=0.64)
    assert len(d.paths) == 3
    for p, g in zip(d.paths, d.goals, strict=True):
        assert p[0, 1] < 0.64
        assert g[1] < 0.64
        np.testing.assert_allclose(p[-1], g, atol=1e-9)
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        plan_region(default_maze(), 0, seed=0, y_max=0.64)


def test_in_region_and_gate():
    starts = np.array([[0.1, 0.63], [0.1, 0.64], [0.5, 0.1]])
    goals = np.array([[0.9, 0.1], [0.9, 0.1], [0.5, 0.9]])
    assert in_region(starts, goals, y_max=0.64).tolist() == [True, False, False]
    assert gate(0.5, 0.6)  # exactly 10 points
    assert not gate(0.5, 0.59)
    assert gate(0.5, 0.55, margin=0.05)
    with pytest.raises(ValueError, match=r"cotrain must lie in \[0, 1\], got 57"):
        gate(0.32, 57)


def test_tiny_maze_run_trains_to_convergence_on_validation_only(one_torch_thread, tmp_path):
    import json

    import torch

    from benchmarks.maze.convergence_probe import closed_loop, curves, diffusion_policy, heldout_loss, table
    from benchmarks.maze.data import plan_demos
    from benchmarks.maze.experiment import Config, build
    from benchmarks.policy import diffusion
    from benchmarks.policy.convergence import Criterion, train_to_convergence
    from benchmarks.policy.io import write_json
    from benchmarks.policy.methods import make_draw
    from benchmarks.policy.mlp import ChunkMLP

    s = build(None, Config.tiny(), 0, None)
    s.test = ()  # the rule must never need the test queries
    held = plan_demos(s.maze, 2, "smooth", seed=1000)
    torch.manual_seed(0)
    net = ChunkMLP(2, 6, horizon=16, hidden=16, depth=1)
    res = train_to_convergence(
        net,
        make_draw(s.pools, batch_size=8, use_low=True),
        diffusion.loss_function(s.pools.table),
        lambda m: closed_loop(s, diffusion_policy(m, s, 0, sample_steps=2), max_steps=10),
        criterion=Criterion(every=2, patience=1, max_steps=6),
        diagnostic=heldout_loss(held, s.pools.table, 0),
    )
    assert 1 <= len(res.history) <= 3
    assert res.stopped_at == res.history[-1]["step"]
    for h in res.history:
        assert 0 <= h["success"] <= 1
        assert h["heldout_loss"] > 0
    row = {
        "name": "tiny",
        "params": 1,
        "seconds_per_step": res.seconds_per_step,
        "best_step": res.best_step,
        "stopped_at": res.stopped_at,
        "reason": res.reason,
        "best": closed_loop(s, diffusion_policy(res.model, s, 0, sample_steps=2), max_steps=10),
        "curve": res.history,
    }
    write_json(row, tmp_path / "tiny-s0.json")
    assert json.loads((tmp_path / "tiny-s0.json").read_text())["best_step"] == res.best_step
    assert "| tiny | 1 |" in table(tmp_path)
    pytest.importorskip("matplotlib")
    assert curves(tmp_path).exists()
