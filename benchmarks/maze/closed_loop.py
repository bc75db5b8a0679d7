"""The maze as a batch of closed-loop episodes for :func:`benchmarks.policy.rollout.rollout`.

Each step moves the robot to the commanded position, its displacement clipped to ``1.5 * SPEED``;
the episode fails when the segment travelled meets an obstacle or leaves the unit square, succeeds
when the robot is within ``tolerance`` of the goal, and ends after ``max_steps``. The squared jerk of
an executed trajectory is the mean of ``|third difference / dt^3|^2`` with ``dt = 0.1 s`` (10 Hz control),
the same statistic as :func:`squared_jerk` on the demonstrations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .data import SPEED, observation
from .env import Maze

__all__ = ["DT", "MazeEpisodes", "squared_jerk"]

DT = 0.1


def squared_jerk(path: np.ndarray) -> float:
    """Mean squared jerk of one trajectory ``(n, 2)`` sampled every ``DT`` seconds (0 when ``n < 4``)."""
    if len(path) < 4:
        return 0.0
    j = np.diff(np.asarray(path, dtype=np.float64), n=3, axis=0) / DT**3
    return float(np.mean(np.sum(j * j, axis=-1)))


class MazeEpisodes:
    """``B`` episodes from ``starts`` to ``goals`` (``(B, 2)`` each) in ``maze``."""

    obs_dim, action_dim = 6, 2

    def __init__(
        self, maze: Maze, starts: np.ndarray, goals: np.ndarray, *, max_steps: int = 150, tolerance: float = 0.03
    ) -> None:
        starts, goals = np.asarray(starts, dtype=np.float64), np.asarray(goals, dtype=np.float64)
        if starts.ndim != 2 or starts.shape[1] != 2 or goals.shape != starts.shape:
            msg = f"starts and goals must both have shape (B, 2), got {starts.shape} and {goals.shape}"
            raise ValueError(msg)
        self.maze, self.goals, self.max_steps, self.tolerance = maze, goals, max_steps, tolerance
        self.prev, self.pos = starts.copy(), starts.copy()
        b = len(starts)
        self.done = np.zeros(b, dtype=bool)
        self.success = np.zeros(b, dtype=bool)
        self.collided = np.zeros(b, dtype=bool)
        self.steps = np.zeros(b, dtype=np.int64)
        self.trace: list[list[np.ndarray]] = [[p.copy()] for p in starts]

    def observe(self) -> np.ndarray:
        return observation(self.prev, self.pos, self.goals).astype(np.float32)

    def step(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape != self.pos.shape:
            msg = f"actions must have shape {self.pos.shape}, got {actions.shape}"
            raise ValueError(msg)
        live = ~self.done
        move = actions - self.pos
        norm = np.linalg.norm(move, axis=1, keepdims=True)
        move = move * np.minimum(1.0, 1.5 * SPEED / np.maximum(norm, 1e-12))
        new = self.pos + move
        outside = np.any((new < 0) | (new > 1), axis=1)
        hit = outside | self.maze.collides(np.stack([self.pos, new], axis=1))
        self.collided |= live & hit
        self.prev = np.where(live[:, None], self.pos, self.prev)
        self.pos = np.where(live[:, None], new, self.pos)
        self.steps += live
        for i in np.flatnonzero(live):
            self.trace[i].append(self.pos[i].copy())
        arrived = np.linalg.norm(self.pos - self.goals, axis=1) <= self.tolerance
        self.success |= live & arrived & ~hit
        self.done |= live & (hit | arrived | (self.steps >= self.max_steps))

    def metrics(self) -> dict[str, Any]:
        paths = [np.array(t) for t in self.trace]
        length = np.array([np.sum(np.linalg.norm(np.diff(p, axis=0), axis=1)) for p in paths])
        return {
            "success": self.success.copy(),
            "collided": self.collided.copy(),
            "steps": self.steps.copy(),
            "jerk": np.array([squared_jerk(p) for p in paths]),
            "length": length,
            "paths": paths,
        }
