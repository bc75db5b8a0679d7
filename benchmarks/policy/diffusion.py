r"""Noise table, training loop and DDIM sampler of the action-chunk policy (epsilon prediction).

The table is diffusers' ``squaredcos_cap_v2`` with 100 training steps, as in Diffusion Policy; the
library's :class:`ambientloss.Discrete` holds it, with levels ``s_t = sqrt(1 - alphas_cumprod[t])``
(VP units). Training draws batches from a method's ``draw`` function (:mod:`.methods`) and lets
:class:`ambientloss.adapters.torch.AmbientLoss` build ``x_t`` and the epsilon target:
the standard target where the batch's ``sigma_min`` is 0, the ambient one above it.

Sampling is DDIM (eta = 0, Song et al. 2021, eq. 12) on ``steps`` evenly spaced training timesteps
(diffusers' "leading" spacing), with the predicted ``x0`` clipped to ``[-1, 1]`` and the noise
recomputed from the clipped ``x0``:

.. math::
    \hat x_0 = \mathrm{clip}\Big(\frac{x_t - \sqrt{1-\bar\alpha_t}\,\hat\epsilon}{\sqrt{\bar\alpha_t}}\Big),\quad
    x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0 + \sqrt{1-\bar\alpha_{t'}}\;
             \frac{x_t - \sqrt{\bar\alpha_t}\,\hat x_0}{\sqrt{1-\bar\alpha_t}} .
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ambientloss import Discrete
from ambientloss.adapters.torch import AmbientLoss

__all__ = ["Batch", "ddim_sample", "loss_function", "schedule", "step", "train"]


def schedule(num_train_timesteps: int = 100) -> Discrete:
    """diffusers' ``squaredcos_cap_v2`` table with ``num_train_timesteps`` steps."""
    return Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=num_train_timesteps)


def loss_function(table: Discrete) -> AmbientLoss:
    """Epsilon-prediction ambient loss on ``table``, inverse-variance weighting above ``sigma_min``."""
    return AmbientLoss("epsilon", table, weighting="inverse_variance")


class Batch(NamedTuple):
    """A training batch: ``x_tmin`` ``(B, T, D)`` at level ``sigma_min`` ``(B,)`` (the data where it is 0),
    training ``timesteps`` ``(B,)``, observations ``obs`` ``(B, O)`` and optional per-row loss ``weight``
    ``(B,)`` (``None``: every row 1)."""

    x_tmin: Tensor
    sigma_min: Tensor
    timesteps: Tensor
    obs: Tensor
    weight: Tensor | None = None


def step(
    model: nn.Module,
    averaged: nn.Module,
    opt: torch.optim.Optimizer,
    loss_fn: AmbientLoss,
    b: Batch,
    g: torch.Generator,
    ema: float,
) -> Tensor:
    """One training step on the batch ``b``: the ambient pair, the loss, a clipped AdamW step, the EMA update."""
    sigma = loss_fn.sigma_for_timestep(b.timesteps)
    x_t, target = loss_fn.prepare(b.x_tmin, sigma, b.sigma_min, generator=g)
    pred = model(x_t, b.timesteps, b.obs)
    if b.weight is None:
        loss = loss_fn(pred, target, sigma, b.sigma_min)
    else:  # each row's mean over its entries, times its weight, averaged over the batch
        loss = (loss_fn(pred, target, sigma, b.sigma_min, reduction="per_sample") * b.weight).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    with torch.no_grad():
        for p_avg, p in zip(averaged.parameters(), model.parameters(), strict=True):
            p_avg.lerp_(p, 1 - ema)
    return loss


def train(
    model: nn.Module,
    draw: Callable[[torch.Generator], Batch],
    loss_fn: AmbientLoss,
    *,
    steps: int,
    lr: float = 1e-3,
    ema: float = 0.995,
    seed: int = 0,
    tick: Callable[[int], object] | None = None,
) -> nn.Module:
    """AdamW with a cosine learning rate for ``steps`` steps; returns the EMA copy of ``model`` in eval mode."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k / steps, 1.0))))
    averaged = copy.deepcopy(model).requires_grad_(False)
    model.train()
    for _ in range(steps):
        step(model, averaged, opt, loss_fn, draw(g), g, ema)
        sched.step()
        if tick is not None:
            tick(1)
    return averaged.eval()


@torch.no_grad()
def ddim_sample(
    model: nn.Module,
    obs: Tensor,
    table: Discrete,
    shape: tuple[int, int],
    *,
    steps: int = 10,
    generator: torch.Generator,
    clip: float = 1.0,
) -> Tensor:
    """DDIM chunks ``(B, *shape)`` for observations ``obs`` ``(B, O)``, from pure noise, in ``steps`` steps.

    Examples
    --------
    >>> import torch
    >>> from benchmarks.policy.unet import ChunkUnet
    >>> net = ChunkUnet(2, 6, widths=(8, 16), emb=8, groups=4)
    >>> x = ddim_sample(net, torch.zeros(2, 6), schedule(), (16, 2), generator=torch.Generator().manual_seed(0))
    >>> x.shape, bool(x.abs().max() <= 1)
    (torch.Size([2, 16, 2]), True)
    """
    ac = torch.as_tensor(table.alphas_cumprod, dtype=torch.float64)
    n = ac.numel()
    ratio = n // steps
    times = [k * ratio for k in range(steps)][::-1]
    b = obs.shape[0]
    x = torch.randn((b, *shape), generator=generator, dtype=torch.float64)
    for i, t in enumerate(times):
        a_t = ac[t]
        a_next = ac[times[i + 1]] if i + 1 < len(times) else torch.tensor(1.0, dtype=torch.float64)
        eps = model(x.to(obs.dtype), torch.full((b,), t, dtype=torch.int64), obs).to(torch.float64)
        x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-clip, clip)
        eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
        x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
    return x.to(obs.dtype)
