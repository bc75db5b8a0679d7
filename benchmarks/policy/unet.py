r"""A 1-D temporal U-Net over action chunks, FiLM-conditioned on the observation and the timestep.

The layout is Chi et al.'s ``ConditionalUnet1D`` (Diffusion Policy, RSS 2023): residual blocks of two
``Conv1d -> GroupNorm -> Mish`` layers whose first output is modulated by FiLM,
``h <- scale(c) * h + bias(c)`` with ``c = [embed(t), obs]``; stride-2 down-sampling between widths;
transposed-convolution up-sampling with skip connections; a final convolution to the action size.
Widths are CPU sized (the paper uses 256, 512, 1024).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

__all__ = ["ChunkUnet"]


def _conv(c_in: int, c_out: int, kernel: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), nn.GroupNorm(groups, c_out), nn.Mish())


class _Residual(nn.Module):
    def __init__(self, c_in: int, c_out: int, cond: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.first, self.second = _conv(c_in, c_out, kernel, groups), _conv(c_out, c_out, kernel, groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond, 2 * c_out))
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        scale, bias = self.film(c)[:, :, None].chunk(2, dim=1)
        return self.second(self.first(x) * scale + bias) + self.skip(x)


def _timestep_embedding(t: Tensor, dim: int) -> Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - 1))
    angles = t.to(torch.float32)[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class ChunkUnet(nn.Module):
    """Epsilon network ``eps(x_t, t, obs)`` for action chunks ``x_t`` of shape ``(B, T, D)``.

    Parameters
    ----------
    action_dim, obs_dim : int
        Sizes of one action and of the observation vector.
    widths : tuple of int
        Channels per resolution; the chunk length must be divisible by ``2 ** (len(widths) - 1)``.
    emb : int
        Size of the timestep embedding.
    kernel, groups : int
        Convolution width and GroupNorm groups.

    Examples
    --------
    >>> import torch
    >>> net = ChunkUnet(2, 6, widths=(8, 16), emb=8, groups=4)
    >>> net(torch.zeros(3, 16, 2), torch.tensor([0, 5, 99]), torch.zeros(3, 6)).shape
    torch.Size([3, 16, 2])
    """

    def __init__(
        self,
        action_dim: int,
        obs_dim: int,
        *,
        widths: tuple[int, ...] = (32, 64, 128),
        emb: int = 32,
        kernel: int = 5,
        groups: int = 8,
    ) -> None:
        super().__init__()
        self.action_dim, self.obs_dim, self.emb = action_dim, obs_dim, emb
        self.step_mlp = nn.Sequential(nn.Linear(emb, 4 * emb), nn.Mish(), nn.Linear(4 * emb, emb))
        cond = emb + obs_dim
        dims = [action_dim, *widths]
        pairs = list(itertools.pairwise(dims))
        self.down = nn.ModuleList()
        for i, (a, b) in enumerate(pairs):
            last = i == len(pairs) - 1
            self.down.append(
                nn.ModuleList(
                    [
                        _Residual(a, b, cond, kernel, groups),
                        _Residual(b, b, cond, kernel, groups),
                        nn.Identity() if last else nn.Conv1d(b, b, 3, stride=2, padding=1),
                    ]
                )
            )
        self.mid = nn.ModuleList([_Residual(widths[-1], widths[-1], cond, kernel, groups) for _ in range(2)])
        self.up = nn.ModuleList()
        for a, b in reversed(pairs[1:]):
            self.up.append(
                nn.ModuleList(
                    [
                        _Residual(2 * b, a, cond, kernel, groups),
                        _Residual(a, a, cond, kernel, groups),
                        nn.ConvTranspose1d(a, a, 4, stride=2, padding=1),
                    ]
                )
            )
        self.final = nn.Sequential(_conv(widths[0], widths[0], kernel, groups), nn.Conv1d(widths[0], action_dim, 1))

    def forward(self, x_t: Tensor, t: Tensor, obs: Tensor) -> Tensor:
        """Predicted noise, the shape of ``x_t``; ``t`` ``(B,)`` integer timesteps, ``obs`` ``(B, obs_dim)``."""
        c = torch.cat([self.step_mlp(_timestep_embedding(t, self.emb)), obs], dim=-1)
        h = x_t.transpose(1, 2)
        skips = []
        for first, second, down in self.down:
            h = second(first(h, c), c)
            skips.append(h)
            h = down(h)
        for block in self.mid:
            h = block(h, c)
        for first, second, up in self.up:
            h = second(first(torch.cat([h, skips.pop()], dim=1), c), c)
            h = up(h)
        return self.final(h).transpose(1, 2)
