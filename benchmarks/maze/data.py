r"""Demonstrations in the maze, time-parametrised at constant speed, and their action chunks.

A plan (smooth or plain RRT) becomes a trajectory of positions ``p_0 .. p_n`` equally spaced in arc
length, ``|p_{k+1} - p_k| = L / n <= SPEED`` (``n = ceil(L / SPEED)``): the robot moves at constant
speed, so the squared jerk of a trajectory is measured the same way for the data and for every policy.
Observation at step ``t``: ``(p_{t-1}, p_t, goal)`` mapped from ``[0, 1]`` to ``[-1, 1]``
(``p_{-1} = p_0``). Action chunk: the next ``HORIZON`` displacements in units of the speed,
``(p_{t+k} - p_{t+k-1}) / SPEED``, ``k = 1..HORIZON`` (each component in ``[-1, 1]``; 0 after the goal).
Displacements rather than positions relative to ``p_t``: the same network error moves the robot
``HORIZON`` times less, so the executed squared jerk measures the policy's motion, not its noise floor.
Both planners keep the same distance from every obstacle, so that motion quality is the only difference
between the two sources: the smooth planner's shortest path keeps ``MARGIN`` (0.05) and its smoothing at
least ``CLEARANCE``, which leaves its demonstrations at a closest approach of about 0.04 (median 0.042, 5 %
quantile 0.036 over 60 demonstrations of the default layout; 0.049 and 0.037 on layout 1); plain RRT keeps
``RRT_CLEARANCE = 0.04`` along every segment. ``MARGIN`` itself leaves passages of the default layout with
no room at all (0.10 wide), where RRT's random tree fails on about 13 % of the queries the smooth planner
solves.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from benchmarks.policy.chunking import chunk_windows
from benchmarks.policy.config import HORIZON

from .env import Maze, sample_queries
from .planners import VisibilityGraph, resample, rrt, smooth_planner

__all__ = [
    "CLEARANCE",
    "HORIZON",
    "MARGIN",
    "RRT_CLEARANCE",
    "SPEED",
    "Demos",
    "chunks",
    "decode",
    "observation",
    "plan_demos",
    "queries",
    "timed",
]

SPEED = 0.02  #: distance per control step (the unit square is the maze)
CLEARANCE = 0.025  #: distance the demonstrations keep from every obstacle
MARGIN = 0.05  #: the smooth planner's shortest path keeps this much, leaving room to smooth its corners
RRT_CLEARANCE = 0.04  #: what plain RRT keeps: the smooth demonstrations' closest approach (module docstring)


class Demos(NamedTuple):
    """Trajectories (a list of ``(n_i + 1, 2)`` arrays) and their goals ``(N, 2)``."""

    paths: list[np.ndarray]
    goals: np.ndarray


def timed(path: np.ndarray) -> np.ndarray:
    """Constant-speed resampling of a polyline: ``ceil(L / SPEED) + 1`` points equally spaced in arc length."""
    length = float(np.sum(np.linalg.norm(np.diff(path, axis=0), axis=1)))
    return resample(path, max(2, math.ceil(length / SPEED) + 1))


def queries(maze: Maze, n: int, *, seed: int, graph: VisibilityGraph | None = None) -> tuple[np.ndarray, ...]:
    """``n`` (start, goal) pairs the smooth planner solves, with its reference trajectory length."""
    graph = VisibilityGraph(maze, margin=MARGIN) if graph is None else graph
    rng = np.random.default_rng([seed, 17])
    starts, goals, lengths = [], [], []
    while len(starts) < n:
        for s, g in zip(*sample_queries(maze, n - len(starts), rng), strict=True):
            ref = smooth_planner(maze, s, g, 256, graph=graph, clearance=CLEARANCE)
            if ref is not None:
                starts.append(s)
                goals.append(g)
                lengths.append(float(np.sum(np.linalg.norm(np.diff(ref, axis=0), axis=1))))
    return np.array(starts), np.array(goals), np.array(lengths)


def plan_demos(maze: Maze, n: int, source: str, *, seed: int, graph: VisibilityGraph | None = None) -> Demos:
    """``n`` timed demonstrations of ``source`` (``"smooth"`` or ``"rrt"``) between random solvable queries."""
    if source not in ("smooth", "rrt"):
        msg = f"source must be 'smooth' or 'rrt', got {source!r}"
        raise ValueError(msg)
    graph = VisibilityGraph(maze, margin=MARGIN) if graph is None else graph
    rng = np.random.default_rng([seed, 1 if source == "rrt" else 0, 29])
    paths: list[np.ndarray] = []
    goals: list[np.ndarray] = []
    while len(paths) < n:
        for s, g in zip(*sample_queries(maze, min(64, n - len(paths)), rng), strict=True):
            plan = smooth_planner(maze, s, g, 256, graph=graph, clearance=CLEARANCE)
            if plan is not None and source == "rrt":
                plan = rrt(maze, s, g, rng, clearance=RRT_CLEARANCE)
            if plan is None:
                continue
            path = timed(plan)
            if maze.collides(path, clearance=CLEARANCE * (1 - 1e-6)):
                continue
            paths.append(path)
            goals.append(g)
    return Demos(paths[:n], np.array(goals[:n]))


def observation(prev: np.ndarray, cur: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """``(B, 6)`` observation in ``[-1, 1]`` from ``(B, 2)`` positions."""
    return 2 * np.concatenate([prev, cur, goal], axis=-1) - 1


def chunks(demos: Demos, *, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Training rows ``(obs (N, 6), chunk (N, HORIZON, 2))`` at every ``stride``-th step of every demo.

    Examples
    --------
    >>> line = np.stack([np.linspace(0.1, 0.5, 21), np.full(21, 0.5)], axis=1)
    >>> obs, act = chunks(Demos([line], line[-1:]))
    >>> obs.shape, act.shape, float(act[0, 0, 0]), float(act[-1].max())
    ((21, 6), (21, 16, 2), 1.0, 0.0)
    """
    obs, act = [], []
    for path, goal in zip(demos.paths, demos.goals, strict=True):
        t, future = chunk_windows(len(path), HORIZON, stride=stride, offset=1)
        prev = path[np.maximum(t - 1, 0)]
        obs.append(observation(prev, path[t], np.broadcast_to(goal, (len(t), 2))))
        previous = np.concatenate([t[:, None], future[:, :-1]], axis=1)
        act.append((path[future] - path[previous]) / SPEED)
    return np.concatenate(obs).astype(np.float32), np.concatenate(act).astype(np.float32)


def chunk_groups(demos: Demos, *, stride: int = 1) -> np.ndarray:
    """The demonstration index of each row of :func:`chunks` (same ``stride``)."""
    return np.concatenate([np.full(len(range(0, len(p), stride)), i) for i, p in enumerate(demos.paths)])


def decode(chunk: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Absolute target positions ``(B, T, 2)`` of model chunks ``(B, T, 2)`` planned at observation ``obs``."""
    cur = (obs[:, 2:4] + 1) / 2
    return cur[:, None] + np.cumsum(chunk, axis=1) * SPEED
