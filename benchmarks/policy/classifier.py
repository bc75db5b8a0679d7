"""Per-sample ``sigma_min`` of low-quality chunks from the library's noise-conditional classifier.

A :class:`ambientloss.adapters.torch_classifier.NoiseConditionalClassifier` with temporal
convolutions (``pooling="conv"``: it sees a corner or a jolt wherever it lies in the chunk) learns
clean against low-quality chunks at the policy's own levels; then
:func:`ambientloss.annotation.adaptive_sigma_min` gives each low-quality chunk the smallest table level
from which the classifier's ``P(low quality)`` stays below ``1/2 + eps`` (bisection over the table,
``n_draws`` paired noise draws per chunk).
"""

from __future__ import annotations

from dataclasses import dataclass

import array_api_compat.torch as txp
import numpy as np
import torch

from ambientloss.adapters.torch_classifier import NoiseConditionalClassifier, fit_classifier
from ambientloss.annotation import adaptive_sigma_min, ddpm_timestep_grid

from .methods import Pools

__all__ = ["Annotation", "annotate", "balanced_accuracy", "fit", "sigma_min_of"]


@dataclass
class Annotation:
    """``sigma_min`` ``(Nl,)`` of the low-quality rows, the classifier and its accuracy per timestep."""

    sigma_min: torch.Tensor
    model: NoiseConditionalClassifier
    accuracy: dict[int, float]


def balanced_accuracy(model: NoiseConditionalClassifier, pools: Pools, timestep: int, *, n: int, seed: int) -> float:
    """Balanced accuracy of ``model`` at one training timestep on ``n`` rows of each source."""
    g = torch.Generator().manual_seed(seed)
    s = float(pools.table.sigmas[timestep])
    accs = []
    for x, corrupt in ((pools.xc, False), (pools.xl, True)):
        rows = x[torch.randint(len(x), (n,), generator=g)]
        a, b = (1 - s * s) ** 0.5, s
        x_t = a * rows + b * torch.randn(rows.shape, generator=g)
        p = model.probability(x_t, torch.full((n,), s), probability="corrupt")
        accs.append(float(((p > 0.5) == corrupt).float().mean()))
    return float(np.mean(accs))


def fit(pools: Pools, *, seed: int, steps: int, hidden: int = 64, batch_size: int = 256) -> NoiseConditionalClassifier:
    """Train the clean-vs-low-quality classifier on ``pools`` for ``steps`` steps (balanced noisy batches)."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = NoiseConditionalClassifier(
            tuple(pools.xc.shape[1:]),
            positive="corrupt",
            schedule=pools.table,
            hidden=hidden,
            depth=3,
            pooling="conv",
            sigma_data=float(pools.xc.std()),
        )
    # every row trains, as in the recorded runs (holdout=0: no held-out quality check)
    fit_classifier(
        model, pools.xc, pools.xl, steps=steps, batch_size=batch_size, base=pools.base, generator=g, holdout=0
    )
    return model.eval()


def sigma_min_of(
    model: NoiseConditionalClassifier, pools: Pools, *, eps: float, seed: int, n_draws: int = 4
) -> torch.Tensor:
    """``sigma_min`` ``(Nl,)`` of every low-quality row: the smallest table level from which the classifier's
    ``P(low quality)`` stays below ``1/2 + eps``."""

    def p_corrupt(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return model.probability(x, sigma, probability="corrupt")

    grid = ddpm_timestep_grid(pools.table, xp=txp, dtype=torch.float32)
    res = adaptive_sigma_min(
        p_corrupt,
        pools.xl,
        grid,
        probability="corrupt",
        eps=eps,
        n_draws=n_draws,
        schedule=pools.table,
        batch_size=8192,
        seed=seed,
    )
    return res.sigma_min.to(torch.float32)


def annotate(pools: Pools, *, seed: int, steps: int, eps: float) -> Annotation:
    """:func:`fit`, then :func:`sigma_min_of`, with the classifier's balanced accuracy at a few timesteps."""
    model = fit(pools, seed=seed, steps=steps)
    acc = {t: balanced_accuracy(model, pools, t, n=2000, seed=seed + 1) for t in (0, 5, 10, 20, 40)}
    return Annotation(sigma_min_of(model, pools, eps=eps, seed=seed), model, acc)
