"""One bin-sorting run: demonstrations, annotation, every method trained, closed-loop evaluation.

Methods (one network, one budget; :mod:`benchmarks.policy.methods` does the sampling):

- ``clean``: the 50 clean demonstrations only;
- ``cotrain``: clean and low-quality rows at every level, half of each batch from each source;
- ``omni_sweep``: Ambient-Omni with the low-quality rows only below one ``sigma_max`` (a training timestep
  chosen on validation; ``sigma_min`` is the table's top level, so there is no high-noise branch);
- ``omni_window``: the same with a per-row ``sigma_max`` from window classifiers (:mod:`.windows`);
- ``ambient_level``: the low-quality rows above one dataset-level ``sigma_min`` (ambient target);
- ``ambient``: above a per-row ``sigma_min`` from the noise-conditional chunk classifier
  (:func:`benchmarks.policy.classifier.annotate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from benchmarks.policy import diffusion
from benchmarks.policy.chunking import tensor32
from benchmarks.policy.classifier import annotate
from benchmarks.policy.config import HORIZON, TIMESTEPS, BaseConfig
from benchmarks.policy.methods import Pools, make_draw
from benchmarks.policy.rollout import rollout
from benchmarks.policy.unet import ChunkUnet

from .data import OBS_FEATURES, chunks, decode, normalise_obs
from .env import ACTION_DIM, MAX_STEPS, BatchEnv, Layout, Tasks, make_layout, sample_tasks
from .expert import MISS_RATE, expert_demos
from .windows import annotate_sigma_max

__all__ = ["METHODS", "Config", "Setting", "annotations", "build", "evaluate", "level", "level_of", "run_method",
           "run_seed", "sigma_bounds", "train"]

METHODS = ("clean", "cotrain", "omni_sweep", "omni_window", "ambient_level", "ambient")


@dataclass(frozen=True)
class Config(BaseConfig):
    """Every setting of a run (the shared ones of :class:`~benchmarks.policy.config.BaseConfig` at the sorting
    defaults); the tuning stage chooses the tuned ones on validation and freezes them."""

    low_rule: str = "random"  #: the low-quality demonstrations' bin rule
    widths: tuple[int, ...] = (16, 32)  #: budget probe on validation (see protocol.json)
    omni_t: int = 20  #: tuned: Ambient-Omni's sigma_max as a training timestep (usable strictly below it)
    classifier_steps: int = 600
    window_sizes: tuple[int, ...] = (2, 4, 8, 16)
    window_steps: int = 400
    window_threshold: float = 0.25
    max_steps: int = MAX_STEPS
    n_val: int = 200
    n_traces: int = 40
    miss_rate: float = MISS_RATE  #: share of demonstrations (of both sources alike) that miss a close and recover

    @classmethod
    def tiny(cls) -> Config:
        """Seconds-sized settings for tests."""
        return super().tiny().replace(window_steps=3, window_sizes=(2, 16))


@dataclass
class Setting:
    """One layout's data for one seed: the pools and the validation and test tasks."""

    layout: Layout
    pools: Pools
    val: Tasks
    test: Tasks



def build(layout: int | None, cfg: Config, seed: int) -> Setting:
    """Demonstrations (``cfg.n_clean`` correct, ``cfg.n_corrupt`` with ``cfg.low_rule``) and the tasks of one seed.

    Validation tasks come from seed ``10_000 + seed``, test tasks from ``20_000 + seed``, demonstrations from
    ``seed`` itself, so no split shares a task.
    """
    lay = make_layout(layout)
    clean = expert_demos(lay, cfg.n_clean, np.random.default_rng([seed, 1]), rule="correct", miss_rate=cfg.miss_rate)
    low = expert_demos(lay, cfg.n_corrupt, np.random.default_rng([seed, 2]), rule=cfg.low_rule,
                       miss_rate=cfg.miss_rate)
    oc, xc = chunks(clean)
    ol, xl = chunks(low)
    pools = Pools(tensor32(xc), tensor32(oc), tensor32(xl), tensor32(ol), diffusion.schedule(TIMESTEPS))
    val = sample_tasks(lay, cfg.n_val, np.random.default_rng([10_000 + seed, 3]))
    test = sample_tasks(lay, cfg.n_test, np.random.default_rng([20_000 + seed, 3]))
    return Setting(lay, pools, val, test)


def level_of(timestep: int) -> float:
    """The VP level of the policy's noise table at a training timestep."""
    return float(diffusion.schedule(TIMESTEPS).sigmas[timestep])


def level(s: Setting, timestep: int) -> float:
    """The VP level of ``s``'s noise table at a training timestep."""
    return float(s.pools.table.sigmas[timestep])


def sigma_bounds(
    s: Setting, method: str, cfg: Config, seed: int, cache: dict[str, Any] | None = None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(sigma_min, sigma_max)`` of the low rows for ``method`` (annotations are kept in ``cache``)."""
    cache = {} if cache is None else cache
    n = len(s.pools.xl)
    top = torch.full((n,), level(s, -1))
    if method in ("clean", "cotrain"):
        return None, None
    if method == "omni_sweep":
        return top, torch.full((n,), level(s, cfg.omni_t))
    if method == "omni_window":
        if "window" not in cache:
            cache["window"] = annotate_sigma_max(s.pools, sizes=cfg.window_sizes, seed=seed, steps=cfg.window_steps,
                                                 threshold=cfg.window_threshold)
        return top, cache["window"].sigma_max
    if method == "ambient_level":
        return torch.full((n,), level(s, cfg.level_t)), None
    if method == "ambient":
        if "chunk" not in cache:
            cache["chunk"] = annotate(s.pools, seed=seed, steps=cfg.classifier_steps, eps=cfg.eps)
        return cache["chunk"].sigma_min, None
    raise ValueError(f"unknown method {method!r}; valid: {METHODS}")


def train(
    s: Setting, method: str, cfg: Config, seed: int, *, sigma_min: torch.Tensor | None = None,
    sigma_max: torch.Tensor | None = None, tick: Callable[[int], object] | None = None,
) -> torch.nn.Module:
    """Train one policy (the EMA network) for ``method`` with the low rows' ``sigma_min`` / ``sigma_max``."""
    draw = make_draw(s.pools, batch_size=cfg.batch_size, use_low=method != "clean", sigma_min=sigma_min,
                     sigma_max=sigma_max, clean_fraction=cfg.clean_fraction, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ChunkUnet(ACTION_DIM, OBS_FEATURES, widths=cfg.widths, groups=min(8, cfg.widths[0]))
    return diffusion.train(net, draw, diffusion.loss_function(s.pools.table), steps=cfg.steps, lr=cfg.lr, seed=seed,
                           tick=tick)


def evaluate(model: torch.nn.Module, s: Setting, split: str, cfg: Config, seed: int, *, n_traces: int = 0
             ) -> dict[str, Any]:
    """Closed-loop episodes on the ``split`` tasks (``"val"`` or ``"test"``): DDIM chunks, execute ``n_exec``."""
    tasks = s.val if split == "val" else s.test
    env = BatchEnv(s.layout, tasks, max_steps=cfg.max_steps)
    g = torch.Generator().manual_seed(seed)

    def policy(obs: np.ndarray) -> np.ndarray:
        o = normalise_obs(obs)
        x = diffusion.ddim_sample(model, tensor32(o), s.pools.table, (HORIZON, ACTION_DIM), steps=cfg.sample_steps,
                                  generator=g)
        return decode(x.numpy(), o)

    m = rollout(env, policy, n_exec=cfg.n_exec)
    out: dict[str, Any] = {
        "logic": float(m["logic"].mean()),
        "completion": float(m["completion"].mean()),
        "steps": float(m["steps"].mean()),
        "missed_close": float(m["missed"].mean()),  #: episodes with a close that picked nothing
        "reopened": float(m["reopened"].mean()),  #: episodes that opened the gripper again after it
    }
    if n_traces:
        k = min(n_traces, env.batch_size)
        out["traces"] = [env.trace[i, : int(m["steps"][i]) + 1].tolist() for i in range(k)]
        out["trace_bins"] = m["bin"][:k].tolist()
        out["trace_colours"] = tasks.colour[:k].tolist()
    return out


def run_method(s: Setting, method: str, cfg: Config, seed: int, split: str, *, cache: dict[str, Any],
               n_traces: int = 0, tick: Callable[[int], object] | None = None) -> dict[str, Any]:
    """Train ``method`` (annotations kept in ``cache``) and evaluate it on ``split``."""
    lo, hi = sigma_bounds(s, method, cfg, seed, cache)
    model = train(s, method, cfg, seed, sigma_min=lo, sigma_max=hi, tick=tick)
    return evaluate(model, s, split, cfg, seed, n_traces=n_traces)


def annotations(cache: dict[str, Any]) -> dict[str, Any]:
    """Summaries of the annotations in ``cache``: the window classifiers' and the chunk classifier's."""
    out: dict[str, Any] = {}
    if "window" in cache:
        w = cache["window"]
        out["window"] = {"table": w.table, "mean_clean": w.mean_clean,
                         "sigma_max_mean": float(w.sigma_max.mean()),
                         "sigma_max_levels": {f"{v:.3f}": int(c) for v, c in zip(*np.unique(
                             w.sigma_max.numpy().round(3), return_counts=True), strict=True)}}
    if "chunk" in cache:
        c = cache["chunk"]
        out["chunk_classifier"] = {"accuracy": c.accuracy, "sigma_min_mean": float(c.sigma_min.mean()),
                                   "sigma_min_zero": float((c.sigma_min == 0).float().mean())}
    return out


def run_seed(s: Setting, cfg: Config, seed: int, split: str, *, methods: tuple[str, ...] = METHODS,
             n_traces: int = 0) -> dict[str, Any]:
    """Every method of ``methods`` for one seed, evaluated on ``split``."""
    out: dict[str, Any] = {"variants": {}, "seconds": {}}
    cache: dict[str, Any] = {}
    for method in methods:
        t0 = time.perf_counter()
        out["variants"][method] = run_method(s, method, cfg, seed, split, cache=cache, n_traces=n_traces)
        out["seconds"][method] = time.perf_counter() - t0
    return {**out, **annotations(cache)}
