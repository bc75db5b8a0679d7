"""Training to convergence by one rule for every method: validation success at checkpoints, with patience.

Every ``every`` steps the EMA network is evaluated closed loop on the **validation** queries
(``validate(model) -> {"success": ..., "jerk": ...}``). A checkpoint **improves** on the best so far when
its success exceeds the best success by more than ``min_delta``, or equals it (within ``min_delta``) with a
lower squared jerk. Training stops after ``patience`` checkpoints in a row without improvement, or at
``max_steps``; the network returned is the best checkpoint's. The rule sees nothing but validation
closed-loop numbers, so it is the same for clean only, co-training and every ambient row.

The held-out denoising loss on clean chunks (``diagnostic(model) -> float``) is recorded at every
checkpoint beside the success, **not** used to stop: it does not rank the methods by success.

The optimiser is AdamW at a constant learning rate after a linear warm-up (a cosine schedule would tie the
rate to a budget fixed in advance, which is what the rule removes), gradient norm clipped to 1, EMA of
the weights. With ``state=path`` everything that the next step depends on (weights, EMA, optimiser,
generator, history, best checkpoint) is saved at each checkpoint, and a run started again with the same
``state`` continues where it stopped.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ambientloss.adapters.torch import AmbientLoss

from .diffusion import Batch
from .diffusion import step as train_step

__all__ = ["Converged", "Criterion", "best_checkpoint", "better", "stopping_point", "train_to_convergence"]


@dataclass(frozen=True)
class Criterion:
    """Checkpoint interval ``every``, ``patience`` (checkpoints without improvement), ``max_steps`` and the
    success margin ``min_delta`` that counts as an improvement."""

    every: int = 500
    patience: int = 4
    max_steps: int = 20_000
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        for name in ("every", "patience", "max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps < self.every:
            raise ValueError(f"max_steps must be >= every, got max_steps={self.max_steps}, every={self.every}")
        if not 0 <= self.min_delta < 1:
            raise ValueError(f"min_delta must lie in [0, 1), got {self.min_delta}")


def better(score: dict[str, float], best: dict[str, float], *, min_delta: float = 0.0) -> bool:
    """Whether ``score`` improves on ``best``: higher success by more than ``min_delta``, or the same success
    (within ``min_delta``) and a lower jerk (NaN jerk, no success, counts as infinite).

    Examples
    --------
    >>> better({"success": 0.8, "jerk": 9.0}, {"success": 0.7, "jerk": 1.0})
    True
    >>> better({"success": 0.7, "jerk": 2.0}, {"success": 0.7, "jerk": 1.0})
    False
    """

    def jerk(d: dict[str, float]) -> float:
        j = float(d.get("jerk", math.inf))
        return math.inf if math.isnan(j) else j

    if score["success"] > best["success"] + min_delta:
        return True
    return abs(score["success"] - best["success"]) <= min_delta and jerk(score) < jerk(best)


def best_checkpoint(history: Sequence[dict[str, float]], *, min_delta: float = 0.0) -> int:
    """Index of the best checkpoint of ``history`` (the first of equals), by :func:`better`."""
    if not history:
        raise ValueError("history must hold at least one checkpoint")
    best = 0
    for i in range(1, len(history)):
        if better(history[i], history[best], min_delta=min_delta):
            best = i
    return best


def stopping_point(history: Sequence[dict[str, float]], criterion: Criterion) -> int | None:
    """Index of the checkpoint after which the rule stops (``patience`` checkpoints without improvement, or
    the one at ``max_steps``), or ``None`` while training goes on. Entries hold ``step``, ``success``, ``jerk``.

    Examples
    --------
    >>> c = Criterion(every=10, patience=2, max_steps=100)
    >>> curve = [0.1, 0.5, 0.6, 0.55, 0.6, 0.2]
    >>> stopping_point([{"step": 10 * (i + 1), "success": s, "jerk": 1.0} for i, s in enumerate(curve)], c)
    4
    """
    best, waited = 0, 0
    for i, h in enumerate(history):
        if i and better(h, history[best], min_delta=criterion.min_delta):
            best, waited = i, 0
        elif i:
            waited += 1
        if waited >= criterion.patience or h["step"] >= criterion.max_steps:
            return i
    return None


@dataclass
class Converged:
    """The best checkpoint's EMA ``model`` (eval mode), its ``best_step``, the step training stopped at, why,
    and the ``history`` of checkpoints (step, validation numbers, held-out loss, seconds)."""

    model: nn.Module
    best_step: int
    stopped_at: int
    reason: str
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds_per_step: float = float("nan")


def _numbers(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if isinstance(v, (int, float)) or getattr(v, "ndim", None) == 0}


def train_to_convergence(
    model: nn.Module,
    draw: Callable[[torch.Generator], Batch],
    loss_fn: AmbientLoss,
    validate: Callable[[nn.Module], dict[str, Any]],
    *,
    criterion: Criterion,
    diagnostic: Callable[[nn.Module], float] | None = None,
    lr: float = 1e-3,
    warmup: int = 100,
    ema: float = 0.995,
    seed: int = 0,
    state: Path | None = None,
    log: Callable[[str], object] | None = None,
) -> Converged:
    """Train ``model`` on batches of ``draw`` until :func:`stopping_point` says stop (module docstring)."""
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-6)
    averaged = copy.deepcopy(model).requires_grad_(False)
    best_weights = copy.deepcopy(averaged.state_dict())
    history: list[dict[str, Any]] = []
    step, train_seconds = 0, 0.0
    if state is not None and state.exists():
        saved = torch.load(state, weights_only=True)
        model.load_state_dict(saved["model"])
        averaged.load_state_dict(saved["averaged"])
        opt.load_state_dict(saved["opt"])
        g.set_state(saved["generator"])
        best_weights, history = saved["best"], list(saved["history"])
        step, train_seconds = int(saved["step"]), float(saved["train_seconds"])
    model.train()
    stop = stopping_point(history, criterion)
    while stop is None:
        t0 = time.perf_counter()
        for _ in range(criterion.every):
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / warmup) if warmup else lr
            train_step(model, averaged, opt, loss_fn, draw(g), g, ema)
            step += 1
        train_seconds += time.perf_counter() - t0
        t1 = time.perf_counter()
        averaged.eval()
        entry: dict[str, Any] = {"step": step, **_numbers(validate(averaged))}
        if diagnostic is not None:
            entry["heldout_loss"] = float(diagnostic(averaged))
        entry["eval_seconds"] = time.perf_counter() - t1
        history.append(entry)
        if best_checkpoint(history, min_delta=criterion.min_delta) == len(history) - 1:
            best_weights = copy.deepcopy(averaged.state_dict())
        if log is not None:
            log(", ".join(f"{k}={v:.4g}" for k, v in entry.items()))
        stop = stopping_point(history, criterion)
        if state is not None:
            state.parent.mkdir(parents=True, exist_ok=True)
            tmp = state.with_suffix(".tmp")
            torch.save(
                {
                    "model": model.state_dict(),
                    "averaged": averaged.state_dict(),
                    "opt": opt.state_dict(),
                    "generator": g.get_state(),
                    "best": best_weights,
                    "history": history,
                    "step": step,
                    "train_seconds": train_seconds,
                },
                tmp,
            )
            tmp.replace(state)
    best = best_checkpoint(history, min_delta=criterion.min_delta)
    averaged.load_state_dict(best_weights)
    last = history[stop]["step"]
    reason = "max_steps" if last >= criterion.max_steps and stop - best < criterion.patience else "patience"
    return Converged(averaged.eval(), history[best]["step"], last, reason, history, train_seconds / max(step, 1))
