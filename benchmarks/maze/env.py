r"""A 2-D planning environment: the unit square with axis-aligned rectangular obstacles.

The robot is a point. A path is a polyline ``(M, 2)``; it is **free** when every vertex lies in the
unit square and no segment meets a (closed) obstacle. Segment-versus-rectangle tests are exact
slab clipping (Liang–Barsky): the segment ``p + u d``, ``u in [0, 1]``, meets the box
``[x_0, x_1] x [y_0, y_1]`` iff the parameter intervals of the two slabs and ``[0, 1]`` overlap,

.. math::
    \max\Big(0,\ \min_{k} \tfrac{x_k - p_x}{d_x},\ \min_{k} \tfrac{y_k - p_y}{d_y}\Big)
    \le
    \min\Big(1,\ \max_{k} \tfrac{x_k - p_x}{d_x},\ \max_{k} \tfrac{y_k - p_y}{d_y}\Big),

with an axis where ``d = 0`` replaced by the test ``x_0 <= p <= x_1``. Touching a corner or an edge
counts as a collision. The unit square is convex, so a polyline stays inside it iff its vertices do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Maze", "default_maze", "make_maze", "random_maze", "sample_queries", "segments_hit_boxes"]


def segments_hit_boxes(a: np.ndarray, b: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Whether each segment ``[a, b]`` meets each closed box, exactly (slab clipping).

    Parameters
    ----------
    a, b : numpy.ndarray
        End points, shape ``(..., 2)``.
    boxes : numpy.ndarray
        ``(K, 4)`` rows ``(x_min, y_min, x_max, y_max)``.

    Returns
    -------
    numpy.ndarray
        Boolean, shape ``(..., K)``.

    Examples
    --------
    >>> import numpy as np
    >>> box = np.array([[0.4, 0.4, 0.6, 0.6]])
    >>> segments_hit_boxes(np.array([[0.0, 0.5], [0.0, 0.0]]), np.array([[1.0, 0.5], [0.4, 0.39]]), box)
    array([[ True],
           [False]])
    """
    a = np.asarray(a, dtype=np.float64)[..., None, :]
    d = np.asarray(b, dtype=np.float64)[..., None, :] - a
    lo, hi = boxes[:, :2], boxes[:, 2:]
    flat = d == 0
    safe = np.where(flat, 1.0, d)
    t1, t2 = (lo - a) / safe, (hi - a) / safe
    t_in = np.where(flat, -np.inf, np.minimum(t1, t2))
    t_out = np.where(flat, np.inf, np.maximum(t1, t2))
    inside_flat = np.all(~flat | ((a >= lo) & (a <= hi)), axis=-1)
    enter = np.maximum(np.max(t_in, axis=-1), 0.0)
    leave = np.minimum(np.min(t_out, axis=-1), 1.0)
    return inside_flat & (enter <= leave)


@dataclass(frozen=True, eq=False)
class Maze:
    """Rectangular obstacles in the unit square.

    Parameters
    ----------
    obstacles : numpy.ndarray
        ``(K, 4)`` rows ``(x_min, y_min, x_max, y_max)`` with ``x_min < x_max`` and ``y_min < y_max``.
    name : str
        Label used in reports.

    Examples
    --------
    >>> import numpy as np
    >>> from benchmarks.maze.env import Maze
    >>> maze = Maze(np.array([[0.4, 0.0, 0.6, 0.8]]), name="wall")
    >>> through = [[0.1, 0.5], [0.5, 0.5], [0.9, 0.5]]
    >>> over = [[0.1, 0.5], [0.5, 0.95], [0.9, 0.5]]
    >>> maze.collides(np.array([through, over]))
    array([ True, False])
    """

    obstacles: np.ndarray
    name: str = "maze"

    def __post_init__(self) -> None:
        obs = np.asarray(self.obstacles, dtype=np.float64)
        if obs.ndim != 2 or obs.shape[1] != 4:
            msg = f"obstacles must have shape (K, 4), got {obs.shape}"
            raise ValueError(msg)
        bad = ~((obs[:, 0] < obs[:, 2]) & (obs[:, 1] < obs[:, 3]) & np.isfinite(obs).all(axis=1))
        if bad.any():
            k = int(np.argmax(bad))
            msg = f"obstacle {k} = {obs[k].tolist()} must satisfy x_min < x_max and y_min < y_max"
            raise ValueError(msg)
        obs.setflags(write=False)
        object.__setattr__(self, "obstacles", obs)

    def inflated(self, margin: float) -> np.ndarray:
        """Obstacles grown by ``margin`` on every side, ``(K, 4)``."""
        return self.obstacles + np.array([-margin, -margin, margin, margin])

    def point_free(self, points: np.ndarray, *, clearance: float = 0.0) -> np.ndarray:
        """Whether points ``(..., 2)`` are farther than ``clearance`` (sup-norm) from obstacles and walls."""
        p = np.asarray(points, dtype=np.float64)
        box = self.inflated(clearance)
        inside = np.all((p >= clearance) & (p <= 1 - clearance), axis=-1)
        q = p[..., None, :]
        hit = np.all((q >= box[:, :2]) & (q <= box[:, 2:]), axis=-1).any(axis=-1)
        return inside & ~hit

    def collides(self, paths: np.ndarray, *, clearance: float = 0.0) -> np.ndarray:
        """Whether each polyline ``(..., M, 2)`` leaves the square or meets an obstacle (grown by ``clearance``)."""
        p = np.asarray(paths, dtype=np.float64)
        if p.ndim < 2 or p.shape[-1] != 2:
            msg = f"paths must have shape (..., M, 2), got {p.shape}"
            raise ValueError(msg)
        outside = ~np.all((p >= 0) & (p <= 1), axis=(-1, -2))
        if p.shape[-2] == 1:
            return outside | ~self.point_free(p[..., 0, :], clearance=clearance)
        hit = segments_hit_boxes(p[..., :-1, :], p[..., 1:, :], self.inflated(clearance)).any(axis=(-1, -2))
        return outside | hit

    def sample_free(self, rng: np.random.Generator, n: int, *, clearance: float = 0.0) -> np.ndarray:
        """``n`` uniform points of the free space at least ``clearance`` from obstacles and walls."""
        out = np.empty((0, 2))
        while len(out) < n:
            cand = rng.uniform(0, 1, size=(max(2 * (n - len(out)), 16), 2))
            out = np.concatenate([out, cand[self.point_free(cand, clearance=clearance)]])
        return out[:n]


def default_maze() -> Maze:
    """The fixed default maze: two offset walls with gaps at opposite ends, and four pillars.

    Examples
    --------
    >>> default_maze().obstacles.shape
    (8, 4)
    """
    obstacles = np.array(
        [
            [0.00, 0.30, 0.62, 0.36],  # lower wall, gap on the right
            [0.38, 0.64, 1.00, 0.70],  # upper wall, gap on the left
            [0.15, 0.10, 0.25, 0.20],  # pillars
            [0.70, 0.08, 0.82, 0.20],
            [0.78, 0.42, 0.90, 0.54],
            [0.12, 0.46, 0.26, 0.56],
            [0.48, 0.45, 0.58, 0.53],
            [0.15, 0.80, 0.30, 0.90],
        ]
    )
    return Maze(obstacles, name="default")


def random_maze(seed: int, *, n_obstacles: int = 8, min_size: float = 0.06, max_size: float = 0.3) -> Maze:
    """A seeded layout of ``n_obstacles`` random rectangles, rejected until the free space is connected.

    Connectivity is checked on a 64 x 64 grid of cells whose centres keep a clearance of 0.05 from
    every obstacle and wall (4-neighbour flood fill), more than the smooth planner's margin: the
    largest component must hold 97 % of those cells.

    Examples
    --------
    >>> maze = random_maze(3)
    >>> maze.name, maze.obstacles.shape
    ('seed 3', (8, 4))
    """
    rng = np.random.default_rng([seed, 7919])
    while True:
        size = rng.uniform(min_size, max_size, size=(n_obstacles, 2))
        corner = rng.uniform(0, 1, size=(n_obstacles, 2)) * (1 - size)
        maze = Maze(np.concatenate([corner, corner + size], axis=1), name=f"seed {seed}")
        if _connected_fraction(maze, 0.05) >= 0.97:
            return maze


def _connected_fraction(maze: Maze, clearance: float, cells: int = 64) -> float:
    """Fraction of free grid cells in the largest 4-connected component."""
    g = (np.arange(cells) + 0.5) / cells
    free = maze.point_free(np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1), clearance=clearance)
    label = np.where(free, np.arange(free.size).reshape(free.shape), -1)
    while True:  # min-label propagation; converges in at most the grid's diameter
        new = label.copy()
        for axis in (0, 1):
            for shift in (1, -1):
                nb = np.roll(label, shift, axis=axis)
                edge: list[slice | int] = [slice(None)] * 2
                edge[axis] = 0 if shift == 1 else -1
                nb[tuple(edge)] = -1
                new = np.where(free & (nb >= 0), np.minimum(new, np.where(nb >= 0, nb, new)), new)
        if np.array_equal(new, label):
            break
        label = new
    counts = np.unique(label[free], return_counts=True)[1]
    return float(counts.max() / free.sum()) if counts.size else 0.0


def make_maze(layout: int | None) -> Maze:
    """The default maze for ``layout=None``, else :func:`random_maze` with that seed."""
    return default_maze() if layout is None else random_maze(layout)


def sample_queries(
    maze: Maze, n: int, rng: np.random.Generator, *, clearance: float = 0.04, min_distance: float = 0.4
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (start, goal) pairs in free space, at least ``min_distance`` apart (Euclidean)."""
    starts, goals = np.empty((0, 2)), np.empty((0, 2))
    while len(starts) < n:
        m = 2 * (n - len(starts)) + 8
        s, g = maze.sample_free(rng, m, clearance=clearance), maze.sample_free(rng, m, clearance=clearance)
        keep = np.linalg.norm(s - g, axis=1) >= min_distance
        starts, goals = np.concatenate([starts, s[keep]]), np.concatenate([goals, g[keep]])
    return starts[:n], goals[:n]
