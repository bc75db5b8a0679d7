"""Receding-horizon execution of an action-chunk policy in a batch of episodes.

The environment protocol (every benchmark's ``BatchEnv``): ``observe() -> (B, O)``, ``step(actions)``
with ``actions`` ``(B, A)`` (finished episodes ignore theirs), ``done`` ``(B,)`` (set on success,
failure or the step budget), ``metrics() -> dict``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

__all__ = ["BatchEnv", "rollout"]


class BatchEnv(Protocol):
    """B episodes side by side."""

    done: np.ndarray

    def observe(self) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> None: ...

    def metrics(self) -> dict[str, Any]: ...


def rollout(env: BatchEnv, policy: Callable[[np.ndarray], np.ndarray], *, n_exec: int = 8) -> dict[str, Any]:
    """Run every episode to its end: predict a chunk ``(B, T, A)`` from ``observe()``, execute its first
    ``n_exec`` actions, observe again; returns ``env.metrics()``."""
    if n_exec < 1:
        msg = f"n_exec must be >= 1, got {n_exec}"
        raise ValueError(msg)
    while not bool(np.all(env.done)):
        chunk = policy(env.observe())
        if chunk.ndim != 3 or chunk.shape[1] < n_exec:
            msg = f"the policy must return (B, T >= {n_exec}, A) chunks, got shape {chunk.shape}"
            raise ValueError(msg)
        for k in range(n_exec):
            env.step(chunk[:, k])
            if bool(np.all(env.done)):
                break
    return env.metrics()
