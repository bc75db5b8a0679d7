"""Shared array plumbing of the benchmarks: action-chunk windows over a demonstration, float32 tensors."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["chunk_windows", "tensor32"]


def chunk_windows(n: int, horizon: int, *, stride: int = 1, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Start steps ``t`` (every ``stride``-th of ``n``) and the ``(len(t), horizon)`` step indices
    ``t + offset + k`` of each chunk, clipped to ``n - 1`` (past the end the last step repeats).

    Examples
    --------
    >>> t, future = chunk_windows(5, 3, stride=2)
    >>> t.tolist(), future.tolist()
    ([0, 2, 4], [[0, 1, 2], [2, 3, 4], [4, 4, 4]])
    >>> chunk_windows(3, 2, offset=1)[1].tolist()
    [[1, 2], [2, 2], [2, 2]]
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    t = np.arange(0, n, stride)
    return t, np.minimum(t[:, None] + offset + np.arange(horizon)[None], n - 1)


def tensor32(a: np.ndarray) -> torch.Tensor:
    """``a`` as a contiguous float32 CPU tensor."""
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)
