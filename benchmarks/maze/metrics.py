r"""Metrics of planned or sampled trajectories ``(..., n, 2)`` in the unit square.

The trajectory is timed uniformly over ``[0, 1]``: waypoint ``k`` at time ``k / (n - 1)``, so with
``h = 1 / (n - 1)`` the jerk at step ``k`` is the third finite difference

.. math::
    j_k = \frac{x_{k+3} - 3 x_{k+2} + 3 x_{k+1} - x_k}{h^3},\qquad
    \overline{J} = \frac{1}{n - 3} \sum_{k=0}^{n-4} \lVert j_k \rVert^2 ,

the **average squared jerk**. A trajectory **succeeds** when it is free (inside the square, no
segment meets an obstacle) and its last waypoint lies within ``tolerance`` of the goal. The
**relative path length** is its length divided by the smooth planner's for the same query.
"""

from __future__ import annotations

import numpy as np

from benchmarks.maze.env import Maze

__all__ = ["path_length", "relative_length", "squared_jerk", "success", "summarize"]


def squared_jerk(paths: np.ndarray) -> np.ndarray:
    """Average squared jerk of each trajectory ``(..., n, 2)`` with ``n >= 4``, timed over ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 1, 11)[:, None]
    >>> round(float(squared_jerk(np.concatenate([t, t], axis=1))), 6)   # constant velocity: no jerk
    0.0
    >>> round(float(squared_jerk(np.concatenate([t**3, 0 * t], axis=1))), 6)   # x = t^3: jerk 6
    36.0
    """
    p = np.asarray(paths, dtype=np.float64)
    n = p.shape[-2]
    if n < 4:
        msg = f"squared_jerk needs at least 4 waypoints, got {n}"
        raise ValueError(msg)
    jerk = np.diff(p, n=3, axis=-2) * float(n - 1) ** 3
    return np.mean(np.sum(jerk * jerk, axis=-1), axis=-1)


def path_length(paths: np.ndarray) -> np.ndarray:
    """Length of each polyline ``(..., n, 2)``."""
    return np.sum(np.linalg.norm(np.diff(np.asarray(paths, dtype=np.float64), axis=-2), axis=-1), axis=-1)


def relative_length(paths: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``path_length(paths) / path_length(reference)``; ``reference`` broadcasts against ``paths``."""
    return path_length(paths) / path_length(reference)


def success(maze: Maze, paths: np.ndarray, goals: np.ndarray, *, tolerance: float = 0.05) -> np.ndarray:
    """Boolean: free of collisions and ending within ``tolerance`` of ``goals`` ``(..., 2)``.

    Examples
    --------
    >>> import numpy as np
    >>> from benchmarks.maze.env import Maze
    >>> maze = Maze(np.array([[0.4, 0.4, 0.6, 0.6]]))
    >>> paths = np.array([[[0.1, 0.1], [0.9, 0.1]], [[0.1, 0.5], [0.9, 0.5]], [[0.1, 0.1], [0.8, 0.1]]])
    >>> success(maze, paths, np.array([0.9, 0.1])).tolist()            # ok, collides, short of the goal
    [True, False, False]
    """
    end = np.asarray(paths, dtype=np.float64)[..., -1, :]
    reached = np.linalg.norm(end - np.asarray(goals, dtype=np.float64), axis=-1) <= tolerance
    return reached & ~maze.collides(paths)


def summarize(
    maze: Maze, paths: np.ndarray, goals: np.ndarray, reference: np.ndarray, *, tolerance: float = 0.05
) -> dict[str, float]:
    """Success rate, and mean squared jerk and relative length (over all samples and over successes).

    ``paths`` is ``(Q, S, n, 2)`` (``S`` samples per query), ``goals`` ``(Q, 2)`` and ``reference``
    ``(Q, n, 2)``.
    """
    ok = success(maze, paths, goals[:, None], tolerance=tolerance)
    jerk = squared_jerk(paths)
    rel = relative_length(paths, reference[:, None])
    some = bool(ok.any())
    return {
        "success": float(ok.mean()),
        "jerk": float(jerk.mean()),
        "jerk_median": float(np.median(jerk)),
        "jerk_success": float(jerk[ok].mean()) if some else float("nan"),
        "rel_length": float(rel.mean()),
        "rel_length_success": float(rel[ok].mean()) if some else float("nan"),
        "samples": int(ok.size),
    }
