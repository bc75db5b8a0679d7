"""Recipe: ambient loss in real-stanford diffusion_policy's ``compute_loss`` (in-painting ``loss_mask``).

diffusion_policy is not on PyPI (its environment pins Python 3.9 and diffusers 0.11), so this file
re-creates, in a few lines, the code path of ``DiffusionUnetLowdimPolicy.compute_loss`` without
``obs_as_global_cond``: the trajectory is ``[action, obs]`` per step, the first ``n_obs_steps``
observation entries are the in-painted condition (``condition_mask``, as built by its
``LowdimMaskGenerator``), the noisy trajectory gets the clean values back there, and the MSE is
multiplied by ``loss_mask = ~condition_mask`` and averaged over *all* entries (masked ones count in
the denominator). :func:`policy_compute_loss` is that re-creation; :func:`ambient_compute_loss` is the
same method with the two-line change and the same normalisation.

Runs on CPU in seconds: ``python examples/recipes/diffusion_policy_inpainting.py``.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler

import ambientloss as al
from ambientloss import frozen_x_tmin
from ambientloss.sampling import DiscreteTimesteps, truncated_timesteps

HORIZON, ACTION_DIM, OBS_DIM, N_OBS_STEPS = 16, 2, 3, 2
SEED = 0  # frozen-noise seed of the experiment


def condition_mask_for(shape: tuple[int, ...]) -> torch.Tensor:
    """``LowdimMaskGenerator(action_visible=False, fix_obs_steps=True)``: obs of the first steps are given."""
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[:, :N_OBS_STEPS, ACTION_DIM:] = True
    return mask


class TinyUnet(torch.nn.Module):
    """Stands in for ``ConditionalUnet1D``: ``model(noisy_trajectory, timesteps)``."""

    def __init__(self, num_train_timesteps: int, width: int = 128) -> None:
        super().__init__()
        self.scale = 1.0 / num_train_timesteps
        size = HORIZON * (ACTION_DIM + OBS_DIM)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(size + 1, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, size),
        )

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x.flatten(1), timesteps.float()[:, None] * self.scale], 1)).view_as(x)


def toy_trajectories(n: int, seed: int) -> torch.Tensor:
    """Normalised ``[action, obs]`` trajectories of shape ``(n, HORIZON, ACTION_DIM + OBS_DIM)``."""
    g = torch.Generator().manual_seed(seed)
    tau = torch.linspace(0, 1, HORIZON)[None, :, None]
    phase = 2 * math.pi * torch.rand(n, 1, ACTION_DIM + OBS_DIM, generator=g)
    return 0.8 * torch.sin(2 * math.pi * tau + phase)


def policy_compute_loss(model, scheduler, trajectory, noise, timesteps):
    """The original loss (re-created), after normalisation and the ``[action, obs]`` concatenation."""
    condition_mask = condition_mask_for(trajectory.shape)
    noisy_trajectory = scheduler.add_noise(trajectory, noise, timesteps)
    loss_mask = ~condition_mask
    noisy_trajectory[condition_mask] = trajectory[condition_mask]
    pred = model(noisy_trajectory, timesteps)
    target = {"epsilon": noise, "sample": trajectory}[scheduler.config.prediction_type]
    loss = F.mse_loss(pred, target, reduction="none")
    loss = loss * loss_mask.type(loss.dtype)
    return loss.reshape(loss.shape[0], -1).mean(1).mean()  # einops reduce 'b ... -> b (...)', then the batch


def ambient_compute_loss(model, scheduler, table, trajectory, x_tmin, sigma_min, noise, timesteps):
    """The same loss from the trusted samples; the in-painted condition stays clean and masked."""
    condition_mask = condition_mask_for(trajectory.shape)
    loss_mask = ~condition_mask
    prediction = scheduler.config.prediction_type
    sigma = table.sigma_for_timestep(timesteps, dtype=torch.float64)
    # --8<-- [start:two_lines]
    noisy_trajectory, target = al.ambient_pair(x_tmin, sigma, sigma_min, noise, prediction=prediction, schedule=table)
    noisy_trajectory = torch.where(condition_mask, trajectory, noisy_trajectory)  # in-painting, as before
    pred = model(noisy_trajectory, timesteps)
    weight = al.loss_weight(sigma, sigma_min, prediction=prediction, schedule=table)
    loss = al.squared_error(pred, target, weight=weight, where=loss_mask, reduction="none")
    # --8<-- [end:two_lines]
    return loss.reshape(loss.shape[0], -1).mean(1).mean()  # the original normalisation, unchanged


def check_matches_policy_on_clean_data(model, scheduler, table) -> None:
    """With ``sigma_min = 0`` the ambient loss is the original one, given the same noise and timesteps."""
    trajectory = toy_trajectories(16, seed=1)
    noise = torch.randn(trajectory.shape, generator=torch.Generator().manual_seed(2))
    timesteps = torch.randint(
        0, scheduler.config.num_train_timesteps, (16,), generator=torch.Generator().manual_seed(3)
    )
    clean = torch.zeros(16, dtype=torch.float64)
    with torch.no_grad():
        want = policy_compute_loss(model, scheduler, trajectory, noise, timesteps)
        got = ambient_compute_loss(model, scheduler, table, trajectory, trajectory, clean, noise, timesteps)
    torch.testing.assert_close(got, want)


def main(prediction: str = "epsilon", steps: int = 300, batch_size: int = 64, t_min_bad: int = 30, seed: int = 0):
    """Train on 32 clean and 256 low-quality trajectories; returns the training losses."""
    torch.manual_seed(seed)
    scheduler = DDPMScheduler(
        num_train_timesteps=100,
        beta_schedule="squaredcos_cap_v2",
        variance_type="fixed_small",
        clip_sample=True,
        prediction_type=prediction,
    )
    table = al.Discrete.from_scheduler(scheduler)
    base = DiscreteTimesteps(table)
    model = TinyUnet(scheduler.config.num_train_timesteps)
    check_matches_policy_on_clean_data(model, scheduler, table)

    trajectories = toy_trajectories(288, seed)
    is_bad = torch.arange(288) >= 32
    level_bad = table.sigma_for_timestep(torch.tensor(t_min_bad), dtype=torch.float64)
    sigma_min = torch.where(is_bad, level_bad, torch.zeros((), dtype=torch.float64))
    x_tmin = frozen_x_tmin(trajectories, torch.arange(288), sigma_min, seed=SEED, schedule=table)

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, 288, (batch_size,))
        m = sigma_min[idx]
        timesteps = truncated_timesteps(torch.rand(batch_size, dtype=torch.float64), m, base=base)
        noise = torch.randn(trajectories[idx].shape)
        loss = ambient_compute_loss(model, scheduler, table, trajectories[idx], x_tmin[idx], m, noise, timesteps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    return losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prediction", default="epsilon", choices=["epsilon", "sample"])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    out = main(args.prediction, steps=args.steps)
    print(f"diffusion_policy / {args.prediction}: loss {out[0]:.4f} -> {sum(out[-20:]) / len(out[-20:]):.4f}")
