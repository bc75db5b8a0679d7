"""One maze run: plan the data, annotate, train every method, evaluate closed loop on held-out queries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ambientloss.annotation import source_sigma_min
from benchmarks.policy import diffusion
from benchmarks.policy.chunking import tensor32
from benchmarks.policy.config import HORIZON, TIMESTEPS, BaseConfig
from benchmarks.policy.methods import Pools, make_draw
from benchmarks.policy.mlp import make_denoiser
from benchmarks.policy.rollout import rollout

from .closed_loop import MazeEpisodes, squared_jerk
from .data import MARGIN, RRT_CLEARANCE, chunk_groups, chunks, decode, plan_demos, queries
from .env import Maze, make_maze
from .planners import VisibilityGraph

__all__ = [
    "VARIANTS",
    "Config",
    "Setting",
    "build",
    "evaluate",
    "level_sigma",
    "per_demonstration",
    "train_variant",
]

#: rows of the tables: method:loss
VARIANTS = (
    "clean:ambient",
    "cotrain:ambient",
    "ambient:ambient",
    "ambient:denoise",
    "ambient_level:ambient",
    "ambient_level:denoise",
)


@dataclass(frozen=True)
class Config(BaseConfig):
    """Every setting of a run (the shared ones of :class:`~benchmarks.policy.config.BaseConfig` at the maze's
    defaults); :mod:`benchmarks.maze.protocol` freezes the tuned ones."""

    n_clean: int = 100  #: smooth demonstrations
    n_corrupt: int = 5000  #: plain-RRT demonstrations
    corrupt_stride: int = 4  #: a training row at every 4th step of each RRT trajectory
    denoiser: Literal["unet", "mlp"] = "unet"  #: ChunkUnet with ``widths``, or ChunkMLP (benchmarks.policy.mlp)
    batch_size: int = 256
    classifier_steps: int = 1500
    n_traces: int = 30  #: executed paths kept per evaluation in the JSON (for figures)

    @classmethod
    def tiny(cls) -> Config:
        return super().tiny().replace(n_clean=6, n_corrupt=12, corrupt_stride=8)


@dataclass
class Setting:
    """A layout's data for one seed: the pools and the evaluation queries."""

    maze: Maze
    pools: Pools
    demos: dict[str, Any]
    val: tuple[np.ndarray, ...]
    test: tuple[np.ndarray, ...]
    data_jerk: dict[str, float] = field(default_factory=dict)
    groups: np.ndarray | None = None  #: the RRT demonstration of each low-quality row



def build(layout: int | None, cfg: Config, seed: int, cache: Path | None = None) -> Setting:
    """Plan ``cfg.n_clean`` smooth and ``cfg.n_corrupt`` RRT demonstrations (cached in ``cache``) and the queries."""
    maze = make_maze(layout)
    graph = VisibilityGraph(maze, margin=MARGIN)
    demos = {}
    for source, n in (("smooth", cfg.n_clean), ("rrt", cfg.n_corrupt)):
        tag = source if source == "smooth" else f"rrt{RRT_CLEARANCE:g}"  # a new clearance, a new file
        f = None if cache is None else cache / f"maze-{layout}-{tag}-{n}-{seed}.npz"
        if f is not None and f.exists():
            z = np.load(f)
            lengths = z["lengths"]
            flat = np.split(z["points"], np.cumsum(lengths)[:-1])
            demos[source] = (flat, z["goals"])
        else:
            d = plan_demos(maze, n, source, seed=seed, graph=graph)
            demos[source] = (d.paths, d.goals)
            if f is not None:
                f.parent.mkdir(parents=True, exist_ok=True)
                np.savez(f, points=np.concatenate(d.paths), lengths=[len(p) for p in d.paths], goals=d.goals)
    from .data import Demos

    oc, xc = chunks(Demos(*demos["smooth"]))
    ol, xl = chunks(Demos(*demos["rrt"]), stride=cfg.corrupt_stride)
    groups = chunk_groups(Demos(*demos["rrt"]), stride=cfg.corrupt_stride)
    pools = Pools(tensor32(xc), tensor32(oc), tensor32(xl), tensor32(ol), diffusion.schedule(TIMESTEPS))
    jerk = {k: float(np.mean([squared_jerk(p) for p in v[0]])) for k, v in demos.items()}
    val = queries(maze, cfg.n_val, seed=10_000 + seed, graph=graph)
    test = queries(maze, cfg.n_test, seed=20_000 + seed, graph=graph)
    return Setting(maze, pools, demos, val, test, jerk, groups)


def train_variant(
    s: Setting,
    method: str,
    loss: str,
    cfg: Config,
    seed: int,
    *,
    sigma_min: torch.Tensor | None = None,
    tick: Callable[[int], object] | None = None,
) -> torch.nn.Module:
    """Train one policy: ``method`` in ``METHODS`` (``sigma_min`` of the RRT rows for the ambient ones)."""
    draw = make_draw(
        s.pools,
        batch_size=cfg.batch_size,
        use_low=method != "clean",
        sigma_min=sigma_min,
        loss=loss,
        clean_fraction=cfg.clean_fraction,
        seed=seed,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = make_denoiser(cfg.denoiser, 2, 6, horizon=HORIZON, widths=cfg.widths)
    return diffusion.train(
        net, draw, diffusion.loss_function(s.pools.table), steps=cfg.steps, lr=cfg.lr, seed=seed, tick=tick
    )


def evaluate(model: torch.nn.Module, s: Setting, split: str, cfg: Config, seed: int) -> dict[str, Any]:
    """Closed-loop episodes on the ``split`` queries (``"val"`` or ``"test"``)."""
    starts, goals, ref = s.val if split == "val" else s.test
    env = MazeEpisodes(s.maze, starts, goals, max_steps=cfg.max_steps)
    g = torch.Generator().manual_seed(seed)

    def policy(obs: np.ndarray) -> np.ndarray:
        x = diffusion.ddim_sample(
            model, torch.as_tensor(obs), s.pools.table, (HORIZON, 2), steps=cfg.sample_steps, generator=g
        )
        return decode(x.numpy().astype(np.float64), obs.astype(np.float64))

    m = rollout(env, policy, n_exec=cfg.n_exec)
    ok = m["success"]
    return {
        "success": float(ok.mean()),
        "jerk": float(np.mean(m["jerk"][ok])) if ok.any() else float("nan"),
        #: per query: the squared jerk where it succeeded, None where not (rows are compared on common successes)
        "jerk_each": [float(j) if k else None for j, k in zip(m["jerk"], ok, strict=True)],
        "length": float(np.mean(m["length"][ok] / ref[ok])) if ok.any() else float("nan"),
        "collided": float(m["collided"].mean()),
        "paths": m["paths"],
    }


def per_demonstration(s: Setting, sigma_min: torch.Tensor) -> torch.Tensor:
    """Per-chunk levels pooled per RRT demonstration (its worst chunk: ``source_sigma_min(reduce="max")``)."""
    pooled, _ = source_sigma_min(sigma_min, s.groups, reduce="max")
    return pooled


def level_sigma(s: Setting, timestep: int, n: int) -> torch.Tensor:
    """The dataset-level ``sigma_min``: the table's level at ``timestep`` for all ``n`` RRT rows."""
    return torch.full((n,), float(s.pools.table.sigmas[timestep]))
