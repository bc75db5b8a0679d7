r"""Training methods for the maze policy: one network, one step budget, four ways to use the RRT data.

========================= ==================================================================================
method                    which rows are used at which timesteps
========================= ==================================================================================
``clean``                 clean rows only, every timestep
``cotrain``               clean and RRT rows (source reweighting by ``clean_fraction``), every timestep
``ambient``               RRT row ``i`` only at timesteps whose level exceeds its own ``sigma_min_i``, from a
                          noise-conditional classifier and :func:`~ambientloss.annotation.adaptive_sigma_min`
``ambient_sweep``         the same with one ``sigma_min`` for every RRT row, chosen by a validation sweep
``ambient_omni``          ``ambient`` plus the low-noise branch ``0 < sigma < sigma_max`` (Ambient-Omni)
========================= ==================================================================================

Batches are assembled level first (:class:`~ambientloss.sampling.sigma_first.SigmaFirst`): the
timestep is uniform for every method, the source mixture is ``clean_fraction`` wherever an RRT row
is usable, and the row is drawn among the usable ones. An RRT row enters ambient training through
its **frozen** trusted sample ``x_tmin = a_m x0 + b_m eps(seed, i)``
(:func:`ambientloss.adapters.torch_data.frozen_x_tmin`), and
:class:`~ambientloss.adapters.torch.AmbientLoss` builds ``x_t`` and the ambient epsilon target and
weighs the squared error by the inverse-variance weight. On the low-noise branch
(:func:`ambientloss.admissibility.trusted_level` returns 0) the row is used as clean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import array_api_compat.torch as txp
import numpy as np
import torch

from ..adapters.torch_classifier import NoiseConditionalClassifier, fit_classifier
from ..adapters.torch_data import frozen_x_tmin
from ..admissibility import Buffer, trusted_level
from ..annotation import adaptive_sigma_min, classifier_trajectory, ddpm_timestep_grid
from ..discrete import Discrete
from ..sampling import DiscreteTimesteps, admissible_mass
from ..sampling.sigma_first import SigmaFirst
from .experiment import METHODS
from .policy import Batch

__all__ = ["METHODS", "Annotated", "Pools", "annotate", "make_draw"]


@dataclass
class Pools:
    """Training tensors in model coordinates: clean ``(Nc, H, 2)`` / ``(Nc, 4)`` and RRT rows."""

    xc: torch.Tensor
    cc: torch.Tensor
    xr: torch.Tensor
    cr: torch.Tensor
    schedule: Discrete

    @property
    def base(self) -> DiscreteTimesteps:
        return DiscreteTimesteps(self.schedule)


@dataclass
class Annotated:
    """Per-sample annotation of the RRT rows and what produced it."""

    sigma_min: torch.Tensor  #: (Nr,) VP levels of the schedule's table (float32)
    grid: np.ndarray  #: (G,) levels the classifier was evaluated at
    trajectories: np.ndarray  #: (k, G) P(corrupt) of the first k RRT rows, mean over draws
    clean_trajectories: np.ndarray  #: (k, G) P(corrupt) of the first k clean rows
    classifier_losses: list[float]
    evaluations_per_sample: float


def annotate(
    pools: Pools,
    *,
    seed: int,
    steps: int,
    eps: float,
    batch_size: int = 256,
    hidden: int = 256,
    n_draws: int = 4,
    n_show: int = 6,
) -> Annotated:
    """Train a noise-conditional classifier (clean vs RRT) and annotate every RRT row with ``sigma_min``.

    The classifier sees the policy's own levels (uniform timesteps of the table); ``sigma_min`` is the
    monotone rule ``p_corrupt < 1/2 + eps`` from that level up, found by bisection over the table's
    levels with ``n_draws`` paired noise draws per row.
    """
    g = torch.Generator().manual_seed(seed)
    sigma_data = float(pools.xc.std())
    with torch.random.fork_rng(devices=[]):  # initial weights from ``seed``; the caller's generator is untouched
        torch.manual_seed(seed)
        model = NoiseConditionalClassifier(
            tuple(pools.xc.shape[1:]), positive="corrupt", schedule=pools.schedule, hidden=hidden, sigma_data=sigma_data
        )
    losses = fit_classifier(model, pools.xc, pools.xr, steps=steps, batch_size=batch_size, base=pools.base, generator=g)

    def p_corrupt(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return model.probability(x, sigma, probability="corrupt")

    grid = ddpm_timestep_grid(pools.schedule, xp=txp, dtype=torch.float32)
    res = adaptive_sigma_min(
        p_corrupt,
        pools.xr,
        grid,
        probability="corrupt",
        eps=eps,
        n_draws=n_draws,
        schedule=pools.schedule,
        batch_size=4096,
        seed=seed,
    )
    k = min(n_show, len(pools.xr), len(pools.xc))
    show = {
        name: classifier_trajectory(
            p_corrupt, x[:k], grid, n_draws=n_draws, schedule=pools.schedule, seed=seed, batch_size=4096
        )
        .mean(dim=-1)
        .numpy()
        for name, x in (("rrt", pools.xr), ("clean", pools.xc))
    }
    return Annotated(
        res.sigma_min.to(torch.float32),
        grid.numpy(),
        show["rrt"],
        show["clean"],
        losses,
        res.evaluations_per_sample,
    )


def make_draw(
    pools: Pools,
    method: str,
    *,
    batch_size: int,
    clean_fraction: float,
    seed: int,
    sigma_min: torch.Tensor | None = None,
    sigma_max: float | None = None,
    buffer: Buffer | None = None,
) -> Any:
    """The batch function of ``method`` for :func:`~ambientloss.maze.policy.train_denoiser`.

    Batches are assembled level first (:class:`ambientloss.sampling.sigma_first.SigmaFirst`): a
    timestep uniform over the table, then the clean source with probability ``clean_fraction`` and
    the RRT source otherwise (renormalised to the clean source where no RRT row is usable), then a
    row of that source usable at that level. Every method thus trains every level equally often.
    ``sigma_min`` ``(Nr,)`` annotates the RRT rows (ambient methods); rows that are usable at no
    level (annotated at the top level without a low-noise branch) are left out. ``sigma_max`` is one
    level for every RRT row (``ambient_omni``).
    """
    if method not in METHODS:
        msg = f"method must be one of {METHODS}, got {method!r}"
        raise ValueError(msg)
    ambient = method.startswith("ambient")
    if ambient and sigma_min is None:
        msg = f"method {method!r} needs sigma_min for the RRT rows"
        raise ValueError(msg)
    n_c = len(pools.xc)
    xr, cr = (pools.xr[:0], pools.cr[:0]) if method == "clean" else (pools.xr, pools.cr)
    m_r = sigma_min if ambient and sigma_min is not None else torch.zeros(len(xr))  # not None when ambient (above)
    top_r = None if sigma_max is None else torch.full((len(xr),), float(sigma_max))
    ids = torch.arange(len(xr))
    if ambient:
        keep = torch.as_tensor(admissible_mass(m_r, top_r, base=pools.base, buffer=buffer)) > 0
        if not bool(keep.any()):
            msg = "no RRT row is usable at any timestep with these annotations"
            raise ValueError(msg)
        xr, cr, m_r, ids = xr[keep], cr[keep], m_r[keep], ids[keep]
        top_r = None if top_r is None else top_r[keep]
    raw = torch.cat([pools.xc, xr])
    frozen = torch.cat([pools.xc, frozen_x_tmin(xr, ids, m_r, seed=seed, schedule=pools.schedule)]) if ambient else raw
    cond = torch.cat([pools.cc, cr])
    m_all = torch.cat([torch.zeros(n_c), m_r.to(torch.float32)])
    top = None if top_r is None else torch.cat([torch.zeros(n_c), top_r])
    source = torch.cat([torch.zeros(n_c, dtype=torch.int64), torch.ones(len(xr), dtype=torch.int64)])
    weights = [1.0, 0.0] if method == "clean" else [clean_fraction, 1 - clean_fraction]
    plan = SigmaFirst(m_all, top, source, base=pools.base, buffer=buffer, weights=weights, empty="renormalize", xp=txp)

    def draw(g: torch.Generator) -> Batch:
        d = plan(torch.rand((batch_size, 3), generator=g))
        m = m_all[d.index]
        if ambient:
            s_max = None if top is None else top[d.index]
            m = trusted_level(d.sigma, m, s_max, buffer=buffer, schedule=pools.schedule)
        x = torch.where((m == 0)[:, None, None], raw[d.index], frozen[d.index])
        return Batch(x, m, pools.base.timestep(d.sigma), cond[d.index])

    return draw
