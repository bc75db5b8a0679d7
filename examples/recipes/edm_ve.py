"""Recipe: EDM-style VE training (log-normal sigma, preconditioning, EDM weight) with the ambient target.

NVlabs EDM's ``EDMLoss`` draws ``log sigma ~ N(P_mean, P_std^2)``, feeds ``y + sigma n`` to the
preconditioned denoiser ``D = c_skip x + c_out F(c_in x, c_noise)`` and takes
``lambda(sigma) (D - y)^2`` with ``lambda = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2``. The
ambient version draws ``sigma`` from the same log-normal restricted to ``sigma > sigma_min`` (exact
inverse CDF), starts from the trusted sample and regresses ``D`` on the ambient x0 target; the EDM
weight stays (``base_weight="edm"``). Two weightings are shown: the inverse-variance default, and
Ambient-o's (``policy="ambient_o"`` with its buffer ``s_max = 4``), which reproduces the released
Ambient-o loss ``lambda sigma^4 / (sigma^2 - sigma_min^2)^2 (x_hat_tmin - x_tmin)^2`` exactly.

Runs on CPU in seconds: ``python examples/recipes/edm_ve.py --weighting ambient_o``.
"""

from __future__ import annotations

import argparse
import math

import torch

import ambientloss as al
from ambientloss import Buffer, frozen_x_tmin
from ambientloss.sampling import LogNormal, sample_truncated

P_MEAN, P_STD, SIGMA_DATA = -1.2, 1.2, 0.5
CHANNELS, SIZE = 2, 8
SEED = 0


class EDMPrecond(torch.nn.Module):
    """EDM preconditioning around a small MLP ``F``: ``D(x; sigma) = c_skip x + c_out F(c_in x, c_noise)``."""

    def __init__(self, width: int = 128) -> None:
        super().__init__()
        n = CHANNELS * SIZE * SIZE
        self.F = torch.nn.Sequential(
            torch.nn.Linear(n + 1, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, width),
            torch.nn.SiLU(),
            torch.nn.Linear(width, n),
        )

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma.to(x.dtype).reshape(-1, 1, 1, 1)
        c_skip = SIGMA_DATA**2 / (s**2 + SIGMA_DATA**2)
        c_out = s * SIGMA_DATA / (s**2 + SIGMA_DATA**2).sqrt()
        c_in = 1 / (s**2 + SIGMA_DATA**2).sqrt()
        c_noise = s.log().flatten()[:, None] / 4
        f = self.F(torch.cat([(c_in * x).flatten(1), c_noise], 1)).view_as(x)
        return c_skip * x + c_out * f


def toy_images(n_good: int, n_bad: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth 2-channel 8x8 patterns (good) and the same with pixel noise (bad), std about ``SIGMA_DATA``."""
    g = torch.Generator().manual_seed(seed)
    n = n_good + n_bad
    grid = torch.linspace(0, 1, SIZE)
    fx, fy = torch.rand(n, CHANNELS, 1, 1, generator=g) + 0.5, torch.rand(n, CHANNELS, 1, 1, generator=g) + 0.5
    img = 0.5 * torch.sin(2 * math.pi * (fx * grid[None, None, :, None] + fy * grid[None, None, None, :]))
    is_bad = torch.arange(n) >= n_good
    dirty = img + 0.3 * torch.randn(n, CHANNELS, SIZE, SIZE, generator=g)
    return torch.where(is_bad[:, None, None, None], dirty, img), is_bad


def edm_loss(net: EDMPrecond, y: torch.Tensor, sigma: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """NVlabs EDM's per-element loss (re-created), given the draws ``sigma`` and ``n ~ N(0, I)``."""
    s = sigma.reshape(-1, 1, 1, 1)
    weight = (s**2 + SIGMA_DATA**2) / (s * SIGMA_DATA) ** 2
    return weight * (net(y + n * s, sigma) - y) ** 2


def ambient_edm_loss(net, x_tmin, sigma, sigma_min, noise, policy: str = "inverse_variance"):
    """Per-element ambient loss; ``sigma > sigma_min`` (with Ambient-o's buffer for ``"ambient_o"``)."""
    # --8<-- [start:two_lines]
    weighting = al.Weighting(policy=policy, base_weight="edm", sigma_data=SIGMA_DATA)  # s_max = 4 by default
    x_t, target = al.ambient_pair(x_tmin, sigma, sigma_min, noise, prediction="x0", schedule="ve")
    weight = al.loss_weight(sigma, sigma_min, weighting=weighting, schedule="ve")
    return al.squared_error(net(x_t, sigma), target, weight=weight, reduction="none")
    # --8<-- [end:two_lines]


def check_against_edm_and_ambient_o(net: EDMPrecond, x_tmin: torch.Tensor, sigma_min: torch.Tensor) -> None:
    """Clean rows give EDM's loss; every row gives the released Ambient-o loss under ``"ambient_o"``."""
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x_tmin.shape, generator=g, dtype=x_tmin.dtype)
    sigma = sample_truncated(
        torch.rand(len(x_tmin), generator=g), sigma_min, base=LogNormal(P_MEAN, P_STD), buffer=Buffer.from_s_max(4)
    )
    with torch.no_grad():
        ours = ambient_edm_loss(net, x_tmin, sigma, sigma_min, noise, policy="ambient_o")
        clean = sigma_min == 0
        torch.testing.assert_close(ours[clean], edm_loss(net, x_tmin[clean], sigma[clean], noise[clean]))
        # Ambient-o: shift D to the trusted level, compare with x_tmin, weight by sigma^4 / (sigma^2 - sigma_n^2)^2
        s, m = sigma.reshape(-1, 1, 1, 1), sigma_min.reshape(-1, 1, 1, 1)
        x_t = x_tmin + (s**2 - m**2).sqrt() * noise
        r = m**2 / s**2
        x_hat = (1 - r) * net(x_t, sigma) + r * x_t
        lam = (s**2 + SIGMA_DATA**2) / (s * SIGMA_DATA) ** 2
        released = lam * s**4 / (s**2 - m**2) ** 2 * (x_hat - x_tmin) ** 2
        torch.testing.assert_close(ours, released, rtol=1e-4, atol=1e-5)


def main(weighting: str = "inverse_variance", steps: int = 300, batch_size: int = 64, seed: int = 0) -> list[float]:
    """Train on 32 good and 256 noisy patterns (``sigma_min = 0.4`` in VE units); returns the losses."""
    torch.manual_seed(seed)
    images, is_bad = toy_images(32, 256, seed)
    sigma_min = torch.where(is_bad, 0.4, 0.0)
    x_tmin = frozen_x_tmin(images, torch.arange(len(images)), sigma_min, seed=SEED, schedule="ve")
    base = LogNormal(P_MEAN, P_STD)
    buffer = Buffer.from_s_max(4) if weighting == "ambient_o" else None  # sample where the weight is not 0
    net = EDMPrecond()
    check_against_edm_and_ambient_o(net, x_tmin[:64], sigma_min[:64])

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(images), (batch_size,))
        x, m = x_tmin[idx], sigma_min[idx]
        sigma = sample_truncated(torch.rand(batch_size), m, base=base, buffer=buffer)  # log-normal, above m
        loss = ambient_edm_loss(net, x, sigma, m, torch.randn_like(x), weighting).sum() / batch_size  # EDM's scale
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(math.isfinite(v) for v in losses)
    return losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weighting", default="inverse_variance", choices=["inverse_variance", "ambient_o", "none"])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    out = main(args.weighting, steps=args.steps)
    print(f"EDM / {args.weighting}: loss {out[0]:.4f} -> {sum(out[-20:]) / len(out[-20:]):.4f}")
