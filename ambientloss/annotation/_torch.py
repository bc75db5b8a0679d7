"""PyTorch pieces of the annotation engine: per-sample seeded noise on the data's device, and ``no_grad``.

The annotation functions of :mod:`ambientloss.annotation` take torch tensors directly and import this
module only then; it is not meant to be called by users.

Examples
--------
>>> import torch
>>> from ambientloss.annotation._torch import paired_noise
>>> z = paired_noise(torch.zeros(2, 3), [7, 8], 4, seed=0)
>>> z.shape, bool(torch.equal(z[0], paired_noise(torch.zeros(1, 3), [7], 4, seed=0)[0]))
(torch.Size([2, 4, 3]), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import torch

from ._seeds import sample_seed

__all__ = ["inference", "paired_noise"]


def paired_noise(x: torch.Tensor, sample_ids: Sequence[int], n_draws: int, *, seed: int) -> torch.Tensor:
    """Standard normal draws ``(n, n_draws, *x.shape[1:])``, one generator per sample id, on ``x``'s device.

    The draws for a sample depend only on ``(seed, sample id)``, never on batching.
    """
    shape = (n_draws, *x.shape[1:])
    out = []
    for sid in sample_ids:
        gen = torch.Generator(device=x.device).manual_seed(sample_seed(seed, int(sid)))
        out.append(torch.randn(shape, generator=gen, device=x.device, dtype=x.dtype))
    return torch.stack(out) if out else x.new_zeros((0, *shape))


def inference() -> AbstractContextManager[object]:
    """``torch.no_grad()``: classifier evaluation builds no autograd graph."""
    return torch.no_grad()
