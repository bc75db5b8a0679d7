r"""Per-sample ``sigma_max`` of low-quality chunks from window classifiers (Ambient-Omni's locality rule).

For each window size ``w`` a :class:`ambientloss.adapters.torch_classifier.NoiseConditionalClassifier` sees
``w`` consecutive actions of a chunk (positions re-centred on the window's first one, so the window shows
local motion, not where the chunk goes overall) together with the observation, and learns clean against
low-quality windows at low noise. A low-quality chunk's mean ``P(clean)`` over its windows, per size, goes to
:func:`ambientloss.annotation.sigma_max_from_window_probs` with a size -> level table built from the data:
the level of size ``w`` is the VP level at which the noise-to-signal ratio ``b / a`` equals the RMS
displacement of a clean ``w``-action window, i.e. where the noise starts to hide motion at that scale.

The observation enters the classifier because the sorting mismatch is a property of the pair (colour, chunk):
without it clean and low-quality chunks have the same distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ambientloss.adapters.torch_classifier import NoiseConditionalClassifier, fit_classifier
from ambientloss.annotation import WindowTable, sigma_max_from_window_probs
from ambientloss.sampling import LogNormal
from benchmarks.policy.methods import Pools

__all__ = ["WindowAnnotation", "annotate_sigma_max", "level_table", "windows"]


@dataclass
class WindowAnnotation:
    """``sigma_max`` ``(Nl,)`` of the low rows, the size -> level table and the mean ``P(clean)`` per size."""

    sigma_max: torch.Tensor
    table: dict[int, float]
    mean_clean: dict[int, float]


def windows(x: torch.Tensor, w: int) -> torch.Tensor:
    """All ``w``-action windows ``(N, T - w + 1, w, D)`` of chunks ``(N, T, D)``, positions re-centred.

    Examples
    --------
    >>> x = torch.arange(12.0).reshape(1, 4, 3)
    >>> windows(x, 2)[0, 1].tolist()
    [[0.0, 0.0, 5.0], [3.0, 3.0, 8.0]]
    """
    win = x.unfold(1, w, 1).permute(0, 1, 3, 2)
    return torch.cat([win[..., :2] - win[..., :1, :2], win[..., 2:]], dim=-1)


def _inputs(x: torch.Tensor, obs: torch.Tensor, w: int) -> torch.Tensor:
    win = windows(x, w)
    n, k = win.shape[:2]
    return torch.cat([win.reshape(n, k, -1), obs[:, None].expand(n, k, obs.shape[-1])], dim=-1)


def level_table(xc: torch.Tensor, sizes: tuple[int, ...]) -> dict[int, float]:
    """Size -> VP level ``d / sqrt(1 + d^2)``, ``d`` the RMS displacement of clean ``w``-action windows."""
    out = {}
    for w in sizes:
        d = float(windows(xc, w)[:, :, -1, :2].norm(dim=-1).pow(2).mean().sqrt())
        out[int(w)] = d / (1 + d * d) ** 0.5
    return out


def annotate_sigma_max(
    pools: Pools, *, sizes: tuple[int, ...], seed: int, steps: int, threshold: float = 0.25, hidden: int = 64,
    batch_size: int = 256,
) -> WindowAnnotation:
    """Train one window classifier per size for ``steps`` steps and annotate every low-quality row of ``pools``."""
    table = level_table(pools.xc, sizes)
    level = float(pools.table.sigmas[0])
    probs = {}
    for w in sizes:
        clean = _inputs(pools.xc, pools.oc, w).reshape(-1, 3 * w + pools.oc.shape[-1])
        low_rows = _inputs(pools.xl, pools.ol, w)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + w)
            model = NoiseConditionalClassifier(clean.shape[-1], positive="corrupt", hidden=hidden, depth=2,
                                               sigma_data=float(clean.std()))
        g = torch.Generator().manual_seed(seed + w)
        fit_classifier(model, clean, low_rows.reshape(-1, clean.shape[-1]), steps=steps, batch_size=batch_size,
                       base=LogNormal(-3.0, 1.0), generator=g, holdout=0)  # every row trains, as recorded
        n, k = low_rows.shape[:2]
        flat = low_rows.reshape(n * k, -1)
        p = torch.cat([model.probability(b, level, probability="clean") for b in flat.split(8192)])
        probs[int(w)] = p.reshape(n, k).mean(dim=1)
    wt = WindowTable(table, "vp", "actions", "bin sorting: RMS displacement of clean windows as b / a")
    sigma_max = sigma_max_from_window_probs(probs, wt, probability="clean", threshold=threshold, rule="largest")
    return WindowAnnotation(sigma_max.to(torch.float32), table, {w: float(p.mean()) for w, p in probs.items()})
