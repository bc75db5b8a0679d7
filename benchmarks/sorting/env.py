"""The bin-sorting world: a gripper point, one coloured object and two bins in the unit square.

An action is the gripper's next commanded position ``(x, y)`` and a grip command ``g`` (``g > 0`` closed).
Each step the gripper moves towards the commanded position by at most :data:`MAX_SPEED` (the displacement is
clipped in length, then the position to the unit square). A closed-while-holding gripper carries the object
at its grasp offset. On the step the grip goes from open to closed, the object is picked if it lies within
:data:`GRASP_RADIUS` of the gripper's new position; on the step it goes from closed to open, a held object is
released where it is: inside a bin (closed rectangle) it is *in* that bin and the episode ends, elsewhere it
lies on the table and may be picked again. An episode also ends after ``max_steps`` steps.

A close that picks nothing (a *missed close*) leaves the gripper closed and empty; a grip command ``g <= 0``
reopens it, and the next close within :data:`GRASP_RADIUS` picks the object, so a missed close can always be
recovered. :meth:`BatchEnv.metrics` counts both (``"missed"``, ``"reopened"``).

Observation (``OBS_DIM = 9`` floats): gripper ``(x, y)``, previous gripper ``(x, y)``, grip state (``-1``
open, ``+1`` closed), object ``(x, y)``, colour as ``-1`` (colour 0) / ``+1`` (colour 1), holding flag (0/1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = [
    "ACTION_DIM",
    "GRASP_RADIUS",
    "MAX_SPEED",
    "MAX_STEPS",
    "OBS_DIM",
    "BatchEnv",
    "Layout",
    "Tasks",
    "bin_of",
    "make_layout",
    "sample_tasks",
]

MAX_SPEED = 0.05
"""Largest gripper displacement per step (Euclidean)."""
GRASP_RADIUS = 0.03
"""Largest gripper-object distance at which closing the gripper picks the object."""
MAX_STEPS = 120
"""Default step budget of an episode."""
OBS_DIM = 9
ACTION_DIM = 3


def _box(value: object, name: str) -> np.ndarray:
    b = np.array(value, dtype=np.float64)
    ordered = (b[..., 0] < b[..., 2]) & (b[..., 1] < b[..., 3]) if b.shape[-1:] == (4,) else np.array(False)
    if b.shape[-1:] != (4,) or not np.isfinite(b).all() or not ordered.all():
        msg = f"{name} must hold finite rows (x_min, y_min, x_max, y_max) with x_min < x_max, y_min < y_max"
        raise ValueError(msg)
    if (b < 0).any() or (b > 1).any():
        msg = f"{name} must lie in the unit square, got {b.tolist()}"
        raise ValueError(msg)
    b.setflags(write=False)
    return b


@dataclass(frozen=True, eq=False)
class Layout:
    """Bins and sampling regions of the table, all boxes ``(x_min, y_min, x_max, y_max)``.

    Parameters
    ----------
    bins : numpy.ndarray
        ``(2, 4)``: bin 0 (left) and bin 1 (right); they must not overlap.
    object_region : numpy.ndarray
        ``(4,)``: where objects are placed at the start.
    start_region : numpy.ndarray
        ``(4,)``: where the gripper starts.
    name : str
        Label used in reports.

    Examples
    --------
    >>> layout = make_layout(None)
    >>> layout.name, layout.bins.shape
    ('default', (2, 4))
    """

    bins: np.ndarray
    object_region: np.ndarray
    start_region: np.ndarray
    name: str = "layout"

    def __post_init__(self) -> None:
        bins = _box(self.bins, "bins")
        if bins.shape != (2, 4):
            msg = f"bins must have shape (2, 4), got {bins.shape}"
            raise ValueError(msg)
        if (bins[0, :2] <= bins[1, 2:]).all() and (bins[1, :2] <= bins[0, 2:]).all():
            msg = "bins must not overlap"
            raise ValueError(msg)
        for name in ("object_region", "start_region"):
            region = _box(getattr(self, name), name)
            if region.shape != (4,):
                msg = f"{name} must have shape (4,), got {region.shape}"
                raise ValueError(msg)
            object.__setattr__(self, name, region)
        object.__setattr__(self, "bins", bins)


class Tasks(NamedTuple):
    """Initial conditions of ``n`` episodes (or of one, with the leading axis dropped)."""

    gripper_start: np.ndarray
    """``(n, 2)`` gripper positions."""
    object_pos: np.ndarray
    """``(n, 2)`` object positions."""
    colour: np.ndarray
    """``(n,)`` integer colours in {0, 1}; colour ``c`` belongs in bin ``c``."""


def make_layout(seed: int | None) -> Layout:
    """The default layout for ``seed=None``, else a seeded variation (bins and object region perturbed).

    Variations keep bin 0 left of bin 1 with a gap between them and the object region below both bins.

    Examples
    --------
    >>> bool(np.array_equal(make_layout(3).bins, make_layout(3).bins))
    True
    >>> bool(np.array_equal(make_layout(3).bins, make_layout(None).bins))
    False
    """
    start = np.array([0.10, 0.10, 0.90, 0.60])
    if seed is None:
        bins = np.array([[0.10, 0.72, 0.38, 0.92], [0.62, 0.72, 0.90, 0.92]])
        return Layout(bins, np.array([0.15, 0.10, 0.85, 0.40]), start, name="default")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        msg = f"seed must be an int or None, got {seed!r}"
        raise TypeError(msg)
    rng = np.random.default_rng([int(seed), 4241])
    cx = np.array([0.24, 0.76]) + rng.uniform(-0.07, 0.07, size=2)
    cy = 0.82 + rng.uniform(-0.04, 0.04, size=2)
    half_w = 0.14 * rng.uniform(0.8, 1.1, size=2)
    half_h = 0.10 * rng.uniform(0.8, 1.1, size=2)
    bins = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    ox, oy = rng.uniform(-0.05, 0.05), rng.uniform(0.0, 0.05)
    ow, oh = 0.35 * rng.uniform(0.8, 1.0), 0.15 * rng.uniform(0.8, 1.0)
    region = np.array([0.5 + ox - ow, 0.25 + oy - oh, 0.5 + ox + ow, 0.25 + oy + oh])
    return Layout(bins, region, start, name=f"seed {int(seed)}")


def sample_tasks(layout: Layout, n: int, rng: np.random.Generator) -> Tasks:
    """``n`` episodes: uniform gripper starts and object positions in their regions, fair-coin colours."""
    if n < 0:
        msg = f"n must be non-negative, got {n}"
        raise ValueError(msg)
    s, o = layout.start_region, layout.object_region
    gripper = rng.uniform(s[:2], s[2:], size=(n, 2))
    obj = rng.uniform(o[:2], o[2:], size=(n, 2))
    return Tasks(gripper, obj, rng.integers(0, 2, size=n))


def bin_of(layout: Layout, points: np.ndarray) -> np.ndarray:
    """Index of the bin containing each point ``(..., 2)`` (closed boxes), ``-1`` for none.

    Examples
    --------
    >>> bin_of(make_layout(None), np.array([[0.2, 0.8], [0.8, 0.8], [0.5, 0.5]])).tolist()
    [0, 1, -1]
    """
    p = np.asarray(points, dtype=np.float64)[..., None, :]
    inside = np.all((p >= layout.bins[:, :2]) & (p <= layout.bins[:, 2:]), axis=-1)
    return np.where(inside.any(axis=-1), np.argmax(inside, axis=-1), -1)


def _check_tasks(tasks: Tasks) -> Tasks:
    g = np.array(tasks.gripper_start, dtype=np.float64, ndmin=2)
    o = np.array(tasks.object_pos, dtype=np.float64, ndmin=2)
    c = np.array(tasks.colour, ndmin=1)
    n = len(g)
    if g.shape != (n, 2) or o.shape != (n, 2) or c.shape != (n,) or n == 0:
        got = f"{g.shape}, {o.shape}, {c.shape}"
        msg = f"tasks must hold gripper_start (B, 2), object_pos (B, 2), colour (B,) with B >= 1, got {got}"
        raise ValueError(msg)
    if not (np.isfinite(g).all() and np.isfinite(o).all() and np.isin(c, (0, 1)).all()):
        msg = "tasks must have finite positions and colours in {0, 1}"
        raise ValueError(msg)
    return Tasks(g, o, c.astype(np.int64))


class BatchEnv:
    """``B`` episodes run side by side.

    Parameters
    ----------
    layout : Layout
        Bins of every episode.
    tasks : Tasks
        ``B`` initial conditions (see :func:`sample_tasks`).
    max_steps : int
        Step budget per episode.
    max_speed, grasp_radius : float
        See :data:`MAX_SPEED` and :data:`GRASP_RADIUS`.

    Attributes
    ----------
    done : numpy.ndarray
        ``(B,)`` bool: object in a bin or budget spent.
    obs_dim, action_dim : int
        9 and 3.

    Examples
    --------
    >>> layout = make_layout(None)
    >>> env = BatchEnv(layout, Tasks(np.array([[0.5, 0.3]]), np.array([[0.5, 0.3]]), np.array([0])))
    >>> env.step(np.array([[0.5, 0.3, 1.0]]))  # close on the object
    >>> float(env.observe()[0, 8])  # holding
    1.0
    """

    obs_dim: int = OBS_DIM
    action_dim: int = ACTION_DIM

    def __init__(
        self,
        layout: Layout,
        tasks: Tasks,
        *,
        max_steps: int = MAX_STEPS,
        max_speed: float = MAX_SPEED,
        grasp_radius: float = GRASP_RADIUS,
    ) -> None:
        if max_steps < 1 or not max_speed > 0 or not grasp_radius > 0:
            got = f"{max_steps}, {max_speed}, {grasp_radius}"
            msg = f"max_steps, max_speed and grasp_radius must be positive, got {got}"
            raise ValueError(msg)
        tasks = _check_tasks(tasks)
        self.layout, self.tasks = layout, tasks
        self.max_steps, self.max_speed, self.grasp_radius = int(max_steps), float(max_speed), float(grasp_radius)
        b = len(tasks.colour)
        self.batch_size = b
        self.gripper = tasks.gripper_start.copy()
        self.prev_gripper = self.gripper.copy()
        self.closed = np.zeros(b, dtype=bool)
        self.object = tasks.object_pos.copy()
        self.holding = np.zeros(b, dtype=bool)
        self.offset = np.zeros((b, 2))
        self.in_bin = np.full(b, -1, dtype=np.int64)
        self.missed = np.zeros(b, dtype=bool)
        self.reopened = np.zeros(b, dtype=bool)
        self.steps = np.zeros(b, dtype=np.int64)
        self.done = np.zeros(b, dtype=bool)
        self._trace = [self.gripper.copy()]

    @property
    def trace(self) -> np.ndarray:
        """Executed gripper positions ``(B, T + 1, 2)`` after ``T`` calls of :meth:`step`.

        A finished episode repeats its final position; its own length is ``metrics()["steps"] + 1``.
        """
        return np.stack(self._trace, axis=1)

    def observe(self) -> np.ndarray:
        """The current observation ``(B, 9)`` (layout in the module docstring)."""
        colour = 2.0 * self.tasks.colour - 1.0
        grip = np.where(self.closed, 1.0, -1.0)
        return np.column_stack(
            [self.gripper, self.prev_gripper, grip, self.object, colour, self.holding.astype(np.float64)]
        )

    def step(self, actions: np.ndarray) -> None:
        """Advance the unfinished episodes by one step; finished ones ignore their rows of ``actions``.

        Parameters
        ----------
        actions : numpy.ndarray
            ``(B, 3)``: commanded position ``(x, y)`` and grip command (``> 0`` closed).
        """
        a = np.asarray(actions, dtype=np.float64)
        if a.shape != (self.batch_size, ACTION_DIM):
            msg = f"actions must have shape ({self.batch_size}, {ACTION_DIM}), got {a.shape}"
            raise ValueError(msg)
        if not np.isfinite(a).all():
            msg = "actions must be finite"
            raise ValueError(msg)
        live = ~self.done
        move = a[:, :2] - self.gripper
        length = np.linalg.norm(move, axis=1, keepdims=True)
        move *= np.minimum(1.0, self.max_speed / np.maximum(length, 1e-300))
        new = np.clip(self.gripper + move, 0.0, 1.0)
        self.prev_gripper = np.where(live[:, None], self.gripper, self.prev_gripper)
        self.gripper = np.where(live[:, None], new, self.gripper)
        carried = live & self.holding
        self.object[carried] = np.clip(self.gripper[carried] + self.offset[carried], 0.0, 1.0)

        close = a[:, 2] > 0
        grasp = live & close & ~self.closed & ~self.holding
        grasp &= np.linalg.norm(self.object - self.gripper, axis=1) <= self.grasp_radius
        self.offset[grasp] = self.object[grasp] - self.gripper[grasp]
        self.reopened |= live & ~close & self.closed & ~self.holding & self.missed  # open again, empty
        self.missed |= live & close & ~self.closed & ~self.holding & ~grasp  # closed on nothing
        self.holding |= grasp
        release = live & ~close & self.holding
        self.holding &= ~release
        self.in_bin = np.where(release, bin_of(self.layout, self.object), self.in_bin)
        self.closed = np.where(live, close, self.closed)

        self.steps += live
        self.done |= live & ((self.in_bin >= 0) | (self.steps >= self.max_steps))
        self._trace.append(self.gripper.copy())

    def metrics(self) -> dict[str, np.ndarray]:
        """Per-episode outcome.

        Returns
        -------
        dict
            ``"logic"`` (bool, object in the bin of its colour), ``"completion"`` (bool, object in any bin),
            ``"steps"`` (int, steps taken), ``"bin"`` (int, the object's bin, ``-1`` for none), ``"missed"``
            (bool, a close picked nothing) and ``"reopened"`` (bool, the gripper opened again, empty, after it).
        """
        return {
            "logic": self.in_bin == self.tasks.colour,
            "completion": self.in_bin >= 0,
            "steps": self.steps.copy(),
            "bin": self.in_bin.copy(),
            "missed": self.missed.copy(),
            "reopened": self.reopened.copy(),
        }
