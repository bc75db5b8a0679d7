r"""Two data sources for the maze: a near-optimal smooth planner and plain RRT.

**Smooth planner.** The obstacles are grown by a ``margin``; the shortest path among them runs on the
visibility graph of the grown corners (all-pairs distances by Floyd–Warshall, once per maze). The
polyline is resampled densely by arc length, then smoothed by a Gaussian filter whose ends are
pinned by point reflection (``x_{-k} = 2 x_0 - x_k``), which leaves a straight line unchanged. The
widest filter, out of a decreasing list, whose result (resampled to the final waypoints) keeps a
``clearance`` from the true obstacles is kept: a low-jerk curve only slightly longer than the
shortest path.

**RRT.** Plain rapidly-exploring random tree with goal bias: no shortcutting, no smoothing. Its
paths are feasible but long and jerky: the low-quality data.

Both are resampled to ``n`` waypoints equally spaced in arc length (constant speed), the first one
the start and the last one the goal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from benchmarks.maze.env import Maze, segments_hit_boxes

__all__ = ["VisibilityGraph", "resample", "rrt", "shortest_path", "smooth_path", "smooth_planner"]


def resample(path: np.ndarray, n: int) -> np.ndarray:
    """``n`` points equally spaced in arc length along the polyline ``path`` ``(M, 2)``, ends included.

    Examples
    --------
    >>> import numpy as np
    >>> resample(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]), 5)[:, 0].tolist()
    [0.0, 0.5, 1.0, 1.0, 1.0]
    """
    path = np.asarray(path, dtype=np.float64)
    if n < 2 or path.ndim != 2 or path.shape[0] < 2:
        msg = f"resample needs n >= 2 and a path of shape (M >= 2, 2), got n={n}, shape {path.shape}"
        raise ValueError(msg)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    if s[-1] == 0:
        return np.repeat(path[:1], n, axis=0)
    u = np.linspace(0.0, s[-1], n)
    out = np.stack([np.interp(u, s, path[:, k]) for k in range(2)], axis=1)
    out[0], out[-1] = path[0], path[-1]
    return out


@dataclass
class VisibilityGraph:
    """Visibility graph of the corners of the obstacles grown by ``margin``, with all-pairs shortest paths.

    Edges are tested against the obstacles grown by ``margin * (1 - 1e-6)``, so a path may run along a
    grown edge but never closer than (almost) ``margin`` to an obstacle.
    """

    maze: Maze
    margin: float = 0.04
    nodes: np.ndarray = field(init=False)
    dist: np.ndarray = field(init=False)
    nxt: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        grown = self.maze.inflated(self.margin)
        c = np.concatenate([grown[:, [0, 1]], grown[:, [2, 1]], grown[:, [2, 3]], grown[:, [0, 3]]])
        self.nodes = c[self.maze.point_free(c, clearance=self.margin * (1 - 1e-6))]
        k = len(self.nodes)
        vis = self._visible(self.nodes[:, None, :], self.nodes[None, :, :])
        dist = np.where(vis, np.linalg.norm(self.nodes[:, None] - self.nodes[None], axis=-1), np.inf)
        np.fill_diagonal(dist, 0.0)
        nxt = np.where(np.isfinite(dist), np.arange(k)[None, :], -1)
        for m in range(k):  # Floyd–Warshall, vectorised over pairs
            via = dist[:, m : m + 1] + dist[m : m + 1, :]
            better = via < dist
            dist = np.where(better, via, dist)
            nxt = np.where(better, nxt[:, m : m + 1], nxt)
        self.dist, self.nxt = dist, nxt

    def _visible(self, a: np.ndarray, b: np.ndarray) -> np.ndarray | np.bool_:
        """Whether each segment ``[a, b]`` avoids every obstacle (a NumPy bool for a single segment)."""
        a, b = np.broadcast_arrays(a, b)
        return ~segments_hit_boxes(a, b, self.maze.inflated(self.margin * (1 - 1e-6))).any(axis=-1)

    def _chain(self, i: int, j: int) -> list[int]:
        out = [i]
        while i != j:
            i = int(self.nxt[i, j])
            out.append(i)
        return out


def shortest_path(graph: VisibilityGraph, start: np.ndarray, goal: np.ndarray) -> np.ndarray | None:
    """Shortest polyline from ``start`` to ``goal`` keeping ``graph.margin`` from obstacles, or ``None``."""
    start, goal = np.asarray(start, dtype=np.float64), np.asarray(goal, dtype=np.float64)
    if graph._visible(start, goal):
        return np.stack([start, goal])
    if len(graph.nodes) == 0:
        return None
    ds = np.where(graph._visible(start[None], graph.nodes), np.linalg.norm(graph.nodes - start, axis=1), np.inf)
    dg = np.where(graph._visible(goal[None], graph.nodes), np.linalg.norm(graph.nodes - goal, axis=1), np.inf)
    total = ds[:, None] + graph.dist + dg[None, :]
    i, j = np.unravel_index(int(np.argmin(total)), total.shape)
    if not np.isfinite(total[i, j]):
        return None
    return np.concatenate([start[None], graph.nodes[graph._chain(int(i), int(j))], goal[None]])


def _gaussian_smooth(path: np.ndarray, width: float) -> np.ndarray:
    """Gaussian filter (std ``width`` samples) with both ends pinned by point reflection."""
    if width <= 0:
        return path.copy()
    r = int(np.ceil(3 * width))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / width) ** 2)
    k /= k.sum()
    n = len(path)
    idx = np.arange(-r, n + r)
    left, right = idx < 0, idx >= n
    src = np.clip(np.where(left, -idx, np.where(right, 2 * (n - 1) - idx, idx)), 0, n - 1)
    padded = path[src]
    padded[left] = 2 * path[0] - padded[left]
    padded[right] = 2 * path[-1] - padded[right]
    out = np.stack([np.convolve(padded[:, d], k, mode="valid") for d in range(2)], axis=1)
    out[0], out[-1] = path[0], path[-1]
    return out


def smooth_path(
    maze: Maze,
    path: np.ndarray,
    n: int,
    *,
    clearance: float = 0.01,
    dense: int = 256,
    widths: tuple[float, ...] = (24.0, 16.0, 11.0, 8.0, 5.0, 3.0, 1.5, 0.0),
) -> np.ndarray | None:
    """The smoothest of the Gaussian-filtered versions of ``path`` that keeps ``clearance``, as ``n`` waypoints.

    Filters are tried from the widest; width 0 is the shortest path itself. ``None`` when none is free.
    """
    fine = resample(path, dense)
    for width in widths:
        out = resample(_gaussian_smooth(fine, width), n)
        if not maze.collides(out, clearance=clearance):
            return out
    return None


def smooth_planner(
    maze: Maze,
    start: np.ndarray,
    goal: np.ndarray,
    n: int,
    *,
    graph: VisibilityGraph | None = None,
    clearance: float = 0.01,
) -> np.ndarray | None:
    """Near-optimal smooth trajectory of ``n`` waypoints from ``start`` to ``goal`` (``None`` if unreachable),
    keeping ``clearance`` from every obstacle.

    Examples
    --------
    >>> import numpy as np
    >>> from benchmarks.maze.env import default_maze
    >>> maze = default_maze()
    >>> path = smooth_planner(maze, np.array([0.1, 0.05]), np.array([0.1, 0.95]), 32)
    >>> path.shape, bool(maze.collides(path))
    ((32, 2), False)
    """
    graph = VisibilityGraph(maze) if graph is None else graph
    poly = shortest_path(graph, start, goal)
    return None if poly is None else smooth_path(maze, poly, n, clearance=clearance)


def rrt(
    maze: Maze,
    start: np.ndarray,
    goal: np.ndarray,
    rng: np.random.Generator,
    *,
    step: float = 0.05,
    goal_bias: float = 0.05,
    clearance: float = 0.01,
    max_nodes: int = 4000,
) -> np.ndarray | None:
    """Plain RRT polyline from ``start`` to ``goal`` (no shortcutting, no smoothing), or ``None``.

    Samples uniform points (the goal with probability ``goal_bias``), extends the nearest node by at
    most ``step`` when the new segment keeps ``clearance``, and stops as soon as a new node sees the
    goal within ``step``.

    Examples
    --------
    >>> import numpy as np
    >>> from benchmarks.maze.env import default_maze
    >>> maze = default_maze()
    >>> path = rrt(maze, np.array([0.1, 0.05]), np.array([0.1, 0.95]), np.random.default_rng(0))
    >>> bool(maze.collides(path)), path[0].tolist(), path[-1].tolist()
    (False, [0.1, 0.05], [0.1, 0.95])
    """
    start, goal = np.asarray(start, dtype=np.float64), np.asarray(goal, dtype=np.float64)
    boxes = maze.inflated(clearance)
    nodes = np.empty((max_nodes, 2))
    parent = np.full(max_nodes, -1)
    nodes[0], count = start, 1
    while count < max_nodes:
        target = goal if rng.random() < goal_bias else rng.uniform(0, 1, 2)
        near = int(np.argmin(np.sum((nodes[:count] - target) ** 2, axis=1)))
        d = target - nodes[near]
        length = float(np.hypot(*d))
        if length == 0:
            continue
        new = nodes[near] + d * min(1.0, step / length)
        if segments_hit_boxes(nodes[near], new, boxes).any():
            continue
        nodes[count], parent[count] = new, near
        count += 1
        if np.hypot(*(goal - new)) <= step and not segments_hit_boxes(new, goal, boxes).any():
            chain = [count - 1]
            while parent[chain[-1]] >= 0:
                chain.append(int(parent[chain[-1]]))
            return np.concatenate([nodes[chain[::-1]], goal[None]])
    return None
