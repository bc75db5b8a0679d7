"""Planners: exact shortest paths on simple layouts, collision-free outputs, RRT far jerkier than smooth."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.maze.closed_loop import squared_jerk as squared_jerk_timed
from benchmarks.maze.data import CLEARANCE, HORIZON, MARGIN, RRT_CLEARANCE, SPEED, chunks, decode, plan_demos
from benchmarks.maze.env import Maze, default_maze, random_maze, sample_queries
from benchmarks.maze.metrics import path_length, squared_jerk
from benchmarks.maze.planners import VisibilityGraph, resample, rrt, shortest_path, smooth_path, smooth_planner


def test_resample_is_equally_spaced_with_exact_ends():
    path = np.array([[0.1, 0.1], [0.7, 0.1], [0.7, 0.5], [0.2, 0.9]])
    out = resample(path, 40)
    steps = np.linalg.norm(np.diff(out, axis=0), axis=1)
    # chords cut the two corners, so spacing along chords is at most the arc spacing
    arc = path_length(path) / 39
    assert np.all(steps <= arc + 1e-12)
    assert np.median(steps) == pytest.approx(arc, rel=1e-9)
    assert np.array_equal(out[0], path[0])
    assert np.array_equal(out[-1], path[-1])
    with pytest.raises(ValueError, match="n >= 2"):
        resample(path, 1)


def test_shortest_path_in_empty_square_is_straight():
    graph = VisibilityGraph(Maze(np.zeros((0, 4))))
    s, g = np.array([0.1, 0.2]), np.array([0.8, 0.9])
    assert np.array_equal(shortest_path(graph, s, g), np.stack([s, g]))


def test_shortest_path_around_a_wall_has_the_exact_length():
    margin = 0.04
    maze = Maze(np.array([[0.45, 0.0, 0.55, 0.6]]))  # wall from the floor, open above y = 0.6
    graph = VisibilityGraph(maze, margin=margin)
    s, g = np.array([0.2, 0.1]), np.array([0.8, 0.1])
    path = shortest_path(graph, s, g)
    c1, c2 = np.array([0.45 - margin, 0.6 + margin]), np.array([0.55 + margin, 0.6 + margin])
    want = np.linalg.norm(c1 - s) + np.linalg.norm(c2 - c1) + np.linalg.norm(g - c2)
    assert path_length(path) == pytest.approx(want, rel=1e-12)
    assert not maze.collides(path, clearance=margin * 0.999)


def test_unreachable_goal_gives_none():
    maze = Maze(np.array([[0.45, 0.0, 0.55, 1.0]]))  # wall across the square
    graph = VisibilityGraph(maze)
    assert shortest_path(graph, np.array([0.2, 0.5]), np.array([0.8, 0.5])) is None
    assert smooth_planner(maze, np.array([0.2, 0.5]), np.array([0.8, 0.5]), 16, graph=graph) is None


@pytest.mark.parametrize("maze", [default_maze(), random_maze(1)], ids=["default", "seed1"])
def test_planners_give_free_paths_and_rrt_is_far_jerkier(maze):
    rng = np.random.default_rng(3)
    graph = VisibilityGraph(maze)
    tight = VisibilityGraph(maze, margin=0.01)  # the smooth paths keep a clearance of 0.01
    starts, goals = sample_queries(maze, 25, rng)
    smooth, jagged, ratio = [], [], []
    for s, g in zip(starts, goals, strict=True):
        path = smooth_planner(maze, s, g, 32, graph=graph)
        if path is None:  # start and goal in separate parts of a random layout
            continue
        poly = rrt(maze, s, g, rng)
        assert poly is not None
        r = resample(poly, 32)
        for p in (path, r):
            assert not maze.collides(p)
            assert np.array_equal(p[0], s)
            assert np.array_equal(p[-1], g)
        # near-optimal: no path keeping that clearance is shorter than the tight shortest path
        optimal = path_length(shortest_path(tight, s, g))
        assert optimal - 1e-9 <= path_length(path) <= 1.25 * optimal
        smooth.append(squared_jerk(path))
        jagged.append(squared_jerk(r))
        ratio.append(path_length(r) / path_length(path))
    assert len(smooth) >= 15
    # seeded: medians 3.7k vs 7e5 on the default maze; require a factor 20 on the medians
    assert np.median(jagged) > 20 * np.median(smooth)
    assert np.median(ratio) > 1.05  # RRT paths are longer


def test_smoothing_keeps_straight_lines_and_clearance():
    maze = Maze(np.array([[0.4, 0.4, 0.6, 0.6]]))
    line = np.array([[0.1, 0.1], [0.9, 0.2]])
    out = smooth_path(maze, line, 16)
    assert np.allclose(out, resample(line, 16), atol=1e-12)
    assert squared_jerk(out) < 1e-12


def test_rrt_without_room_gives_none():
    maze = Maze(np.array([[0.45, 0.0, 0.55, 1.0]]))
    assert rrt(maze, np.array([0.2, 0.5]), np.array([0.8, 0.5]), np.random.default_rng(0), max_nodes=200) is None


def test_timed_demos_move_at_constant_speed_and_chunks_round_trip():
    maze = default_maze()
    demos = plan_demos(maze, 4, "smooth", seed=4)
    again = plan_demos(maze, 4, "smooth", seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(demos.paths, again.paths, strict=True))  # seeded
    for path, goal in zip(demos.paths, demos.goals, strict=True):
        step = np.linalg.norm(np.diff(path, axis=0), axis=1)
        assert step.max() <= SPEED + 1e-12
        assert step.max() - step.min() < 0.05 * SPEED  # constant speed along the arc (chords a little shorter)
        assert np.array_equal(path[-1], goal)
        assert not maze.collides(path)
    rrt_demos = plan_demos(maze, 4, "rrt", seed=4)
    assert min(map(squared_jerk_timed, rrt_demos.paths)) > 10 * max(map(squared_jerk_timed, demos.paths))
    obs, act = chunks(demos)
    assert obs.shape == (sum(map(len, demos.paths)), 6)
    assert act.shape == (len(obs), HORIZON, 2)
    assert np.abs(act).max() <= 1 + 1e-6
    targets = decode(act.astype(np.float64), obs.astype(np.float64))
    first = demos.paths[0]
    np.testing.assert_allclose(targets[0, :3], first[1:4], atol=1e-6)  # the next positions, from the start
    np.testing.assert_allclose(targets[len(first) - 1], np.repeat(first[-1:], HORIZON, axis=0), atol=1e-6)  # padded
    with pytest.raises(ValueError, match="source must be 'smooth' or 'rrt'"):
        plan_demos(maze, 1, "gcs", seed=0)


def _closest(maze, path):
    """Smallest Euclidean distance of the points of ``path`` to an obstacle."""
    b = maze.obstacles
    dx = np.maximum(np.maximum(b[None, :, 0] - path[:, None, 0], 0), path[:, None, 0] - b[None, :, 2])
    dy = np.maximum(np.maximum(b[None, :, 1] - path[:, None, 1], 0), path[:, None, 1] - b[None, :, 3])
    return float(np.hypot(dx, dy).min())


def test_both_sources_keep_the_same_clearance():
    # Motion quality must be the only difference between the sources: every RRT demonstration keeps
    # RRT_CLEARANCE (exact: its points lie on segments clear of the grown obstacles), and the RRT data come no
    # closer to the obstacles than the smooth data (median closest approach, 12 demonstrations each, seed 5;
    # with the former 0.025 the RRT median was 0.030 against the smooth 0.042).
    maze = default_maze()
    rrt_close = [_closest(maze, p) for p in plan_demos(maze, 12, "rrt", seed=5).paths]
    smooth_close = [_closest(maze, p) for p in plan_demos(maze, 12, "smooth", seed=5).paths]
    assert min(rrt_close) >= RRT_CLEARANCE * (1 - 1e-9)
    assert min(smooth_close) >= CLEARANCE
    assert np.median(rrt_close) >= np.median(smooth_close) - 0.005
    assert RRT_CLEARANCE < MARGIN
