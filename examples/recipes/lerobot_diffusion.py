"""Recipe: ambient loss in a LeRobot-style diffusion policy (``action_is_pad`` masks, per-sample losses).

LeRobot is not installed here (``lerobot`` 0.6 needs Python 3.12 and pulls torchvision), so this file
re-creates, in a few lines, the code path of ``DiffusionModel.compute_loss``: a diffusers
``DDPMScheduler`` (``squaredcos_cap_v2``, 100 steps, ``"epsilon"`` or ``"sample"`` prediction),
``add_noise`` at ``t ~ randint(0, T)``, the MSE against ``eps`` or the actions, and, with
``do_mask_loss_for_padding``, the padding mask ``~action_is_pad`` normalised by the number of valid
entries (``mask.sum() * action_dim``). :func:`lerobot_compute_loss` is that re-creation;
:func:`ambient_compute_loss` is the same method with the two-line change, through
:class:`ambientloss.adapters.torch.AmbientLoss`. With ``reduction="none"`` it returns the ``(B,)``
per-sample losses that LeRobot's ``SampleWeighter`` path asks ``policy.forward`` for.

Runs on CPU in seconds: ``python examples/recipes/lerobot_diffusion.py --prediction sample``.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler

from ambientloss import frozen_x_tmin
from ambientloss.adapters.torch import AmbientLoss
from ambientloss.sampling import DiscreteTimesteps, truncated_timesteps

SEED = 0  # the frozen-noise seed of the experiment: fixed once, like the dataset


@dataclass
class DiffusionConfig:
    """The fields of LeRobot's ``DiffusionConfig`` this loss reads (its defaults, smaller horizon)."""

    horizon: int = 16
    action_dim: int = 2
    state_dim: int = 4
    n_obs_steps: int = 2
    num_train_timesteps: int = 100
    beta_schedule: str = "squaredcos_cap_v2"
    prediction_type: str = "epsilon"
    do_mask_loss_for_padding: bool = True


class TinyPolicyNet(torch.nn.Module):
    """Stands in for LeRobot's conditional U-Net: ``net(noisy_actions, timesteps, global_cond)``."""

    def __init__(self, cfg: DiffusionConfig, width: int = 128) -> None:
        super().__init__()
        self.cfg = cfg
        size = cfg.horizon * cfg.action_dim
        self.net = torch.nn.Sequential(
            torch.nn.Linear(size + cfg.n_obs_steps * cfg.state_dim + 1, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, size),
        )

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, global_cond: torch.Tensor) -> torch.Tensor:
        t = timesteps.float()[:, None] / self.cfg.num_train_timesteps
        return self.net(torch.cat([x.flatten(1), global_cond, t], dim=1)).view_as(x)


def toy_batch(cfg: DiffusionConfig, index: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """A LeRobot-shaped batch: state history, an action chunk padded past the episode end, the frame index."""
    g = torch.Generator().manual_seed(seed)
    b = len(index)
    tau = torch.linspace(0, 1, cfg.horizon)[None, :, None]
    phase = 2 * math.pi * torch.rand(b, 1, cfg.action_dim, generator=g)
    action = 0.8 * torch.sin(2 * math.pi * tau + phase)
    valid = torch.randint(cfg.horizon // 2, cfg.horizon + 1, (b,), generator=g)
    action_is_pad = torch.arange(cfg.horizon)[None, :] >= valid[:, None]
    last = action[torch.arange(b), valid - 1]  # LeRobot pads by repeating the episode's last action
    action = torch.where(action_is_pad[..., None], last[:, None, :], action)
    state = torch.randn(b, cfg.n_obs_steps, cfg.state_dim, generator=g)
    return {"observation.state": state, "action": action, "action_is_pad": action_is_pad, "index": index}


def lerobot_compute_loss(net, scheduler, cfg, batch, eps, timesteps):
    """The original loss (re-created): MSE against ``eps`` or the actions, with the padding mask."""
    trajectory = batch["action"]
    global_cond = batch["observation.state"].flatten(1)
    noisy_trajectory = scheduler.add_noise(trajectory, eps, timesteps)
    pred = net(noisy_trajectory, timesteps, global_cond)
    target = {"epsilon": eps, "sample": trajectory}[cfg.prediction_type]
    loss = F.mse_loss(pred, target, reduction="none")
    if cfg.do_mask_loss_for_padding:
        mask = (~batch["action_is_pad"]).unsqueeze(-1)
        return (loss * mask).sum() / (mask.sum() * cfg.action_dim).clamp_min(1)
    return loss.mean()


def ambient_compute_loss(net, loss_fn, base, cfg, batch, sigma_min, *, reduction="mean", eps=None, timesteps=None):
    """The same loss from each frame's trusted sample, at timesteps above its level; ``(B,)`` for ``"none"``."""
    m = sigma_min[batch["index"]]  # VP level per frame, 0 for clean frames (looked up like RA-BC weights)
    x_tmin = frozen_x_tmin(batch["action"], batch["index"], m, seed=SEED, schedule=loss_fn.schedule)
    if timesteps is None:
        timesteps = truncated_timesteps(torch.rand(len(m), dtype=torch.float64), m, base=base)
    sigma = loss_fn.sigma_for_timestep(timesteps, dtype=torch.float64)
    # --8<-- [start:two_lines]
    noisy_trajectory, target = loss_fn.prepare(x_tmin, sigma, m, eps)
    pred = net(noisy_trajectory, timesteps, batch["observation.state"].flatten(1))
    where = ~batch["action_is_pad"] if cfg.do_mask_loss_for_padding else None
    return loss_fn(pred, target, sigma, m, where=where, reduction="per_sample" if reduction == "none" else "mean")
    # --8<-- [end:two_lines]


def check_matches_lerobot_on_clean_frames(net, scheduler, loss_fn, base, cfg) -> None:
    """On clean frames (``sigma_min = 0``) the ambient loss is the original loss, given the same draws."""
    batch = toy_batch(cfg, torch.arange(16), seed=1)
    eps = torch.randn(batch["action"].shape, generator=torch.Generator().manual_seed(2))
    timesteps = torch.randint(0, cfg.num_train_timesteps, (16,), generator=torch.Generator().manual_seed(3))
    clean = torch.zeros(16, dtype=torch.float64)
    with torch.no_grad():
        want = lerobot_compute_loss(net, scheduler, cfg, batch, eps, timesteps)
        got = ambient_compute_loss(net, loss_fn, base, cfg, batch, clean, eps=eps, timesteps=timesteps)
    torch.testing.assert_close(got, want)


def main(prediction: str = "epsilon", steps: int = 300, batch_size: int = 64, t_min_bad: int = 30, seed: int = 0):
    """Train on 48 clean and 464 low-quality frames with per-sample losses; returns the training losses."""
    torch.manual_seed(seed)
    cfg = DiffusionConfig(prediction_type=prediction)
    scheduler = DDPMScheduler(
        num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule, prediction_type=prediction
    )
    loss_fn = AmbientLoss.from_scheduler(scheduler)  # reads alphas_cumprod and prediction_type
    base = DiscreteTimesteps(loss_fn.schedule)
    net = TinyPolicyNet(cfg)
    check_matches_lerobot_on_clean_frames(net, scheduler, loss_fn, base, cfg)

    # per-frame annotation, keyed by the dataset's global index: 48 clean frames, the rest at t_min_bad
    n_frames = 512
    level_bad = loss_fn.sigma_for_timestep(torch.tensor([t_min_bad]), dtype=torch.float64)
    sigma_min = torch.where(torch.arange(n_frames) < 48, 0.0, level_bad)
    sample_weight = torch.ones(n_frames)  # what a SampleWeighter would return for these frames

    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    losses = []
    for step in range(steps):
        index = torch.randint(0, n_frames, (batch_size,))
        batch = toy_batch(cfg, index, seed=seed + step)
        per_sample = ambient_compute_loss(net, loss_fn, base, cfg, batch, sigma_min, reduction="none")
        w = sample_weight[index]
        loss = (per_sample * w).sum() / (w.sum() + 1e-6)  # LeRobot's update_policy with a SampleWeighter
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert per_sample.shape == (batch_size,)
    assert all(math.isfinite(v) for v in losses)
    return losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prediction", default="epsilon", choices=["epsilon", "sample"])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    out = main(args.prediction, steps=args.steps)
    print(f"lerobot-style / {args.prediction}: loss {out[0]:.4f} -> {sum(out[-20:]) / len(out[-20:]):.4f}")
