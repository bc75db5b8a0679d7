"""The regime check of the maze, before any comparison of methods, on validation queries only.

- :func:`nearest_neighbour_policy`: a network-free policy that, at each replanning, executes the action
  chunk of one of the ``k`` training rows whose observations lie nearest to the current one (uniformly at
  random among them). Its success with a data set says whether the data cover the queries at all,
  independently of any network's fitting error (seconds, no training).
- :func:`plan_region` and :func:`in_region`: the data design with clean demonstrations only between
  starts and goals below ``y_max`` (the lower corridors of the default maze for ``y_max = 0.64``, the
  bottom of its upper wall), and the queries inside and outside that coverage.
- :func:`gate`: co-training at least ``margin`` above clean only on the headline metric.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .data import Demos, decode, plan_demos
from .env import Maze
from .planners import VisibilityGraph

__all__ = ["gate", "in_region", "nearest_neighbour_policy", "plan_region"]


def nearest_neighbour_policy(
    obs: np.ndarray, chunks: np.ndarray, *, k: int = 8, seed: int = 0
) -> Callable[[np.ndarray], np.ndarray]:
    """A policy ``(B, 6) observations -> (B, T, 2)`` absolute targets that decodes the chunk of one of the
    ``k`` training rows nearest (Euclidean, observation space) to each observation.

    Examples
    --------
    >>> import numpy as np
    >>> train_obs = np.array([[0.0] * 6, [1.0] * 6])
    >>> train_chunks = np.stack([np.zeros((4, 2)), np.ones((4, 2))])
    >>> policy = nearest_neighbour_policy(train_obs, train_chunks, k=1)
    >>> policy(np.array([[0.9] * 6]))[0, :, 0].round(3).tolist()   # row 1: one SPEED step along x each
    [0.97, 0.99, 1.01, 1.03]
    """
    from scipy.spatial import cKDTree

    obs, chunks = np.asarray(obs, dtype=np.float64), np.asarray(chunks, dtype=np.float64)
    if obs.ndim != 2 or chunks.ndim != 3 or len(obs) != len(chunks):
        msg = f"obs (N, O) and chunks (N, T, D) must have the same N, got {obs.shape} and {chunks.shape}"
        raise ValueError(msg)
    if not 1 <= k <= len(obs):
        msg = f"k must lie in [1, {len(obs)}], got {k}"
        raise ValueError(msg)
    tree = cKDTree(obs)
    rng = np.random.default_rng(seed)

    def policy(o: np.ndarray) -> np.ndarray:
        o = np.asarray(o, dtype=np.float64)
        _, idx = tree.query(o, k=k)
        idx = np.asarray(idx).reshape(len(o), k)
        pick = idx[np.arange(len(o)), rng.integers(0, k, size=len(o))]
        return decode(chunks[pick], o)

    return policy


def in_region(starts: np.ndarray, goals: np.ndarray, *, y_max: float) -> np.ndarray:
    """Whether each query's start and goal ``(N, 2)`` both lie below ``y_max``.

    Examples
    --------
    >>> import numpy as np
    >>> in_region(np.array([[0.1, 0.2], [0.1, 0.2]]), np.array([[0.9, 0.5], [0.9, 0.8]]), y_max=0.64).tolist()
    [True, False]
    """
    return (np.asarray(starts)[:, 1] < y_max) & (np.asarray(goals)[:, 1] < y_max)


def plan_region(
    maze: Maze, n: int, *, seed: int, y_max: float, graph: VisibilityGraph | None = None, max_rounds: int = 8
) -> Demos:
    """``n`` smooth demonstrations whose start and goal lie below ``y_max`` (planned in rounds of random
    solvable queries of :func:`benchmarks.maze.data.plan_demos`, the others dropped)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    paths: list[np.ndarray] = []
    goals: list[np.ndarray] = []
    for r in range(max_rounds):
        d = plan_demos(maze, 4 * n, "smooth", seed=seed * 1000 + r, graph=graph)
        keep = in_region(np.array([p[0] for p in d.paths]), d.goals, y_max=y_max)
        paths += [p for p, k in zip(d.paths, keep, strict=True) if k]
        goals += list(d.goals[keep])
        if len(paths) >= n:
            return Demos(paths[:n], np.array(goals[:n]))
    msg = f"found {len(paths)} < n={n} demonstrations below y_max={y_max} in {max_rounds} rounds"
    raise ValueError(msg)


def gate(clean: float, cotrain: float, *, margin: float = 0.10) -> bool:
    """Whether co-training's headline metric is at least ``margin`` above clean only's (both in [0, 1]).

    Examples
    --------
    >>> gate(0.32, 0.57), gate(0.83, 0.68)
    (True, False)
    """
    for name, v in (("clean", clean), ("cotrain", cotrain)):
        if not 0 <= v <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {v}")
    return cotrain >= clean + margin - 1e-12
