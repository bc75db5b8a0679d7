"""Recipe: ambient training with a diffusers DDPM / DDIM scheduler (squaredcos_cap_v2, 100 steps).

The usual diffusers training step noises the clean sample at a random timestep and regresses the
network on ``noise``, the sample or ``get_velocity``, by ``prediction_type``. The ambient step starts
from each example's trusted sample ``x_tmin`` instead (the clean sample itself, or a low-quality
sample noised once to its level ``sigma_min`` with frozen noise), draws the timestep above that
level, and swaps two lines:

    x_t = scheduler.add_noise(x0, noise, t); target = noise     ->  x_t, target = al.ambient_pair(...)
    loss = F.mse_loss(model(x_t, t), target)                    ->  loss = al.squared_error(..., weight=...)

Runs on CPU in seconds: ``python examples/recipes/diffusers_ddpm.py --prediction v_prediction``.
"""

from __future__ import annotations

import argparse
import math

import torch
from diffusers import DDIMScheduler, DDPMScheduler

import ambientloss as al
from ambientloss import frozen_x_tmin
from ambientloss.sampling import DiscreteTimesteps, truncated_timesteps

HORIZON, ACTION_DIM = 16, 2


def toy_action_chunks(n_good: int, n_bad: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth action chunks (good) and jerky ones (bad), shape ``(N, HORIZON, ACTION_DIM)`` in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    n = n_good + n_bad
    tau = torch.linspace(0, 1, HORIZON)[None, :, None]
    freq, phase = (
        0.5 + torch.rand(n, 1, ACTION_DIM, generator=g),
        2 * math.pi * torch.rand(n, 1, ACTION_DIM, generator=g),
    )
    chunks = 0.8 * torch.sin(2 * math.pi * freq * tau + phase)
    is_bad = torch.arange(n) >= n_good
    jerk = 0.3 * torch.randn(n, HORIZON, ACTION_DIM, generator=g)
    return torch.where(is_bad[:, None, None], (chunks + jerk).clamp(-1, 1), chunks), is_bad


class Denoiser(torch.nn.Module):
    """A small MLP on the flattened chunk and the timestep: stands in for the U-Net."""

    def __init__(self, num_train_timesteps: int, width: int = 128) -> None:
        super().__init__()
        self.scale = 1.0 / num_train_timesteps
        size = HORIZON * ACTION_DIM
        self.net = torch.nn.Sequential(
            torch.nn.Linear(size + 1, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, size),
        )

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x_t.flatten(1), (t.float() * self.scale)[:, None]], dim=1)
        return self.net(h).view_as(x_t)


def check_clean_rows_match_diffusers(scheduler, table: al.Discrete, prediction: str) -> None:
    """At ``sigma_min = 0`` the ambient pair is diffusers' own ``add_noise`` and training target."""
    g = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(8, HORIZON, ACTION_DIM, generator=g), torch.randn(8, HORIZON, ACTION_DIM, generator=g)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (8,), generator=g)
    sigma = table.sigma_for_timestep(t, dtype=torch.float64)
    x_t, target = al.ambient_pair(
        x0, sigma, torch.zeros(8, dtype=torch.float64), noise, prediction=prediction, schedule=table
    )
    expected = {"epsilon": noise, "sample": x0, "v_prediction": scheduler.get_velocity(x0, noise, t)}[prediction]
    torch.testing.assert_close(x_t, scheduler.add_noise(x0, noise, t))
    torch.testing.assert_close(target, expected)


def main(
    prediction: str = "epsilon",
    scheduler_name: str = "ddpm",
    steps: int = 300,
    batch_size: int = 64,
    t_min_bad: int = 30,
    seed: int = 0,
) -> list[float]:
    """Train on 32 good and 256 bad chunks, then sample a batch; returns the training losses."""
    torch.manual_seed(seed)
    cls = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler}[scheduler_name]
    scheduler = cls(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2", prediction_type=prediction)
    table = al.Discrete.from_scheduler(scheduler)  # levels s_t = sqrt(1 - alphas_cumprod[t]), VP units
    base = DiscreteTimesteps(table)  # uniform timesteps, as torch.randint(0, T) in the original
    check_clean_rows_match_diffusers(scheduler, table, prediction)

    # once, before training: every example's trusted sample and its level (0 = clean)
    actions, is_bad = toy_action_chunks(32, 256, seed)
    level_bad = table.sigma_for_timestep(torch.tensor(t_min_bad), dtype=torch.float64)
    sigma_min = torch.where(is_bad, level_bad, torch.zeros((), dtype=torch.float64))
    x_tmin = frozen_x_tmin(actions, torch.arange(len(actions)), sigma_min, seed=seed, schedule=table)

    model = Denoiser(scheduler.config.num_train_timesteps)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(actions), (batch_size,))
        x, m = x_tmin[idx], sigma_min[idx]
        t = truncated_timesteps(torch.rand(batch_size, dtype=torch.float64), m, base=base)  # s_t > sigma_min
        sigma = table.sigma_for_timestep(t, dtype=torch.float64)
        noise = torch.randn_like(x)
        # --8<-- [start:two_lines]
        x_t, target = al.ambient_pair(x, sigma, m, noise, prediction=prediction, schedule=table)
        pred = model(x_t, t)
        weight = al.loss_weight(sigma, m, prediction=prediction, schedule=table)  # 1 for clean samples
        loss = al.squared_error(pred, target, weight=weight)
        # --8<-- [end:two_lines]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))

    # the trained network plugs into the scheduler's own sampler
    scheduler.set_timesteps(10)
    sample = torch.randn(4, HORIZON, ACTION_DIM)
    with torch.no_grad():
        for t in scheduler.timesteps:
            sample = scheduler.step(model(sample, t.expand(4)), t, sample).prev_sample
    assert all(math.isfinite(v) for v in losses)
    assert bool(torch.isfinite(sample).all())
    return losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prediction", default="epsilon", choices=["epsilon", "sample", "v_prediction"])
    parser.add_argument("--scheduler", default="ddpm", choices=["ddpm", "ddim"])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    out = main(args.prediction, args.scheduler, steps=args.steps)
    print(f"{args.scheduler} / {args.prediction}: loss {out[0]:.4f} -> {sum(out[-20:]) / len(out[-20:]):.4f}")
