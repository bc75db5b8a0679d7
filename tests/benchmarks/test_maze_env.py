"""Geometry of the maze: exact segment-versus-rectangle tests, free space, layouts and queries."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from benchmarks.maze.env import Maze, default_maze, make_maze, random_maze, sample_queries, segments_hit_boxes

BOX = np.array([[0.25, 0.25, 0.75, 0.5]])


def _hit(a, b, box=BOX):
    return bool(segments_hit_boxes(np.asarray(a, float), np.asarray(b, float), box)[0])


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0.0, 0.3), (1.0, 0.3), True),  # crosses
        ((0.3, 0.3), (0.4, 0.4), True),  # inside
        ((0.0, 0.0), (0.25, 0.25), True),  # ends on a corner
        ((0.0, 0.5), (1.0, 0.5), True),  # runs along the top edge
        ((0.0, 0.75), (0.5, 0.25), True),  # through the top-left corner region
        ((0.0, 0.5), (0.25, 0.75), False),  # diagonal that only nears the corner (0.25, 0.5)
        ((0.0, 0.51), (1.0, 0.51), False),  # parallel above
        ((0.76, 0.0), (0.76, 1.0), False),  # parallel right
        ((0.75, 0.0), (0.75, 1.0), True),  # along the right edge
        ((0.0, 0.0), (0.2, 0.2), False),  # stops before
        ((0.5, 0.4), (0.5, 0.4), True),  # a point inside
        ((0.5, 0.6), (0.5, 0.6), False),  # a point outside
        ((0.2, 0.0), (0.8, 0.25), False),  # reaches y = 0.25 only at x = 0.8, right of the box
    ],
)
def test_segment_box_cases(a, b, expected):
    assert _hit(a, b) is expected
    assert _hit(b, a) is expected  # direction does not matter


def _sat_oracle(a, b, box):
    """Separating-axis test in exact rational arithmetic: axes x, y and the segment's normal."""
    a, b = [Fraction(v) for v in a], [Fraction(v) for v in b]
    x0, y0, x1, y1 = (Fraction(v) for v in box)
    if max(a[0], b[0]) < x0 or min(a[0], b[0]) > x1 or max(a[1], b[1]) < y0 or min(a[1], b[1]) > y1:
        return False
    n = (b[1] - a[1], a[0] - b[0])
    c = n[0] * a[0] + n[1] * a[1]
    proj = [n[0] * x + n[1] * y for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
    return min(proj) <= c <= max(proj)


def test_segment_box_matches_exact_separating_axis_oracle():
    rng = np.random.default_rng(0)  # coordinates on a 1/16 grid: exact in float64, many touching cases
    a = rng.integers(0, 17, size=(3000, 2)) / 16
    b = rng.integers(0, 17, size=(3000, 2)) / 16
    boxes = np.sort(rng.integers(0, 17, size=(5, 2, 2)) / 16, axis=1).transpose(0, 2, 1).reshape(5, 4)
    boxes = boxes[(boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])]
    got = segments_hit_boxes(a, b, boxes)
    want = np.array([[_sat_oracle(p, q, box) for box in boxes] for p, q in zip(a, b, strict=True)])
    assert got.shape == want.shape
    assert 0.05 < want.mean() < 0.95  # both outcomes are exercised
    assert np.array_equal(got, want)


def test_maze_validates_obstacles():
    with pytest.raises(ValueError, match=r"shape \(K, 4\)"):
        Maze(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="obstacle 1"):
        Maze(np.array([[0.1, 0.1, 0.2, 0.2], [0.5, 0.5, 0.4, 0.6]]))


def test_point_free_and_collides():
    maze = Maze(BOX)
    pts = np.array([[0.5, 0.4], [0.5, 0.55], [0.5, 0.52], [1.2, 0.1], [0.0, 0.0]])
    assert maze.point_free(pts).tolist() == [False, True, True, False, True]
    assert maze.point_free(pts, clearance=0.03).tolist() == [False, True, False, False, False]
    paths = np.array(
        [
            [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]],  # free
            [[0.1, 0.1], [0.5, 0.3], [0.9, 0.9]],  # first segment enters the box
            [[0.1, 0.1], [0.9, 0.1], [1.1, 0.9]],  # leaves the square
        ]
    )
    assert maze.collides(paths).tolist() == [False, True, True]
    assert maze.collides(paths[0][None], clearance=0.2).tolist() == [True]  # 0.1 from the grown box
    with pytest.raises(ValueError, match="paths must have shape"):
        maze.collides(np.zeros((3, 3)))


def test_sample_free_keeps_clearance():
    maze = default_maze()
    pts = maze.sample_free(np.random.default_rng(1), 500, clearance=0.04)
    assert pts.shape == (500, 2)
    assert maze.point_free(pts, clearance=0.04).all()


def test_random_layouts_are_seeded_and_connected():
    a, b, c = random_maze(5), random_maze(5), random_maze(6)
    assert np.array_equal(a.obstacles, b.obstacles)
    assert not np.array_equal(a.obstacles, c.obstacles)
    assert make_maze(None).name == "default"
    assert make_maze(5).name == "seed 5"
    o = a.obstacles
    assert ((o[:, :2] >= 0) & (o[:, 2:] <= 1)).all()


def test_sample_queries_are_free_and_apart():
    maze = default_maze()
    s, g = sample_queries(maze, 200, np.random.default_rng(2), clearance=0.04, min_distance=0.4)
    assert s.shape == g.shape == (200, 2)
    assert maze.point_free(s, clearance=0.04).all()
    assert maze.point_free(g, clearance=0.04).all()
    assert (np.linalg.norm(s - g, axis=1) >= 0.4).all()
