"""Training and checking the PyTorch classifier: the held-out split, the training loop, the quality check.

The pieces of :func:`ambientloss.adapters.torch_classifier.fit_classifier`; :class:`ClassifierFit` and
:func:`held_out_quality` are public there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import array_api_compat.torch as xp
import torch
from torch import Tensor, nn

from ..annotation import ClassifierQuality, classifier_quality
from ..annotation._classifier_data import classifier_batch, sample_levels
from ..core.noising import add_noise

if TYPE_CHECKING:
    from .torch_classifier import NoiseConditionalClassifier

__all__ = ["ClassifierFit", "held_out_quality", "reinitialise", "resolve_levels", "split", "train"]


@dataclass(frozen=True)
class ClassifierFit:
    """What :func:`fit_classifier` did: the loss of every step and the quality on the held-out rows."""

    losses: list[float]  #: the training loss of every step
    quality: ClassifierQuality | None  #: per-level quality on the held-out rows (``None`` with ``holdout=0``)
    n_train: tuple[int, int]  #: (clean, corrupt) rows trained on
    n_held_out: tuple[int, int]  #: (clean, corrupt) rows held out


def split(n: int, holdout: float, g: torch.Generator, device: torch.device, name: str) -> tuple[Tensor, Tensor]:
    """Indices (train, held out) of ``n`` rows; ``round(holdout n)`` held out, at least one on each side."""
    k = 0 if holdout == 0 else min(max(round(holdout * n), 1), n - 1)
    if holdout > 0 and n < 2:
        msg = f"{name} has {n} row; holding out needs at least 2 (pass holdout=0 to train on every row)"
        raise ValueError(msg)
    if k == 0:  # nothing held out: the generator is not drawn from
        return torch.arange(n, device=device), torch.arange(0, device=device)
    order = torch.randperm(n, generator=g, device=device)
    return order[k:], order[:k]


def reinitialise(model: nn.Module, g: torch.Generator) -> None:
    """Parameters drawn afresh from ``g``, with the laws of PyTorch's defaults (learned positions at 0)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d)):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=g)
                if module.bias is not None:
                    bound = 1 / math.sqrt(module.weight[0].numel())
                    nn.init.uniform_(module.bias, -bound, bound, generator=g)
        position = getattr(model, "position", None)  # the learned positions of "mean" pooling start at 0
        if isinstance(position, nn.Parameter):
            position.zero_()


def held_out_quality(
    model: NoiseConditionalClassifier,
    clean: Tensor,
    corrupt: Tensor,
    levels: Tensor,
    /,
    *,
    generator: torch.Generator,
    batch_size: int = 4096,
) -> ClassifierQuality:
    """Balanced accuracy, ROC AUC and calibration error of ``model`` on held-out rows, per level.

    Every row of ``clean`` and ``corrupt`` is noised once at each level, ``x_t = a x + b noise`` with
    noise from ``generator``, and ``P(corrupt | x_t, level)`` goes to
    :func:`ambientloss.annotation.classifier_quality`. Use it for a classifier trained elsewhere;
    :func:`fit_classifier` calls it on the rows it held out.

    Parameters
    ----------
    model : NoiseConditionalClassifier
        The classifier (put in eval mode).
    clean, corrupt : Tensor
        ``(n_clean, *model.shape)`` and ``(n_corrupt, *model.shape)`` rows it was not trained on.
    levels : Tensor
        ``(G,)`` strictly increasing levels in the model's schedule.
    generator : torch.Generator
        Draws the noise.
    batch_size : int
        Rows per forward pass.

    Returns
    -------
    ClassifierQuality

    Examples
    --------
    >>> import torch
    >>> from ambientloss.adapters.torch_classifier import NoiseConditionalClassifier, held_out_quality
    >>> g = torch.Generator().manual_seed(0)
    >>> model = NoiseConditionalClassifier(2, positive="corrupt", hidden=8)
    >>> clean, corrupt = torch.randn(50, 2, generator=g), torch.randn(60, 2, generator=g)
    >>> q = held_out_quality(model, clean, corrupt, torch.tensor([0.1, 0.5]), generator=g)
    >>> q.auc.shape, q.n_clean, q.n_corrupt
    ((2,), 50, 60)
    """
    rows = torch.cat([clean, corrupt])
    labels = torch.cat([torch.zeros(clean.shape[0], dtype=torch.bool), torch.ones(corrupt.shape[0], dtype=torch.bool)])
    p = torch.empty(levels.shape[0], rows.shape[0], dtype=torch.float64)
    model.eval()
    for g_index, level in enumerate(levels):
        for start in range(0, rows.shape[0], batch_size):
            x = rows[start : start + batch_size]
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            sigma = torch.full((x.shape[0],), float(level), dtype=x.dtype, device=x.device)
            x_t = add_noise(x, sigma, noise, schedule=model.schedule, xp=xp)
            p[g_index, start : start + x.shape[0]] = model.probability(x_t, sigma, probability="corrupt").double().cpu()
    return classifier_quality(p.numpy(), labels.numpy(), levels.double().cpu().numpy(), schedule=model.schedule)


def resolve_levels(levels: Any, base: Any, model: NoiseConditionalClassifier, like: Tensor) -> Tensor:
    """The levels of the quality check: the given ones, or the midpoints of the base's deciles."""
    if levels is None:  # the midpoints of the base's deciles: the levels it was trained on, evenly by mass
        u = (torch.arange(10, dtype=torch.float64) + 0.5) / 10
        return sample_levels(u, base=base, schedule=model.schedule, xp=xp).to(like.device)
    return torch.as_tensor(levels, dtype=torch.float64, device=like.device).reshape(-1)


def train(
    model: NoiseConditionalClassifier,
    clean: Tensor,
    corrupt: Tensor,
    steps: int,
    batch_size: int,
    lr: float,
    base: Any,
    g: torch.Generator,
) -> list[float]:
    """Adam on balanced noisy batches drawn with ``g``; the loss of every step."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    dtype, device = clean.dtype, clean.device
    history = []
    model.train()
    for _ in range(steps):
        i = torch.randint(clean.shape[0], (batch_size,), generator=g, device=device)
        j = torch.randint(corrupt.shape[0], (batch_size,), generator=g, device=device)
        u = torch.rand(batch_size, generator=g, dtype=dtype, device=device)
        sigma = sample_levels(u, base=base, schedule=model.schedule, xp=xp)
        noise = torch.randn((2 * batch_size, *model.shape), generator=g, dtype=dtype, device=device)
        batch = classifier_batch(clean[i], corrupt[j], sigma, noise, schedule=model.schedule, xp=xp)
        loss = model.loss(batch.x_t, batch.sigma, batch.is_corrupt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
    model.eval()
    return history
