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
from typing import Any

import array_api_compat.torch as xp
import torch
from torch import Tensor, nn

from ..annotation._classifier_data import (
    binary_cross_entropy,
    check_positive,
    class_probability,
    classifier_batch,
    sample_levels,
)
from ..core.conversions import coefficients, log_snr

__all__ = ["NoiseConditionalClassifier", "fit_classifier"]

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


def initialise(model: nn.Module, seed: int) -> None:
    """Draw ``model``'s linear and convolution parameters again as PyTorch does, from a generator seeded with ``seed``.

    Weights: Kaiming-uniform with ``a = sqrt(5)``, i.e. uniform on ``(-1, 1) / sqrt(fan_in)``; biases uniform
    on the same interval. Drawn on the CPU in float32 and copied, so the values do not depend on the device.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, (nn.Linear, nn.Conv1d)):
                continue
            weight = torch.empty(module.weight.shape)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=g)
            module.weight.copy_(weight)
            if module.bias is not None:
                bound = 1 / math.sqrt(weight[0].numel())  # fan_in: inputs (times the kernel width) per output
                module.bias.copy_(torch.empty(module.bias.shape).uniform_(-bound, bound, generator=g))
        position = getattr(model, "position", None)
        if isinstance(position, nn.Parameter):
            position.zero_()  # as constructed


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
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> list[float]:
    """Train ``model`` with Adam on balanced noisy batches; returns the loss of every step.

    Each step draws ``batch_size`` clean and ``batch_size`` corrupt rows (with replacement), levels
    from ``base`` (an :mod:`ambientloss.sampling` base, EDM's ``LogNormal()`` by default, converted to
    the model's schedule by :func:`~ambientloss.annotation.sample_levels`) shared by
    each clean/corrupt pair, and fresh noise. The default generator is seeded with 0.

    ``seed`` makes the whole run a function of the seed: the model's parameters are first drawn
    again, with PyTorch's default initialisation, from a local generator seeded with it (on the CPU,
    then copied to the model's device), and the rows, levels and noise come from another local
    generator seeded with it. The global generator is neither read nor changed, so the same seed
    gives the same model in any process. Give ``seed`` or ``generator``, not both.

    Examples
    --------
    >>> import torch
    >>> from ambientloss.adapters.torch_classifier import NoiseConditionalClassifier, fit_classifier
    >>> g = torch.Generator().manual_seed(0)
    >>> clean, corrupt = torch.randn(256, 2, generator=g), torch.randn(256, 2, generator=g) + 4
    >>> model = NoiseConditionalClassifier(2, positive="corrupt", hidden=32)
    >>> losses = fit_classifier(model, clean, corrupt, steps=40, batch_size=32, generator=g)
    >>> losses[-1] < losses[0]
    True
    """
    if steps < 1 or batch_size < 1 or not lr > 0:
        msg = f"steps and batch_size must be >= 1 and lr > 0, got steps={steps}, batch_size={batch_size}, lr={lr}"
        raise ValueError(msg)
    for name, data in (("clean", clean), ("corrupt", corrupt)):
        if data.ndim < 1 or data.shape[0] < 1 or tuple(data.shape[1:]) != model.shape:
            msg = f"{name} must have shape (N, {', '.join(map(str, model.shape))}) with N >= 1, got {tuple(data.shape)}"
            raise ValueError(msg)
    if seed is not None:
        if generator is not None:
            msg = "give seed (which also draws the model's initial parameters) or generator, not both"
            raise ValueError(msg)
        if isinstance(seed, bool) or not isinstance(seed, int):
            msg = f"seed must be an integer, got {seed!r}"
            raise TypeError(msg)
        initialise(model, seed)
        generator = torch.Generator(device=clean.device).manual_seed(seed)
    g = generator if generator is not None else torch.Generator(device=clean.device).manual_seed(0)
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
