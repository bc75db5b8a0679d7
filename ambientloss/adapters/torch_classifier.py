r"""A small noise-conditional clean-vs-corrupt classifier in PyTorch, and a training loop for it.

:class:`NoiseConditionalClassifier` maps a noised sample ``x_t`` (a vector ``(D,)`` or an action
chunk ``(T, D)``) and its level ``sigma`` to one logit. The input is scaled to unit variance,
``c_in = 1 / sqrt(a^2 sigma_data^2 + b^2)``, and the level enters through Fourier features of the
bounded log-SNR ``e = tanh(lambda / 8)``, ``lambda = 2 log(a / b)``, so levels of any schedule
(including ``sigma = 0`` and the pure-noise end) give finite features. It is meant for tests, demos
and small datasets: it trains in seconds on a CPU. :func:`fit_classifier` trains it on balanced
noisy batches built by :func:`ambientloss.annotation.classifier_batch`.

Examples
--------
>>> import torch
>>> from ambientloss.adapters.torch_classifier import NoiseConditionalClassifier
>>> model = NoiseConditionalClassifier((16, 7), positive="corrupt", pooling="mean")
>>> logits = model(torch.zeros(4, 16, 7), torch.full((4,), 0.5))
>>> logits.shape
torch.Size([4])
"""

from __future__ import annotations

import math
from typing import Any, Literal

import array_api_compat.torch as xp
import torch
from torch import Tensor, nn

from ..annotation import check_classifier
from ..annotation._classifier_data import binary_cross_entropy, check_positive, class_probability
from ..core.conversions import coefficients, log_snr
from ._torch_fit import ClassifierFit, held_out_quality, reinitialise, resolve_levels, split, train

__all__ = ["ClassifierFit", "NoiseConditionalClassifier", "fit_classifier", "held_out_quality"]

POOLINGS = ("flatten", "mean", "conv")


def _mlp(n_in: int, hidden: int, depth: int, n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else hidden, hidden), nn.SiLU()]
    layers.append(nn.Linear(hidden if depth else n_in, n_out))
    return nn.Sequential(*layers)


class NoiseConditionalClassifier(nn.Module):
    r"""MLP classifier ``c(x_t, sigma)`` whose logit is the log-odds of the class ``positive``.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of one sample: ``D`` or ``(D,)`` for vectors, ``(T, D)`` for action chunks.
    positive : {"clean", "corrupt"}
        The class whose log-odds the logit is (required, see
        :func:`~ambientloss.annotation.binary_cross_entropy`).
    schedule : str or Schedule
        Units of ``sigma`` (``"vp"`` by default).
    hidden, depth : int
        Width and number of hidden layers.
    n_frequencies : int
        Fourier frequencies ``pi k``, ``k = 1..n``, of the level embedding.
    pooling : {"flatten", "mean", "conv"}
        ``"flatten"``: one MLP on the flattened chunk. ``"mean"`` (chunks only): a per-timestep MLP with a
        learned position embedding, averaged over time, then a linear head. ``"conv"`` (chunks only):
        ``depth`` temporal convolutions (kernel 5, ``hidden`` channels, SiLU) over the chunk with the level
        features as extra channels, then the maximum and the mean over time into a linear head; it sees
        local structure (a corner, a jolt) wherever it lies in the chunk.
    sigma_data : float
        Standard deviation of the data, for the input scaling.
    """

    frequencies: Tensor  # a buffer (register_buffer in __init__)

    def __init__(
        self,
        shape: int | tuple[int, ...],
        *,
        positive: str,
        schedule: Any = "vp",
        hidden: int = 128,
        depth: int = 2,
        n_frequencies: int = 8,
        pooling: str = "flatten",
        sigma_data: float = 1.0,
    ) -> None:
        super().__init__()
        self.positive = check_positive(positive)
        self.shape = (int(shape),) if isinstance(shape, int) else tuple(int(n) for n in shape)
        if len(self.shape) not in (1, 2) or min(self.shape) < 1:
            msg = f"shape must be (D,) or (T, D) with positive sizes, got {shape!r}"
            raise ValueError(msg)
        if pooling not in POOLINGS or (pooling != "flatten" and len(self.shape) != 2):
            msg = (
                f"pooling must be 'flatten', or 'mean' or 'conv' for (T, D) chunks; got {pooling!r} for shape "
                f"{self.shape}"
            )
            raise ValueError(msg)
        if hidden < 1 or depth < 1 or n_frequencies < 0 or not sigma_data > 0:
            msg = (
                "hidden and depth must be >= 1, n_frequencies >= 0 and sigma_data > 0; got "
                f"hidden={hidden}, depth={depth}, n_frequencies={n_frequencies}, sigma_data={sigma_data}"
            )
            raise ValueError(msg)
        self.schedule, self.pooling, self.sigma_data = schedule, pooling, float(sigma_data)
        self.register_buffer("frequencies", math.pi * torch.arange(1, n_frequencies + 1, dtype=torch.float32))
        n_emb = 1 + 2 * n_frequencies
        if pooling == "flatten":
            self.net = _mlp(math.prod(self.shape) + n_emb, hidden, depth, 1)
        elif pooling == "conv":
            convs: list[nn.Module] = []
            for i in range(depth):
                convs += [nn.Conv1d((self.shape[1] + n_emb) if i == 0 else hidden, hidden, 5, padding=2), nn.SiLU()]
            self.conv = nn.Sequential(*convs)
            self.head = nn.Sequential(nn.Linear(2 * hidden, 1))
        else:
            steps, dim = self.shape
            self.step = _mlp(dim + n_emb, hidden, depth, hidden)
            self.position = nn.Parameter(torch.zeros(steps, hidden))
            self.head = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 1))

    def embed(self, sigma: Tensor) -> Tensor:
        """Level features ``[e, sin(pi k e), cos(pi k e)]``, ``e = tanh(log_snr / 8)``, shape ``(B, 1 + 2n)``."""
        e = torch.tanh(log_snr(sigma, schedule=self.schedule, xp=xp) / 8)[:, None]
        angles = e * self.frequencies.to(e.dtype)
        return torch.cat([e, torch.sin(angles), torch.cos(angles)], dim=-1)

    def forward(self, x_t: Tensor, sigma: Tensor | float) -> Tensor:
        """Logits ``(B,)`` for ``x_t`` of shape ``(B, *shape)`` (or a scalar for one unbatched sample)."""
        unbatched = tuple(x_t.shape) == self.shape
        x = x_t[None] if unbatched else x_t
        if tuple(x.shape[1:]) != self.shape:
            msg = f"x_t must have shape (B, {', '.join(map(str, self.shape))}) or {self.shape}, got {tuple(x_t.shape)}"
            raise ValueError(msg)
        n = x.shape[0]
        dtype = self.frequencies.dtype
        level_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32  # never a half-precision level
        s = torch.as_tensor(sigma, dtype=level_dtype, device=x.device)
        s = s.expand(n) if s.ndim == 0 else s
        if tuple(s.shape) != (n,):
            msg = f"sigma must be a number or have shape ({n},), got {tuple(s.shape)}"
            raise ValueError(msg)
        a, b = coefficients(s, schedule=self.schedule, xp=xp)  # checks the levels lie in the domain
        c_in = torch.rsqrt(a * a * self.sigma_data**2 + b * b)
        x = x * c_in.reshape(n, *(1,) * len(self.shape))
        emb = self.embed(s).to(dtype)
        x = x.to(dtype)
        if self.pooling == "flatten":
            logits = self.net(torch.cat([x.reshape(n, -1), emb], dim=-1))[:, 0]
        elif self.pooling == "conv":
            channels = torch.cat([x, emb[:, None, :].expand(n, self.shape[0], emb.shape[-1])], dim=-1)
            h = self.conv(channels.transpose(1, 2))
            logits = self.head(torch.cat([h.amax(dim=-1), h.mean(dim=-1)], dim=-1))[:, 0]
        else:
            steps = self.shape[0]
            per_step = torch.cat([x, emb[:, None, :].expand(n, steps, emb.shape[-1])], dim=-1)
            pooled = (self.step(per_step) + self.position).mean(dim=1)
            logits = self.head(pooled)[:, 0]
        return logits[0] if unbatched else logits

    def probability(self, x_t: Tensor, sigma: Tensor | float, *, probability: str) -> Tensor:
        """``P(clean)`` or ``P(corrupt)`` (as ``probability`` says) under ``torch.no_grad``."""
        with torch.no_grad():
            return class_probability(self(x_t, sigma), positive=self.positive, probability=probability, xp=xp)

    def loss(self, x_t: Tensor, sigma: Tensor, is_corrupt: Tensor, *, reduction: str = "mean") -> Tensor:
        """Binary cross-entropy of the logits against the labels, with this model's ``positive``."""
        return binary_cross_entropy(self(x_t, sigma), is_corrupt, positive=self.positive, reduction=reduction, xp=xp)


def fit_classifier(
    model: NoiseConditionalClassifier,
    clean: Tensor,
    corrupt: Tensor,
    /,
    *,
    steps: int = 500,
    batch_size: int = 256,
    lr: float = 3e-3,
    base: Any = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    holdout: float = 0.2,
    quality_levels: Any = None,
    on_chance: Literal["warn", "raise", "ignore"] = "warn",
) -> ClassifierFit:
    """Train ``model`` with Adam on balanced noisy batches, then check it on held-out rows.

    A fraction ``holdout`` of each class (``round(holdout N)``, at least one row, drawn with the
    generator) is set aside. Each step draws ``batch_size`` clean and ``batch_size`` corrupt training
    rows (with replacement), levels from ``base`` (an :mod:`ambientloss.sampling` base, EDM's
    ``LogNormal()`` by default, converted to the model's schedule by
    :func:`~ambientloss.annotation.sample_levels`) shared by each clean/corrupt pair, and fresh noise.
    After training, every held-out row is noised once at each level of ``quality_levels`` and
    :func:`~ambientloss.annotation.classifier_quality` reports balanced accuracy, ROC AUC and
    calibration per level; :func:`~ambientloss.annotation.check_classifier` then warns
    (``ClassifierAtChanceWarning``) or raises, as ``on_chance`` says, when the classifier is at chance at
    the lowest of them.

    Parameters
    ----------
    model : NoiseConditionalClassifier
        Trained in place (left in eval mode).
    clean, corrupt : Tensor
        ``(N, *model.shape)`` rows of each class.
    steps, batch_size, lr : int, int, float
        Adam steps, rows of each class per step, learning rate.
    base : ambientloss.sampling.Base, optional
        Law of the training levels (``LogNormal()`` when omitted).
    seed : int, optional
        Makes the run a function of ``seed`` alone: the model's parameters are drawn afresh (PyTorch's
        default laws) from a local ``torch.Generator`` seeded with it, which then also draws the
        split, the batches and the noise. The global random state is neither read nor changed.
    generator : torch.Generator, optional
        The generator of the split, the batches and the noise, when ``seed`` is not given (the model
        is then trained from its current parameters). Default: a new one seeded with 0.
    holdout : float
        Fraction in ``[0, 1)`` of each class held out for the quality check; 0 skips the check.
    quality_levels : array, optional
        Strictly increasing levels in the model's schedule for the check; by default the midpoints of
        the deciles of ``base`` (``u = 0.05, 0.15, ..., 0.95``).
    on_chance : {"warn", "raise", "ignore"}
        What to do when the classifier is at chance at the lowest quality level.

    Returns
    -------
    ClassifierFit
        ``losses`` (one per step), ``quality`` (``None`` with ``holdout=0``) and the row counts.

    Examples
    --------
    >>> import torch
    >>> from ambientloss.adapters.torch_classifier import NoiseConditionalClassifier, fit_classifier
    >>> g = torch.Generator().manual_seed(0)
    >>> clean, corrupt = torch.randn(256, 2, generator=g), torch.randn(256, 2, generator=g) + 4
    >>> model = NoiseConditionalClassifier(2, positive="corrupt", hidden=32)
    >>> fit = fit_classifier(model, clean, corrupt, steps=40, batch_size=32, seed=0)
    >>> fit.losses[-1] < fit.losses[0], fit.n_held_out
    (True, (51, 51))
    >>> bool(fit.quality.auc[0] > 0.9)                     # at the lowest level the classes barely overlap
    True
    """
    if steps < 1 or batch_size < 1 or not lr > 0:
        msg = f"steps and batch_size must be >= 1 and lr > 0, got steps={steps}, batch_size={batch_size}, lr={lr}"
        raise ValueError(msg)
    if not 0 <= holdout < 1:
        msg = f"holdout must be a fraction in [0, 1), got {holdout!r}"
        raise ValueError(msg)
    if seed is not None and generator is not None:
        msg = "give seed or generator, not both (seed makes its own generator)"
        raise ValueError(msg)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        msg = f"seed must be an integer, got {seed!r}"
        raise TypeError(msg)
    if on_chance not in ("warn", "raise", "ignore"):
        msg = f"on_chance must be 'warn', 'raise' or 'ignore', got {on_chance!r}"
        raise ValueError(msg)
    for name, data in (("clean", clean), ("corrupt", corrupt)):
        if data.ndim < 1 or data.shape[0] < 1 or tuple(data.shape[1:]) != model.shape:
            msg = f"{name} must have shape (N, {', '.join(map(str, model.shape))}) with N >= 1, got {tuple(data.shape)}"
            raise ValueError(msg)
    device = clean.device
    if seed is not None:
        g = torch.Generator(device=device).manual_seed(int(seed))
        reinitialise(model, g)
    else:
        g = generator if generator is not None else torch.Generator(device=device).manual_seed(0)
    levels = resolve_levels(quality_levels, base, model, clean) if holdout > 0 else None
    train_clean, held_clean = split(clean.shape[0], holdout, g, device, "clean")
    train_corrupt, held_corrupt = split(corrupt.shape[0], holdout, g, device, "corrupt")
    losses = train(model, clean[train_clean], corrupt[train_corrupt], steps, batch_size, lr, base, g)
    quality = None
    if levels is not None:
        quality = held_out_quality(model, clean[held_clean], corrupt[held_corrupt], levels, generator=g)
        check_classifier(quality, on_chance=on_chance)
    return ClassifierFit(
        losses,
        quality,
        (int(train_clean.shape[0]), int(train_corrupt.shape[0])),
        (int(held_clean.shape[0]), int(held_corrupt.shape[0])),
    )
