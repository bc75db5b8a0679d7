"""Metrics on hand-built paths: exact jerk of polynomials, lengths, success, the summary."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.maze.env import Maze
from benchmarks.maze.metrics import path_length, relative_length, squared_jerk, success, summarize


def _timed(fx, fy, n):
    t = np.linspace(0.0, 1.0, n)
    return np.stack([fx(t), fy(t)], axis=1)


@pytest.mark.parametrize("n", [4, 9, 32])
def test_jerk_of_polynomials_is_exact(n):
    # third differences are exact for cubics: x = 2 t^3 - t, y = -t^3 + t^2 has jerk (12, -6)
    path = _timed(lambda t: 2 * t**3 - t, lambda t: -(t**3) + t**2, n)
    assert squared_jerk(path) == pytest.approx(12**2 + 6**2, rel=1e-9)
    # quadratics (constant acceleration) and lines have no jerk
    assert squared_jerk(_timed(lambda t: 3 * t**2, lambda t: 1 - t, n)) == pytest.approx(0.0, abs=1e-6)


def test_jerk_of_a_sine_converges_to_the_integral():
    # x = sin(2 pi t): jerk -(2 pi)^3 cos(2 pi t), mean square (2 pi)^6 / 2
    path = _timed(lambda t: np.sin(2 * np.pi * t), lambda t: 0 * t, 2001)
    assert squared_jerk(path) == pytest.approx((2 * np.pi) ** 6 / 2, rel=2e-3)


def test_jerk_of_a_corner_scales_with_the_waypoints():
    # one unit corner turn, constant speed: a single nonzero velocity jump of size |v| sqrt(2)
    for n in (9, 17):
        h = 1 / (n - 1)
        k = (n - 1) // 2
        p = np.zeros((n, 2))
        p[: k + 1, 0] = np.arange(k + 1) * h
        p[k + 1 :, 0] = k * h
        p[k + 1 :, 1] = np.arange(1, n - k) * h
        # the step velocity jumps from (h, 0) to (0, h): the second difference is one spike (-h, h), the
        # third difference two spikes of squared norm 2 h^2 each, divided by h^3
        want = 2 * (2 * h**2) / h**6 / (n - 3)
        assert squared_jerk(p) == pytest.approx(want, rel=1e-9)


def test_jerk_needs_four_waypoints():
    with pytest.raises(ValueError, match="at least 4 waypoints"):
        squared_jerk(np.zeros((3, 2)))


def test_lengths():
    p = np.array([[0.0, 0.0], [0.3, 0.4], [0.3, 1.0]])
    assert path_length(p) == pytest.approx(1.1, rel=1e-15)
    batch = np.stack([p, p * 0.5])
    assert np.allclose(relative_length(batch, p), [1.0, 0.5])


def test_success_needs_goal_and_no_collision():
    maze = Maze(np.array([[0.4, 0.4, 0.6, 0.6]]))
    goal = np.array([0.9, 0.9])
    ok = np.array([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]])
    near = ok.copy()
    near[-1] = [0.9, 0.86]  # 0.04 short: within the tolerance 0.05
    far = ok.copy()
    far[-1] = [0.9, 0.84]  # 0.06 short
    through = np.array([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]])
    outside = np.array([[0.1, 0.1], [1.05, 0.5], [0.9, 0.9]])
    paths = np.stack([ok, near, far, through, outside])
    assert success(maze, paths, goal).tolist() == [True, True, False, False, False]
    assert success(maze, paths, goal, tolerance=0.07).tolist() == [True, True, True, False, False]


def test_summarize_on_hand_built_samples():
    maze = Maze(np.array([[0.4, 0.4, 0.6, 0.6]]))
    t = np.linspace(0, 1, 8)[:, None]
    line = np.concatenate([0.1 + 0.8 * t, 0.1 + 0 * t], axis=1)  # free, reaches the goal, no jerk
    wiggle = line.copy()
    wiggle[3, 1] += 0.05  # free, jerky, slightly longer
    blocked = np.concatenate([0.1 + 0.8 * t, 0.5 + 0 * t], axis=1)  # through the box
    paths = np.stack([np.stack([line, wiggle]), np.stack([blocked, line])])  # 2 queries x 2 samples
    goals = np.array([[0.9, 0.1], [0.9, 0.1]])
    ref = np.stack([line, line])
    out = summarize(maze, paths, goals, ref)
    assert out["samples"] == 4
    assert out["success"] == 0.75  # only the blocked sample fails
    jerks = squared_jerk(paths)
    assert jerks[0, 0] == jerks[1, 1] < 1e-20 < 1.0 < jerks[0, 1]
    assert out["jerk"] == pytest.approx(float(jerks.mean()))
    assert out["jerk_success"] == pytest.approx(float(jerks[0, 1]) / 3)
    rel = relative_length(paths, ref[:, None])
    assert rel[0, 0] == rel[1, 1] == pytest.approx(1.0, rel=1e-15)
    assert rel[0, 1] > 1.001
    assert out["rel_length_success"] == pytest.approx((2 + float(rel[0, 1])) / 3)
    assert out["rel_length"] == pytest.approx(float(rel.mean()))
