"""Recipe: ambient flow matching with diffusers' ``FlowMatchEulerDiscreteScheduler`` conventions.

diffusers' flow-matching training scripts (SD3, Flux) draw ``u`` from a logit-normal density, map it
through the scheduler's shift to ``sigma``, and train on

    x_t = (1 - sigma) * x0 + sigma * noise;   target = noise - x0;   loss = weighting * (pred - target)**2

which is the rectified-flow schedule (``schedule="flow"``, level ``t = sigma``) with the velocity
prediction. The ambient step draws ``u`` above each sample's level (the shift is monotone), starts
from the trusted sample and swaps the same two lines as every other recipe.

Runs on CPU in seconds: ``python examples/recipes/diffusers_flow_matching.py``.
"""

from __future__ import annotations

import argparse
import math

import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.training_utils import compute_loss_weighting_for_sd3

import ambientloss as al
from ambientloss import frozen_x_tmin
from ambientloss.sampling import LogitNormal, sample_truncated

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


class VelocityNet(torch.nn.Module):
    """A small MLP on the flattened chunk and ``sigma``: stands in for the transformer."""

    def __init__(self, width: int = 128) -> None:
        super().__init__()
        size = HORIZON * ACTION_DIM
        self.net = torch.nn.Sequential(
            torch.nn.Linear(size + 1, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, size),
        )

    def forward(self, x_t: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x_t.flatten(1), (timestep.float() / 1000)[:, None]], dim=1)
        return self.net(h).view_as(x_t)


def shifted(u: torch.Tensor, shift: float) -> torch.Tensor:
    """The scheduler's static shift ``sigma = shift u / (1 + (shift - 1) u)``."""
    return shift * u / (1 + (shift - 1) * u)


def unshifted(sigma: torch.Tensor, shift: float) -> torch.Tensor:
    """Inverse of :func:`shifted`: ``u = sigma / (shift - (shift - 1) sigma)``."""
    return sigma / (shift - (shift - 1) * sigma)


def check_clean_rows_match_diffusers(scheduler: FlowMatchEulerDiscreteScheduler) -> None:
    """At ``sigma_min = 0`` the pair is the scheduler's ``scale_noise`` and the scripts' ``noise - x0``."""
    g = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(8, HORIZON, ACTION_DIM, generator=g), torch.randn(8, HORIZON, ACTION_DIM, generator=g)
    idx = torch.randint(0, len(scheduler.timesteps), (8,), generator=g)
    sigma, timesteps = scheduler.sigmas[idx], scheduler.timesteps[idx]
    x_t, target = al.ambient_pair(x0, sigma, torch.zeros(8), noise, prediction="velocity", schedule="flow")
    torch.testing.assert_close(x_t, scheduler.scale_noise(x0, timesteps, noise))
    assert torch.equal(target, noise - x0)


def main(steps: int = 300, batch_size: int = 64, sigma_min_vp: float = 0.5, shift: float = 3.0, seed: int = 0):
    """Train on 32 good and 256 bad chunks, then sample with the Euler scheduler; returns the losses."""
    torch.manual_seed(seed)
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    check_clean_rows_match_diffusers(scheduler)
    base = LogitNormal(0.0, 1.0)  # the scripts' weighting_scheme="logit_normal" (logit_mean 0, logit_std 1)

    # once, before training: annotations in VP units convert to flow time through b / a
    actions, is_bad = toy_action_chunks(32, 256, seed)
    level_bad = al.convert_level(sigma_min_vp, source="vp", target="flow")
    sigma_min = torch.where(is_bad, level_bad, 0.0)
    x_tmin = frozen_x_tmin(actions, torch.arange(len(actions)), sigma_min, seed=seed, schedule="flow")

    model = VelocityNet()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(actions), (batch_size,))
        x, m = x_tmin[idx], sigma_min[idx]
        u = sample_truncated(torch.rand(batch_size), unshifted(m, shift), base=base)  # u > u_min <=> sigma > m
        sigma = shifted(u, shift).clamp(min=torch.nextafter(m, torch.ones_like(m)))  # strict after rounding
        noise = torch.randn_like(x)
        # --8<-- [start:two_lines]
        x_t, target = al.ambient_pair(x, sigma, m, noise, prediction="velocity", schedule="flow")
        pred = model(x_t, sigma * 1000)
        weight = compute_loss_weighting_for_sd3("none", sigma) * al.loss_weight(
            sigma, m, prediction="velocity", schedule="flow"
        )
        loss = al.squared_error(pred, target, weight=weight)
        # --8<-- [end:two_lines]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))

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
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    out = main(steps=args.steps)
    print(f"flow matching: loss {out[0]:.4f} -> {sum(out[-20:]) / len(out[-20:]):.4f}")
