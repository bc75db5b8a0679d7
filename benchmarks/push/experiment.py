"""One pushing run: record real and sim demonstrations, annotate the sim chunks, train every method, and
evaluate it closed loop in ``REAL`` on held-out tasks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.policy import classifier as chunk_classifier
from benchmarks.policy import diffusion
from benchmarks.policy.chunking import tensor32
from benchmarks.policy.config import HORIZON, REPORTED_TIMESTEPS, TIMESTEPS, BaseConfig
from benchmarks.policy.methods import Pools, make_draw
from benchmarks.policy.rollout import rollout
from benchmarks.policy.unet import ChunkUnet

from . import joint
from .data import chunks, decode, demos, normalise_obs
from .env import REAL, SIM, BatchEnv, Layout, Tasks, make_layout, sample_tasks

__all__ = ["VARIANTS", "Annotator", "Config", "Setting", "brief", "build", "dataset_shapes", "evaluate",
           "level_sigma", "train_variant"]

#: rows of the tables: method:loss
VARIANTS = (
    "clean:ambient",
    "cotrain:ambient",
    "ambient:ambient",
    "ambient:denoise",
    "ambient_level:ambient",
)


@dataclass(frozen=True)
class Config(BaseConfig):
    """Every setting of a run (the shared ones of :class:`~benchmarks.policy.config.BaseConfig` at the push
    defaults, clean = real, low quality = sim); :mod:`benchmarks.push.protocol` freezes the tuned ones."""

    n_clean: int = 50  #: real demonstrations
    n_corrupt: int = 2000  #: sim demonstrations
    corrupt_stride: int = 4  #: a training row at every 4th step of each sim demonstration
    steps: int = 1600  #: tuned
    cotrain_fraction: float = 0.5  #: co-training's source weight (fixed)
    classifier_input: str = "joint"  #: tuned: "chunk" (chunk only) or "joint" (chunk and observation)

    @classmethod
    def tiny(cls) -> Config:
        return super().tiny().replace(corrupt_stride=8, max_steps=12)


@dataclass
class Setting:
    """A layout's data for one seed: training pools, held-out rows for the classifier, evaluation tasks."""

    layout: Layout
    pools: Pools
    heldout: Pools
    val: Tasks
    test: Tasks



def _pools(real: list, sim: list, stride: int) -> Pools:
    oc, xc = chunks(real)
    ol, xl = chunks(sim, stride=stride)
    return Pools(tensor32(xc), tensor32(oc), tensor32(xl), tensor32(ol), diffusion.schedule(TIMESTEPS))


def build(layout_seed: int | None, cfg: Config, seed: int, cache: Path | None = None) -> Setting:
    """Demonstrations (``cfg.n_clean`` in ``REAL``, ``cfg.n_corrupt`` in ``SIM``), held-out demonstrations for the
    classifier (a quarter as many, other seeds) and the validation / test tasks (other seeds again)."""
    layout = make_layout(layout_seed)
    pools = _pools(demos(layout, cfg.n_clean, REAL, [seed, 0], cache),
                   demos(layout, cfg.n_corrupt, SIM, [seed, 1], cache), cfg.corrupt_stride)
    held = _pools(demos(layout, max(2, cfg.n_clean // 4), REAL, [seed, 2], cache),
                  demos(layout, max(2, cfg.n_corrupt // 16), SIM, [seed, 3], cache), cfg.corrupt_stride)
    val = sample_tasks(layout, cfg.n_val, np.random.default_rng([10_000 + seed, 5]))
    test = sample_tasks(layout, cfg.n_test, np.random.default_rng([20_000 + seed, 5]))
    return Setting(layout, pools, held, val, test)


class Annotator:
    """The real-vs-sim classifier of one setting (``"chunk"`` or ``"joint"`` input) and its ``sigma_min``."""

    def __init__(self, s: Setting, kind: str, *, seed: int, steps: int) -> None:
        if kind not in ("chunk", "joint"):
            raise ValueError(f"classifier input must be 'chunk' or 'joint', got {kind!r}")
        self.s, self.kind, self.seed = s, kind, seed
        fit = joint.fit if kind == "joint" else chunk_classifier.fit
        self.model = fit(s.pools, seed=seed, steps=steps)

    def accuracy(self, timesteps: tuple[int, ...] = REPORTED_TIMESTEPS) -> dict[int, float]:
        """Balanced accuracy on the held-out rows at each training timestep."""
        h = self.s.heldout
        sig = self.s.pools.table.sigmas
        return {t: joint.accuracy(self.model, (h.xc, h.oc), (h.xl, h.ol), float(sig[t]), seed=self.seed + 1,
                                  joint=self.kind == "joint", top=float(sig[-1])) for t in timesteps}

    def sigma_min(self, eps: float) -> torch.Tensor:
        fn = joint.sigma_min_of if self.kind == "joint" else chunk_classifier.sigma_min_of
        return fn(self.model, self.s.pools, eps=eps, seed=self.seed)


def level_sigma(s: Setting, timestep: int) -> torch.Tensor:
    """The dataset-level ``sigma_min``: the table's level at ``timestep`` for every sim row."""
    return torch.full((len(s.pools.xl),), float(s.pools.table.sigmas[timestep]))


def train_variant(s: Setting, method: str, loss: str, cfg: Config, seed: int, *, sigma_min: torch.Tensor | None = None,
                  tick: Callable[[int], object] | None = None) -> torch.nn.Module:
    """Train one policy (``sigma_min`` of the sim rows for the ambient methods)."""
    fraction = cfg.cotrain_fraction if method == "cotrain" else cfg.clean_fraction
    draw = make_draw(s.pools, batch_size=cfg.batch_size, use_low=method != "clean", sigma_min=sigma_min, loss=loss,
                     clean_fraction=fraction, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ChunkUnet(2, BatchEnv.obs_dim, widths=cfg.widths, groups=min(8, cfg.widths[0]))
    return diffusion.train(net, draw, diffusion.loss_function(s.pools.table), steps=cfg.steps, lr=cfg.lr, seed=seed,
                           tick=tick)


def evaluate(model: torch.nn.Module, s: Setting, split: str, cfg: Config, seed: int) -> dict[str, Any]:
    """Closed-loop episodes in ``REAL`` on the ``split`` tasks (``"val"`` or ``"test"``)."""
    env = BatchEnv(s.layout, s.val if split == "val" else s.test, REAL, max_steps=cfg.max_steps)
    g = torch.Generator().manual_seed(seed)

    def policy(obs: np.ndarray) -> np.ndarray:
        o = normalise_obs(obs)
        x = diffusion.ddim_sample(model, tensor32(o), s.pools.table, (HORIZON, 2), steps=cfg.sample_steps,
                                  generator=g)
        return decode(x.numpy().astype(np.float64), o)

    m = rollout(env, policy, n_exec=cfg.n_exec)
    ok = m["success"]
    return {
        "success": float(ok.mean()),
        "final_distance": float(m["final_distance"].mean()),
        "steps": float(m["steps"][ok].mean()) if ok.any() else float("nan"),
        "traces": env.trace[: cfg.n_traces],
    }


def brief(r: dict[str, Any]) -> dict[str, float]:
    """The numbers of an evaluation, without the traces."""
    return {k: r[k] for k in ("success", "final_distance", "steps")}


def dataset_shapes(s: Setting) -> dict[str, int]:
    return {"real_rows": len(s.pools.xc), "sim_rows": len(s.pools.xl)}

