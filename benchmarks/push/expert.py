"""Closed-loop scripted expert for the pushing task, and the demonstrations it records.

The expert reads only the observation. It keeps its own reference point (the last command) and moves it with
a bounded velocity and a bounded change of velocity per step, so its commands are smooth whatever the
actuation delay. Two modes, with hysteresis:

- **approach**: go to a stand-off point behind the block, on the line from the goal through the block centre.
  When the straight way there passes the block, the reference orbits the block on a clearance circle, turning
  the short way round, until the stand-off point is in view.
- **push**: advance along the current block-to-goal line and re-centre the measured pusher on it (80 % of
  its lateral offset per step), with the command at most 3.5 cm past the block's face. The line is recomputed
  every step, so the push corrects itself as the block drifts or turns. Pushing slows down within 12 cm of the
  goal. The expert falls back to approach when its reference slips off the line.

The episode ends when the block centre enters the goal disk. :func:`replay` executes recorded action
sequences open loop, the measure of how much the dynamics gap matters.
"""

from __future__ import annotations

import math

import numpy as np

from benchmarks.push.env import BLOCK_SIZE, PUSHER_RADIUS, BatchEnv, Dynamics, Layout, Tasks, _count, sample_tasks

__all__ = ["Expert", "expert_demos", "expert_episode", "replay"]

_H = BLOCK_SIZE / 2


def _clip_norm(v: np.ndarray, limit: np.ndarray | float) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    limit = np.reshape(limit, (-1, 1)) if np.ndim(limit) else limit
    return v * np.minimum(1.0, limit / np.maximum(norm, 1e-12))


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


class Expert:
    """Scripted pusher for the ``B`` episodes of a :class:`~benchmarks.push.env.BatchEnv`; stateful, call once a step.

    Parameters
    ----------
    layout : Layout
        Supplies the goal.
    obs : numpy.ndarray
        First observation ``(B, 8)`` of a :class:`~benchmarks.push.env.BatchEnv`.
    rng : numpy.random.Generator, optional
        Varies the speed (85-100 %) and the clearance per episode, and the way round when the block is
        between the pusher and its stand-off point; ``None`` gives the nominal expert.
    speed : float
        Largest displacement of the reference per control step while approaching (table units).
    push_speed : float
        Largest displacement per control step while pushing.
    accel : float
        Largest change of the per-step displacement from one step to the next.
    """

    def __init__(
        self,
        layout: Layout,
        obs: np.ndarray,
        rng: np.random.Generator | None = None,
        *,
        speed: float = 0.02,
        push_speed: float = 0.016,
        accel: float = 0.008,
    ) -> None:
        obs = np.asarray(obs, dtype=np.float64)
        if obs.ndim != 2 or obs.shape[1] != BatchEnv.obs_dim:
            raise ValueError(f"obs must have shape (B, {BatchEnv.obs_dim}), got {obs.shape}")
        b = obs.shape[0]
        self.goal = np.asarray(layout.goal, dtype=np.float64)
        scale = np.ones(b) if rng is None else rng.uniform(0.85, 1.0, b)
        self.speed, self.push_speed, self.accel = speed * scale, push_speed * scale, accel
        self.clearance = np.full(b, 0.03) if rng is None else rng.uniform(0.025, 0.04, b)
        self._coin = np.ones(b) if rng is None else rng.choice([-1.0, 1.0], b)
        self.cmd = obs[:, :2].copy()
        self.vel = np.zeros((b, 2))
        self.pushing = np.zeros(b, dtype=bool)
        self.turn = np.zeros(b)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Commanded pusher positions ``(B, 2)`` for the observations ``(B, 8)``."""
        obs = np.asarray(obs, dtype=np.float64)
        block, angle = obs[:, 4:6], np.arctan2(obs[:, 7], obs[:, 6]) / 4
        to_goal = self.goal - block
        dist = np.linalg.norm(to_goal, axis=1)
        u = to_goal / np.maximum(dist, 1e-9)[:, None]
        n = np.column_stack([-u[:, 1], u[:, 0]])
        phi = np.arctan2(u[:, 1], u[:, 0]) - angle
        contact = (_H + PUSHER_RADIUS) / np.maximum(np.abs(np.cos(phi)), np.abs(np.sin(phi)))
        r = self.cmd - block
        along, lat = np.sum(r * u, axis=1), np.sum(r * n, axis=1)

        aligned = (np.abs(lat) < 0.3 * _H) & (along < -contact + 0.01) & (along > -contact - 0.06)
        slipped = (np.abs(lat) > 0.75 * _H) | (along > -0.5 * contact) | (along < -contact - 0.1)
        self.pushing = (self.pushing & ~slipped) | aligned

        # push: forward along the block-to-goal line, slower near the goal, re-centred on the line
        fwd = self.push_speed * np.clip(dist / 0.12, 0.4, 1.0)
        fwd = np.minimum(fwd, -contact + 0.035 - along)
        lat_now = np.sum((obs[:, :2] - block) * n, axis=1)
        push_target = self.cmd + u * fwd[:, None] - n * (0.8 * lat_now)[:, None]

        # approach: the stand-off point, or round the block on the clearance circle
        standoff = block - u * (contact + 0.03)[:, None]
        rho = _H * math.sqrt(2) + PUSHER_RADIUS + self.clearance
        radius = np.linalg.norm(r, axis=1)
        at = np.arctan2(r[:, 1], r[:, 0])
        delta = _wrap(np.arctan2(-u[:, 1], -u[:, 0]) - at)
        beta = np.arccos(np.clip(rho / np.maximum(radius, 1e-9), 0.0, 1.0))
        around = np.abs(delta) > beta + 0.05
        fresh = around & ((self.turn == 0) | (np.abs(delta) < 2.5))
        self.turn = np.where(fresh, np.sign(delta), self.turn)
        self.turn = np.where(fresh & (np.abs(delta) >= 2.5), self._coin, self.turn)
        self.turn = np.where(around, self.turn, 0.0)
        step = np.minimum(np.abs(delta), beta + 0.3)
        way_angle = at + self.turn * step
        way = block + (rho / math.cos(0.15))[:, None] * np.column_stack([np.cos(way_angle), np.sin(way_angle)])
        approach_target = np.where(around[:, None], way, standoff)

        target = np.where(self.pushing[:, None], push_target, approach_target)
        gain = np.where(self.pushing, 1.0, 0.6)[:, None]
        wanted = _clip_norm(gain * (target - self.cmd), self.speed)
        self.vel = self.vel + _clip_norm(wanted - self.vel, self.accel)
        lo, hi = PUSHER_RADIUS, 1.0 - PUSHER_RADIUS
        self.cmd = np.clip(self.cmd + self.vel, lo, hi)
        pusher = obs[:, :2]
        self.cmd = pusher + _clip_norm(self.cmd - pusher, 0.1)
        return self.cmd.copy()


def _one_task(task: Tasks) -> Tasks:
    pusher = np.asarray(task[0], dtype=np.float64).reshape(-1, 2)
    block = np.asarray(task[1], dtype=np.float64).reshape(-1, 3)
    if pusher.shape[0] != 1 or block.shape[0] != 1:
        raise ValueError(f"task must hold one episode, got {pusher.shape[0]} pusher and {block.shape[0]} block rows")
    return Tasks(pusher, block)


def expert_episode(
    layout: Layout, task: Tasks, rng: np.random.Generator, dynamics: Dynamics, *, max_steps: int = 150
) -> tuple[np.ndarray, np.ndarray]:
    """Run the expert on one task in a 1-episode :class:`BatchEnv`.

    Parameters
    ----------
    layout : Layout
        Goal and start region.
    task : Tasks
        One episode: ``pusher_start`` ``(2,)`` or ``(1, 2)``, ``block_pose`` ``(3,)`` or ``(1, 3)``.
    rng : numpy.random.Generator
        Draws the expert's per-episode variation.
    dynamics : Dynamics
        Physical parameters.
    max_steps : int
        Control-step budget.

    Returns
    -------
    obs : numpy.ndarray
        ``(T, 8)`` observation before each action.
    actions : numpy.ndarray
        ``(T, 2)`` commanded pusher positions.
    """
    obs, actions, _ = _run(layout, task, rng, dynamics, max_steps)
    return obs, actions


def _run(
    layout: Layout, task: Tasks, rng: np.random.Generator | None, dynamics: Dynamics, max_steps: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    env = BatchEnv(layout, _one_task(task), dynamics, max_steps=max_steps)
    obs = env.observe()
    expert = Expert(layout, obs, rng)
    obs_rows, act_rows = [], []
    while not env.done[0]:
        action = expert(obs)
        obs_rows.append(obs[0])
        act_rows.append(action[0])
        env.step(action)
        obs = env.observe()
    obs_out = np.asarray(obs_rows).reshape(-1, env.obs_dim)
    return obs_out, np.asarray(act_rows).reshape(-1, 2), bool(env.success[0])


def expert_demos(
    layout: Layout, n: int, rng: np.random.Generator, dynamics: Dynamics, *, max_steps: int = 150
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` successful expert episodes on tasks drawn with :func:`sample_tasks` (a failed episode is redrawn)."""
    _count("n", n, 0)
    demos: list[tuple[np.ndarray, np.ndarray]] = []
    failures = 0
    while len(demos) < n:
        task = sample_tasks(layout, 1, rng)
        obs, actions, success = _run(layout, task, rng, dynamics, max_steps)
        if success:
            demos.append((obs, actions))
        else:
            failures += 1
            if failures > max(10, n):
                raise RuntimeError(f"the expert failed {failures} times in {dynamics.name}")
    return demos


def replay(
    layout: Layout, tasks: Tasks, dynamics: Dynamics, actions: list[np.ndarray], *, max_steps: int = 150
) -> BatchEnv:
    """Execute recorded action sequences open loop, holding each one's last action until the budget ends.

    Parameters
    ----------
    layout, tasks, dynamics, max_steps
        As for :class:`BatchEnv`.
    actions : list of numpy.ndarray
        One ``(T_i, 2)`` sequence per task, ``T_i >= 1``.

    Returns
    -------
    BatchEnv
        The finished environment (:meth:`BatchEnv.metrics`, :attr:`BatchEnv.trace`).
    """
    env = BatchEnv(layout, tasks, dynamics, max_steps=max_steps)
    if len(actions) != env.batch_size or any(np.ndim(a) != 2 or len(a) == 0 for a in actions):
        raise ValueError(f"actions must be {env.batch_size} non-empty (T, 2) arrays")
    for t in range(max_steps):
        if env.done.all():
            break
        env.step(np.stack([a[min(t, len(a) - 1)] for a in actions]))
    return env
