r"""A small conditional diffusion policy over whole trajectories, in PyTorch (DDPM, 100 steps).

The network :class:`TrajectoryDenoiser` predicts the noise ``epsilon`` of a noised trajectory
``x_t`` ``(B, H, 2)`` given the integer timestep ``t`` and the conditioning ``(start, goal)``
``(B, 4)``: an MLP over the flattened trajectory with residual blocks modulated (FiLM) by an
embedding of ``t`` and of the conditioning. Noise levels follow a :class:`~ambientloss.Discrete`
table ``s_t = sqrt(1 - alphas_cumprod[t])`` (``squaredcos_cap_v2``, 100 steps by default, as in
diffusion policies).

:func:`ddpm_sample` is the ancestral DDPM sampler with the predicted ``x0`` clipped to ``[-1, 1]``
(diffusers' ``DDPMScheduler`` with ``clip_sample=True``):

.. math::
    \hat x_0 = \mathrm{clip}\Big(\frac{x_t - \sqrt{1 - \bar\alpha_t}\,\hat\epsilon}{\sqrt{\bar\alpha_t}}\Big),\quad
    x_{t-1} = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t}\hat x_0
            + \frac{\sqrt{\alpha_t}(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t} x_t
            + \sqrt{\frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\beta_t}\, z .
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, cast

import torch
from torch import Tensor, nn

from ..discrete import Discrete

if TYPE_CHECKING:
    from ..adapters.torch import AmbientLoss

__all__ = ["Batch", "TrajectoryDenoiser", "ddpm_sample", "default_schedule", "train_denoiser"]


def default_schedule(num_train_timesteps: int = 100) -> Discrete:
    """The policy's noise table: diffusers' ``squaredcos_cap_v2`` with ``num_train_timesteps`` steps."""
    return Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=num_train_timesteps)


class _Block(nn.Module):
    def __init__(self, width: int, emb: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.film = nn.Linear(emb, 2 * width)
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: Tensor, e: Tensor) -> Tensor:
        scale, shift = self.film(e).chunk(2, dim=-1)
        y = self.norm(h) * (1 + scale) + shift
        return h + self.fc2(nn.functional.silu(self.fc1(nn.functional.silu(y))))


class _Refine(nn.Module):
    """Temporal convolutions over ``(x_t, MLP output)`` that add a local correction, FiLM-modulated."""

    def __init__(self, channels: int, emb: int, kernel: int = 5) -> None:
        super().__init__()
        pad = kernel // 2
        self.c1 = nn.Conv1d(4, channels, kernel, padding=pad, padding_mode="replicate")
        self.c2 = nn.Conv1d(channels, channels, kernel, padding=pad, padding_mode="replicate")
        self.c3 = nn.Conv1d(channels, 2, kernel, padding=pad, padding_mode="replicate")
        self.film = nn.Linear(emb, 2 * channels)
        nn.init.zeros_(self.c3.weight)
        assert self.c3.bias is not None  # Conv1d has a bias by default
        nn.init.zeros_(self.c3.bias)

    def forward(self, x: Tensor, coarse: Tensor, e: Tensor) -> Tensor:
        scale, shift = self.film(e)[:, :, None].chunk(2, dim=1)
        h = nn.functional.silu(self.c1(torch.cat([x, coarse], dim=-1).transpose(1, 2)))
        h = nn.functional.silu(self.c2(h * (1 + scale) + shift))
        return coarse + self.c3(h).transpose(1, 2)


class _Local(nn.Module):
    """Linear temporal filters of ``x_t`` (shared by both coordinates), mixed with weights of the level.

    Shift-equivariant and linear, it represents the level-dependent high-pass that separates fine
    noise from a smooth trajectory, and generalises from few trajectories.
    """

    def __init__(self, emb: int, filters: int = 4, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, filters, kernel, padding=kernel // 2, padding_mode="replicate", bias=False)
        self.mix = nn.Linear(emb, filters)
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        b, h, d = x.shape
        f = self.conv(x.transpose(1, 2).reshape(b * d, 1, h)).reshape(b, d, -1, h)
        return torch.einsum("bdkh,bk->bhd", f, self.mix(e))


class TrajectoryDenoiser(nn.Module):
    """Noise predictor ``eps(x_t, t, cond)`` for trajectories ``(B, horizon, 2)``.

    A global MLP over the flattened trajectory gives a first estimate; temporal convolutions over
    ``x_t`` and that estimate refine it locally, and level-weighted linear filters of ``x_t`` are
    added (the fine, high-frequency part of the noise that dominates at low levels).

    Parameters
    ----------
    horizon : int
        Waypoints per trajectory (after the start).
    cond_dim : int
        Size of the conditioning vector (4: start and goal).
    width, depth : int
        Hidden width and number of residual blocks of the MLP.
    channels : int
        Channels of the temporal convolutions (0: MLP only).
    local : bool
        Add level-weighted linear temporal filters of ``x_t`` to the output.
    num_train_timesteps : int
        Number of timesteps of the schedule (for the timestep embedding).

    Examples
    --------
    >>> import torch
    >>> net = TrajectoryDenoiser(15, width=32, depth=1)
    >>> net(torch.zeros(3, 15, 2), torch.tensor([0, 5, 99]), torch.zeros(3, 4)).shape
    torch.Size([3, 15, 2])
    """

    freqs: Tensor  # a buffer (register_buffer in __init__)

    def __init__(
        self,
        horizon: int,
        *,
        cond_dim: int = 4,
        width: int = 256,
        depth: int = 3,
        channels: int = 32,
        local: bool = True,
        num_train_timesteps: int = 100,
    ) -> None:
        super().__init__()
        self.horizon, self.num_train_timesteps = horizon, num_train_timesteps
        emb = width
        self.register_buffer("freqs", torch.exp(torch.linspace(0.0, math.log(200.0), 16)), persistent=False)
        self.embed = nn.Sequential(nn.Linear(32 + cond_dim, emb), nn.SiLU(), nn.Linear(emb, emb), nn.SiLU())
        self.inp = nn.Linear(2 * horizon + cond_dim, width)
        self.blocks = nn.ModuleList(_Block(width, emb) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 2 * horizon))
        self.refine = _Refine(channels, emb) if channels else None
        self.local = _Local(emb) if local else None

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        phase = (t.to(x.dtype) / self.num_train_timesteps)[:, None] * self.freqs
        e = self.embed(torch.cat([torch.sin(phase), torch.cos(phase), cond], dim=-1))
        h = self.inp(torch.cat([x.flatten(1), cond], dim=-1))
        for block in self.blocks:
            h = block(h, e)
        out = self.out(h).view_as(x)
        if self.refine is not None:
            out = self.refine(x, out, e)
        return out if self.local is None else out + self.local(x, e)


class Batch(NamedTuple):
    """One training batch: trusted samples, their levels, timesteps and conditioning.

    ``x_tmin`` ``(B, H, 2)`` is the trusted sample at level ``sigma_min`` ``(B,)`` (the clean
    trajectory where ``sigma_min == 0``), ``timesteps`` ``(B,)`` the training timesteps (each with a
    level above ``sigma_min``) and ``cond`` ``(B, 4)`` the conditioning.
    """

    x_tmin: Tensor
    sigma_min: Tensor
    timesteps: Tensor
    cond: Tensor


def train_denoiser(
    model: TrajectoryDenoiser,
    draw: Callable[[torch.Generator], Batch],
    loss_fn: AmbientLoss,
    *,
    steps: int,
    lr: float = 1e-3,
    ema: float = 0.995,
    seed: int = 0,
    progress: Callable[[int], object] | None = None,
) -> TrajectoryDenoiser:
    """Train ``model`` for ``steps`` AdamW steps (cosine learning rate); returns an EMA copy.

    ``draw(generator)`` returns a :class:`Batch`; ``loss_fn`` is an
    :class:`~ambientloss.adapters.torch.AmbientLoss` (its ``prepare`` builds ``x_t`` and the target
    from fresh noise, its call weighs the squared error). ``progress(1)`` is called every step.
    """
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k / steps, 1.0))))
    averaged = copy.deepcopy(model).requires_grad_(False)
    model.train()
    for _ in range(steps):
        batch = draw(g)
        sigma = loss_fn.sigma_for_timestep(batch.timesteps)
        x_t, target = loss_fn.prepare(batch.x_tmin, sigma, batch.sigma_min, generator=g)
        loss = loss_fn(model(x_t, batch.timesteps, batch.cond), target, sigma, batch.sigma_min)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        with torch.no_grad():
            for p_avg, p in zip(averaged.parameters(), model.parameters(), strict=True):
                p_avg.lerp_(p, 1 - ema)
        if progress is not None:
            progress(1)
    model.eval()
    return averaged.eval()


@torch.no_grad()
def ddpm_sample(
    model: nn.Module, cond: Tensor, schedule: Discrete, *, generator: torch.Generator, clip: float = 1.0
) -> Tensor:
    """Ancestral DDPM samples ``(B, H, 2)`` for conditioning ``cond`` ``(B, 4)``, from pure noise.

    Examples
    --------
    >>> import torch
    >>> net = TrajectoryDenoiser(7, width=16, depth=1)
    >>> x = ddpm_sample(net, torch.zeros(2, 4), default_schedule(), generator=torch.Generator().manual_seed(0))
    >>> x.shape, bool(x.abs().max() <= 1.5)
    (torch.Size([2, 7, 2]), True)
    """
    ac = torch.as_tensor(schedule.alphas_cumprod, dtype=torch.float64)
    n = ac.numel()
    b = cond.shape[0]
    horizon = cast(int, model.horizon)  # an attribute of the denoiser (TrajectoryDenoiser or a test oracle)
    x = torch.randn((b, horizon, 2), generator=generator, dtype=cond.dtype)
    for t in range(n - 1, -1, -1):
        a_t = ac[t]
        a_prev = ac[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
        beta = 1 - a_t / a_prev
        eps = model(x, torch.full((b,), t, dtype=torch.int64), cond).to(torch.float64)
        x0 = ((x.to(torch.float64) - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-clip, clip)
        mean = (a_prev.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - a_prev) * x.to(torch.float64)) / (1 - a_t)
        x = mean.to(cond.dtype)
        if t > 0:
            std = ((1 - a_prev) / (1 - a_t) * beta).sqrt().to(cond.dtype)
            x = x + std * torch.randn(x.shape, generator=generator, dtype=cond.dtype)
    return x
