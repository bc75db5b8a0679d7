r"""Trajectory datasets of the maze: planned paths, their queries, and the model's coordinates.

A trajectory is ``n`` waypoints ``(n, 2)`` from its start to its goal. The diffusion policy sees the
``n - 1`` waypoints after the start, mapped from the unit square to ``[-1, 1]``:
``x = 2 p - 1`` (:func:`to_model`); the start and goal enter as conditioning ``(4,)`` in the same
coordinates (:func:`condition`). :func:`from_model` puts the start back in front.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .env import Maze, sample_queries
from .planners import VisibilityGraph, resample, rrt, smooth_planner

__all__ = ["SOURCES", "Trajectories", "condition", "from_model", "heldout_queries", "plan_dataset", "to_model"]

#: data sources: the near-optimal smooth planner and plain RRT
SOURCES = ("smooth", "rrt")


@dataclass(frozen=True, eq=False)
class Trajectories:
    """Planned trajectories: ``starts`` and ``goals`` ``(N, 2)``, ``paths`` ``(N, n, 2)`` and their ``source``."""

    starts: np.ndarray
    goals: np.ndarray
    paths: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.paths.shape[0])


def to_model(paths: np.ndarray) -> np.ndarray:
    """Waypoints after the start in model coordinates ``2 p - 1``, shape ``(N, n - 1, 2)``, float32."""
    return (2 * np.asarray(paths)[:, 1:] - 1).astype(np.float32)


def condition(starts: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Conditioning vectors ``(N, 4)``: start and goal in model coordinates, float32."""
    return (2 * np.concatenate([starts, goals], axis=1) - 1).astype(np.float32)


def from_model(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Full paths ``(N, n, 2)`` in the unit square from model outputs ``(N, n - 1, 2)`` and the starts.

    Examples
    --------
    >>> import numpy as np
    >>> paths = np.random.default_rng(0).uniform(size=(3, 5, 2))
    >>> bool(np.allclose(from_model(to_model(paths), paths[:, 0]), paths, atol=1e-6))
    True
    """
    x = np.asarray(x, dtype=np.float64)
    return np.concatenate([np.asarray(starts, dtype=np.float64)[:, None], (x + 1) / 2], axis=1)


def plan_dataset(
    maze: Maze,
    n: int,
    source: str,
    *,
    n_waypoints: int,
    seed: int,
    graph: VisibilityGraph | None = None,
    progress: Callable[[int], object] | None = None,
) -> Trajectories:
    """``n`` trajectories of ``source`` (``"smooth"`` or ``"rrt"``) between random free queries.

    Queries the smooth planner cannot solve (start and goal in separate parts of the free space)
    are redrawn, for both sources, so both see the same distribution of queries. RRT paths whose
    resampled waypoints would cut a corner are redrawn too. ``progress(k)`` is called after each
    batch of ``k`` new trajectories.

    Examples
    --------
    >>> from ambientloss.maze.env import default_maze
    >>> data = plan_dataset(default_maze(), 3, "rrt", n_waypoints=16, seed=0)
    >>> data.paths.shape, data.source
    ((3, 16, 2), 'rrt')
    """
    if source not in SOURCES:
        msg = f"source must be one of {SOURCES}, got {source!r}"
        raise ValueError(msg)
    graph = VisibilityGraph(maze) if graph is None else graph
    rng = np.random.default_rng([seed, SOURCES.index(source)])
    starts: list[np.ndarray] = []
    goals: list[np.ndarray] = []
    paths: list[np.ndarray] = []
    while len(paths) < n:
        batch = min(64, n - len(paths))
        added = 0
        for s, g in zip(*sample_queries(maze, batch, rng), strict=True):
            ref = smooth_planner(maze, s, g, n_waypoints, graph=graph)
            if ref is None:
                continue
            if source == "rrt":
                poly = rrt(maze, s, g, rng)
                ref = None if poly is None else resample(poly, n_waypoints)
                if ref is None or maze.collides(ref):
                    continue
            starts.append(s)
            goals.append(g)
            paths.append(ref)
            added += 1
        if progress is not None and added:
            progress(added)
    return Trajectories(np.array(starts[:n]), np.array(goals[:n]), np.array(paths[:n]), source)


def heldout_queries(maze: Maze, n: int, *, n_waypoints: int, seed: int) -> Trajectories:
    """``n`` held-out queries with the smooth planner's reference trajectory (for relative path length)."""
    return plan_dataset(maze, n, "smooth", n_waypoints=n_waypoints, seed=seed + 1_000_003)
