"""Planar pushing: a circular pusher moves a square block on a table into a goal disk (pymunk).

Coordinates are the unit square (the table, one side = 1 m); pymunk works in centimetres (``SCALE``). The
view is top-down, so gravity is zero and the block-table friction is modelled as in pymunk's top-down
examples, with joints to the static body whose ``max_bias = 0`` (no position correction): four
:class:`pymunk.PivotJoint` s, one at the centre of each quarter of the block, each cancel the velocity of
their point with at most a quarter of the Coulomb force ``friction * mass * g``. The four patches couple
sliding and turning like distributed friction does (a push off the centre line turns the block; a single
pivot plus a gear joint would let it slide without turning). On top, the space damps every velocity at the
rate ``damping`` (1/s).

The pusher is a dynamic disk without table friction, held by a force-limited servo: a pivot joint to a
kinematic hand body that moves linearly, over one control step, to the commanded position issued ``delay``
control steps earlier. The joint corrects the pusher-hand error at the rate ``pusher_gain`` (1/s, at most
1 m/s) with at most ``pusher_force`` newtons, so a heavy, high-friction block slows the pusher down.
Control runs at 10 Hz with ten 10 ms physics substeps.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
import pymunk

__all__ = ["BLOCK_SIZE", "PUSHER_RADIUS", "REAL", "SIM", "BatchEnv", "Dynamics", "Layout", "Tasks", "Trace"]
__all__ += ["make_layout", "sample_tasks"]

SCALE = 100.0  # pymunk units (cm) per table side (1 m)
GRAVITY = 9.81 * SCALE
BLOCK_SIZE = 0.12  # block side, table units
PUSHER_RADIUS = 0.025
PUSHER_MASS = 0.5  # kg
CONTROL_DT = 0.1  # s (10 Hz)
SUBSTEPS = 10
OBS_DIM = 8


def _count(name: str, value: object, minimum: int) -> None:
    """Raise unless ``value`` is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class Dynamics:
    """One set of physical parameters.

    Parameters
    ----------
    name : str
        Label used in reports.
    friction : float
        Block-table Coulomb coefficient, >= 0.
    block_mass : float
        Block mass in kg, > 0.
    damping : float
        Velocity decay rate of the space in 1/s, >= 0 (``space.damping = exp(-damping)``).
    delay : int
        Control steps between a command and its execution, >= 0.
    pusher_gain : float
        Servo error-correction rate in 1/s, > 0.
    pusher_force : float
        Servo force limit in N, > 0.
    contact_friction : float
        Pusher-block Coulomb coefficient, >= 0.
    """

    name: str
    friction: float
    block_mass: float
    damping: float
    delay: int
    pusher_gain: float
    pusher_force: float
    contact_friction: float

    def __post_init__(self) -> None:
        _count("delay", self.delay, 0)
        for f in fields(self)[1:]:
            v, positive = getattr(self, f.name), f.name in ("block_mass", "pusher_gain", "pusher_force")
            if not math.isfinite(v) or v < 0 or (positive and v == 0):
                raise ValueError(f"{f.name} must be {'> 0' if positive else '>= 0'} and finite, got {v!r}")


SIM = Dynamics("sim", 0.08, 0.3, 0.2, 0, 60.0, 30.0, 0.3)
"""The simulator: a light, slippery block that coasts after a push, a stiff servo without delay."""
REAL = Dynamics("real", 0.5, 1.0, 1.0, 1, 15.0, 10.0, 0.8)
"""The real system: a heavy block with high friction, a softer, weaker servo and one control step of delay."""


@dataclass(frozen=True)
class Layout:
    """Goal disk and start region of a task family.

    Parameters
    ----------
    goal : tuple of float
        Goal position of the block centre, table units.
    tolerance : float
        Success radius around ``goal``.
    start_low, start_high : tuple of float
        Corners of the box the block centre starts in.
    name : str
        Label used in reports.
    """

    goal: tuple[float, float] = (0.72, 0.6)
    tolerance: float = 0.04
    start_low: tuple[float, float] = (0.2, 0.25)
    start_high: tuple[float, float] = (0.42, 0.6)
    name: str = "default"

    def __post_init__(self) -> None:
        for name in ("goal", "start_low", "start_high"):
            v = np.asarray(getattr(self, name), dtype=np.float64)
            if v.shape != (2,) or not np.all((v >= 0) & (v <= 1)):
                raise ValueError(f"{name} must be a point of the unit square, got {getattr(self, name)!r}")
        if not np.all(np.less_equal(self.start_low, self.start_high)):
            raise ValueError(f"start_low {self.start_low} must not exceed start_high {self.start_high}")
        if not (math.isfinite(self.tolerance) and self.tolerance > 0):
            raise ValueError(f"tolerance must be > 0 and finite, got {self.tolerance!r}")


def make_layout(seed: int | None) -> Layout:
    """The default layout for ``None``; for an integer, the goal and start box moved by a seeded offset."""
    if seed is None:
        return Layout()
    _count("seed", seed, 0)
    rng = np.random.default_rng([int(seed), 4099])
    base = Layout()
    goal = np.add(base.goal, rng.uniform(-0.1, 0.1, 2))
    shift = rng.uniform(-0.06, 0.06, 2)
    lo, hi = np.add(base.start_low, shift), np.add(base.start_high, shift)
    return Layout(tuple(goal.tolist()), base.tolerance, tuple(lo.tolist()), tuple(hi.tolist()), f"seed {seed}")


class Tasks(NamedTuple):
    """Initial states: ``pusher_start`` ``(n, 2)`` and ``block_pose`` ``(n, 3)`` rows ``(x, y, angle)``."""

    pusher_start: np.ndarray
    block_pose: np.ndarray


class Trace(NamedTuple):
    """Executed states of one episode: ``pusher`` ``(T + 1, 2)``, ``block`` ``(T + 1, 3)`` (x, y, angle)."""

    pusher: np.ndarray
    block: np.ndarray


def sample_tasks(layout: Layout, n: int, rng: np.random.Generator) -> Tasks:
    """``n`` start states: block centre uniform in the start box, any angle, pusher clear of the block."""
    _count("n", n, 0)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    block = np.column_stack(
        [rng.uniform(layout.start_low, layout.start_high, size=(n, 2)), rng.uniform(0, 2 * np.pi, size=n)]
    )
    clearance = BLOCK_SIZE / math.sqrt(2) + PUSHER_RADIUS + 0.03
    pusher = np.empty((n, 2))
    for i in range(n):
        while True:
            p = rng.uniform(0.08, 0.92, size=2)
            if np.hypot(*(p - block[i, :2])) > clearance:
                pusher[i] = p
                break
    return Tasks(pusher, block)


class _World:
    """One pymunk space: block with table friction, servoed pusher, kinematic hand, command queue."""

    __slots__ = ("block", "hand", "pusher", "queue", "space")

    def __init__(self, pusher_start: np.ndarray, block_pose: np.ndarray, d: Dynamics) -> None:
        self.space = space = pymunk.Space()
        space.damping = math.exp(-d.damping)
        side = BLOCK_SIZE * SCALE
        self.block = pymunk.Body(d.block_mass, pymunk.moment_for_box(d.block_mass, (side, side)))
        self.block.position = (block_pose[0] * SCALE, block_pose[1] * SCALE)
        self.block.angle = float(block_pose[2])
        box = pymunk.Poly.create_box(self.block, (side, side))
        box.friction, box.elasticity = d.contact_friction, 0.0
        force = d.friction * d.block_mass * GRAVITY / 4
        patches = []
        for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            patch = pymunk.PivotJoint(space.static_body, self.block, (0, 0), (dx * side / 4, dy * side / 4))
            patch.max_bias, patch.max_force = 0.0, force
            patches.append(patch)
        start = (pusher_start[0] * SCALE, pusher_start[1] * SCALE)
        self.pusher = pymunk.Body(PUSHER_MASS, math.inf)
        self.pusher.position = start
        disk = pymunk.Circle(self.pusher, PUSHER_RADIUS * SCALE)
        disk.friction, disk.elasticity = 1.0, 0.0
        self.hand = pymunk.Body(body_type=pymunk.Body.KINEMATIC)
        self.hand.position = start
        servo = pymunk.PivotJoint(self.hand, self.pusher, (0, 0), (0, 0))
        servo.max_force, servo.max_bias = d.pusher_force * SCALE, SCALE
        servo.error_bias = math.exp(-d.pusher_gain)
        space.add(self.block, box, *patches, self.pusher, disk, self.hand, servo)
        self.queue: deque[tuple[float, float]] = deque([start] * d.delay)

    def advance(self, command: tuple[float, float]) -> None:
        """One control step: the hand moves linearly to the command issued ``delay`` steps ago."""
        self.queue.append(command)
        tx, ty = self.queue.popleft()
        hx, hy = self.hand.position
        self.hand.velocity = ((tx - hx) / CONTROL_DT, (ty - hy) / CONTROL_DT)
        for _ in range(SUBSTEPS):
            self.space.step(CONTROL_DT / SUBSTEPS)
        self.hand.position, self.hand.velocity = (tx, ty), (0.0, 0.0)

    def state(self) -> tuple[float, float, float, float, float]:
        """Pusher x, y and block x, y (table units), block angle."""
        p, b = self.pusher.position, self.block.position
        return p.x / SCALE, p.y / SCALE, b.x / SCALE, b.y / SCALE, self.block.angle


class BatchEnv:
    """``B`` pushing episodes side by side, one pymunk space each.

    Parameters
    ----------
    layout : Layout
        Goal and start region.
    tasks : Tasks
        Initial states, ``B`` rows.
    dynamics : Dynamics
        Physical parameters (``REAL``, ``SIM`` or your own).
    max_steps : int
        Control-step budget per episode.

    Attributes
    ----------
    obs_dim : int
        8: pusher ``(x, y)`` now, pusher ``(x, y)`` one control step ago, block ``(x, y)``, and
        ``(cos 4a, sin 4a)`` of the block angle ``a`` (the square looks the same every quarter turn).
    action_dim : int
        2: the commanded pusher position, table units (clipped to the table).
    done : numpy.ndarray
        ``(B,)`` bool: the block centre reached the goal disk, or the budget ran out.
    """

    obs_dim = OBS_DIM
    action_dim = 2

    def __init__(self, layout: Layout, tasks: Tasks, dynamics: Dynamics, *, max_steps: int = 150) -> None:
        if not isinstance(layout, Layout):
            raise ValueError(f"layout must be a Layout, got {type(layout).__name__}")
        if not isinstance(dynamics, Dynamics):
            raise ValueError(f"dynamics must be a Dynamics, got {type(dynamics).__name__}")
        _count("max_steps", max_steps, 1)
        if not isinstance(tasks, tuple) or len(tasks) != 2:
            raise ValueError("tasks must be a Tasks (pusher_start, block_pose)")
        pusher, block = (np.asarray(x, dtype=np.float64) for x in tasks)
        n = len(pusher) if pusher.ndim == 2 else -1
        for name, x, cols in (("tasks.pusher_start", pusher, 2), ("tasks.block_pose", block, 3)):
            if x.shape != (n, cols) or not np.isfinite(x).all():
                raise ValueError(f"{name} must be a finite (B, {cols}) array (B = {n}), got shape {x.shape}")
        self.layout, self.dynamics, self.max_steps = layout, dynamics, int(max_steps)
        self.batch_size = n
        self._worlds = [_World(pusher[i], block[i], dynamics) for i in range(n)]
        self._goal = np.asarray(layout.goal, dtype=np.float64)
        self.steps = np.zeros(n, dtype=np.int64)
        self.success = np.zeros(n, dtype=bool)
        self.done = np.zeros(n, dtype=bool)
        self._obs = np.zeros((n, OBS_DIM))
        self._trace: list[list[tuple[float, ...]]] = [[w.state()] for w in self._worlds]
        for i in range(n):
            self._record(i, self._trace[i][0][:2])
        self._update_done(np.arange(n))

    def _record(self, i: int, previous: tuple[float, ...]) -> None:
        px, py, bx, by, a = self._trace[i][-1]
        self._obs[i] = (px, py, previous[0], previous[1], bx, by, math.cos(4 * a), math.sin(4 * a))

    def _update_done(self, idx: np.ndarray) -> None:
        dist = np.hypot(*(self._obs[idx, 4:6] - self._goal).T)
        self.success[idx] |= dist <= self.layout.tolerance
        self.done[idx] = self.success[idx] | (self.steps[idx] >= self.max_steps)

    def observe(self) -> np.ndarray:
        """Observations ``(B, obs_dim)``, float64, table units (see :attr:`obs_dim`)."""
        return self._obs.copy()

    def step(self, actions: np.ndarray) -> None:
        """Advance every unfinished episode by one control step; finished ones ignore their action (even NaN)."""
        a = np.asarray(actions, dtype=np.float64)
        if a.shape != (self.batch_size, 2):
            raise ValueError(f"actions must have shape ({self.batch_size}, 2), got {a.shape}")
        active = np.flatnonzero(~self.done)
        if not np.isfinite(a[active]).all():
            raise ValueError("actions must be finite for the unfinished episodes")
        a = np.clip(a, 0.0, 1.0) * SCALE
        for i in active:
            previous = self._trace[i][-1]
            self._worlds[i].advance((float(a[i, 0]), float(a[i, 1])))
            self._trace[i].append(self._worlds[i].state())
            self._record(i, previous)
        self.steps[active] += 1
        self._update_done(active)

    def metrics(self) -> dict[str, np.ndarray]:
        """Per episode: ``success`` (bool), ``steps`` (control steps taken), ``final_distance`` (block to goal)."""
        dist = np.hypot(*(self._obs[:, 4:6] - self._goal).T)
        return {"success": self.success.copy(), "steps": self.steps.copy(), "final_distance": dist}

    @property
    def trace(self) -> list[Trace]:
        """Executed pusher and block states of each episode, one row per control step (the start included)."""
        rows = [np.asarray(r) for r in self._trace]
        return [Trace(r[:, :2], r[:, 2:]) for r in rows]
