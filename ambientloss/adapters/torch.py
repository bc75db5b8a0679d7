r"""PyTorch adapter: the ambient loss as an :class:`torch.nn.Module` for a diffusion training step.

A training step builds the network input ``x_t`` and its target from the trusted sample ``x_tmin``
(the clean data where ``sigma_min == 0``) through the noise form of :func:`ambientloss.ambient_pair`,
then takes the weighted, masked squared error

.. math::
    \mathcal L = \frac{\sum_{i\ \text{valid}} w(\sigma, \sigma_{min})\, (h_\theta(x_t)_i - T_i)^2}
                      {\#\{i\ \text{valid}\}},

whose minimiser is the standard denoiser for any data law. At ``sigma_min = 0`` the pair is
bit-exactly the standard one (``target == noise`` for ``"epsilon"``; docs/numerics.md). Every core call passes
``xp=array_api_compat.torch``, so the module runs under ``torch.compile(fullgraph=True)`` without
graph breaks or warnings. Targets and the loss are float32 for bf16 / fp16 inputs (float64 stays
float64), also under :func:`torch.autocast`.

Examples
--------
>>> import torch
>>> from ambientloss.adapters.torch import AmbientLoss
>>> loss_fn = AmbientLoss(prediction="epsilon")
>>> x_tmin = torch.zeros(2, 16, 7)                  # (B, horizon, action_dim)
>>> sigma_min = torch.tensor([0.0, 0.3])            # 0 marks a clean sample
>>> sigma = torch.tensor([0.5, 0.6])
>>> x_t, target = loss_fn.prepare(x_tmin, sigma, sigma_min, generator=torch.Generator().manual_seed(0))
>>> pred = torch.zeros_like(x_t, requires_grad=True)   # model(x_t, t, cond) in a real step
>>> loss = loss_fn(pred, target, sigma, sigma_min)
>>> loss.backward()
>>> loss.dtype, pred.grad.shape
(torch.float32, torch.Size([2, 16, 7]))
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat.torch as xp
import torch
from torch import Tensor, nn

from .. import sampling
from ..core.admissibility import admissible
from ..core.arrays import values_readable
from ..core.buffer import Buffer
from ..core.discrete import Discrete
from ..core.levels import Levels
from ..core.losses import check_reduction, squared_error
from ..core.schedules import get_schedule
from ..core.targets import ambient_pair, ambient_target, canonical_prediction
from ..core.weights import Weighting, as_weighting, loss_weight
from ._given import after_levels, levels_for

__all__ = ["AmbientLoss", "sample_truncated", "truncated_timesteps"]

Level = Tensor | float


def _wide(x: Tensor) -> Tensor:
    """bf16 / fp16 tensors in float32, where the core computes anyway; others unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class AmbientLoss(nn.Module):
    r"""Ambient diffusion loss ``w(sigma, sigma_min) * (pred - T)**2`` with masks and reductions.

    Parameters
    ----------
    prediction : str
        What the network predicts: ``"x0"`` (default, diffusers' ``"sample"``), ``"epsilon"``,
        ``"v_prediction"`` (``"v"``), ``"velocity"`` (``"flow"``) or ``"score"``. :meth:`from_scheduler`
        reads the scheduler's own ``prediction_type``.
    schedule : str or Schedule
        ``"vp"`` (default), ``"ve"``, ``"flow"``, a :class:`~ambientloss.Discrete` table (see
        :meth:`from_scheduler`) or a :class:`~ambientloss.Custom` schedule.
    weighting : Weighting or {"inverse_variance", "none", "ambient_o", "x_tmin"}
        The :class:`~ambientloss.Weighting` of :func:`ambientloss.loss_weight` (policy, base weight
        converted to ``prediction``, ``sigma_data``, ``s_max``, ``min_snr_gamma``, cap), or a policy
        name as shorthand; ``"inverse_variance"`` gives every ambient sample the residual variance of
        a clean one (VP, ``sigma_data = 1``: ``1 - sigma_min^2 / sigma^2``). Stored as a
        ``Weighting`` in :attr:`weighting`.
    reduction : {"mean", "per_sample", "sum", "none"}
        Default reduction of :meth:`forward`. ``"per_sample"`` returns ``(B,)`` losses, each divided
        by its own valid count: what LeRobot's ``SampleWeighter`` calls ``reduction="none"``.
        ``"none"`` returns the per-element loss.
    batch_ndim : int
        Leading axes kept by ``"per_sample"``.

    Notes
    -----
    Under ``torch.compile`` values cannot be checked: inadmissible entries (``sigma <= sigma_min``,
    levels outside the schedule's domain) come out NaN in ``x_t``, the target and the weight.
    Masking them with ``where=loss_fn.admissible(sigma, sigma_min)`` keeps the loss and its gradient
    finite; feed ``torch.nan_to_num(x_t)`` to the network so that those rows cannot reach the
    parameter gradients either.
    """

    def __init__(
        self,
        prediction: str = "x0",
        schedule: Any = "vp",
        *,
        weighting: Weighting | str = "inverse_variance",
        reduction: str = "mean",
        batch_ndim: int = 1,
    ) -> None:
        super().__init__()
        canonical_prediction(prediction)  # ValueError naming ``prediction`` when unknown
        self.weighting: Weighting = as_weighting(weighting)
        check_reduction(reduction)
        self.prediction = prediction
        self.schedule = get_schedule(schedule)
        self.reduction, self.batch_ndim = reduction, batch_ndim
        # timestep -> level table (float64, CPU); moved to the timesteps' device on use, never cast by .to()
        self._levels: Tensor | None = None
        if isinstance(self.schedule, Discrete):
            self._levels = torch.from_numpy(self.schedule.sigmas.copy())

    @classmethod
    def from_scheduler(
        cls,
        scheduler: Any,
        *,
        prediction: str | None = None,
        weighting: Weighting | str = "inverse_variance",
        reduction: str = "mean",
        batch_ndim: int = 1,
    ) -> AmbientLoss:
        """Build from a diffusers-style DDPM / DDIM scheduler (duck-typed; diffusers is not imported).

        Reads ``scheduler.alphas_cumprod`` (levels ``sqrt(1 - alphas_cumprod[t])``) and
        ``scheduler.config.prediction_type`` (unless ``prediction=`` is given); the other keyword
        arguments are those of :class:`AmbientLoss`.

        Examples
        --------
        >>> import torch
        >>> from types import SimpleNamespace
        >>> from ambientloss import Discrete
        >>> ac = Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100).alphas_cumprod
        >>> scheduler = SimpleNamespace(alphas_cumprod=torch.tensor(ac, dtype=torch.float32),
        ...                             config=SimpleNamespace(prediction_type="sample"))
        >>> loss_fn = AmbientLoss.from_scheduler(scheduler)
        >>> loss_fn.prediction, loss_fn.sigma_for_timestep(torch.tensor([0, 50, 99]))
        ('sample', tensor([0.0251, 0.7223, 1.0000]))
        """
        if prediction is None:
            config = getattr(scheduler, "config", None)  # a dict, diffusers' FrozenDict or a namespace
            get = config.get if isinstance(config, dict) else lambda key: getattr(config, key, None)
            prediction = get("prediction_type") or "epsilon"
        return cls(
            prediction,
            Discrete.from_scheduler(scheduler),
            weighting=weighting,
            reduction=reduction,
            batch_ndim=batch_ndim,
        )

    def sigma_for_timestep(self, timesteps: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
        """Levels ``sqrt(1 - alphas_cumprod[t])`` of integer ``timesteps``, on their device.

        ``-1`` marks a clean sample and gives level 0, so a ``t_min`` tensor converts directly.
        Out-of-range timesteps raise ``ValueError`` (give NaN under ``torch.compile``).
        """
        if self._levels is None:
            msg = f"sigma_for_timestep needs a Discrete schedule, not {self.schedule!r}; use AmbientLoss.from_scheduler"
            raise TypeError(msg)
        if not isinstance(timesteps, Tensor) or timesteps.dtype.is_floating_point or timesteps.dtype.is_complex:
            msg = f"timesteps must be an integer tensor, got {getattr(timesteps, 'dtype', type(timesteps).__name__)}"
            raise TypeError(msg)
        n = self._levels.shape[0]
        outside = (timesteps < -1) | (timesteps >= n)
        if values_readable(outside) and bool(outside.any()):
            bad = timesteps[outside][0].item()
            msg = f"timesteps must lie in [-1, {n - 1}] (-1 marks a clean sample), got {bad}"
            raise ValueError(msg)
        table = self._levels.to(dtype).to(timesteps.device)
        level = table[timesteps.clamp(0, n - 1)]
        level = torch.where(timesteps < 0, torch.zeros_like(level), level)
        return torch.where(outside, torch.full_like(level, math.nan), level)

    def levels(
        self, sigma: Level, sigma_min: Level, sigma_max: Level | None = None, /, *, buffer: Buffer | None = None
    ) -> Levels:
        """One :class:`~ambientloss.Levels` with this loss's schedule and prediction, checked once.

        Build it once per training step and pass it in place of ``sigma, sigma_min`` to :meth:`prepare`,
        :meth:`target`, :meth:`weight`, :meth:`forward` and :meth:`admissible`: the step then prepares,
        resolves the schedule and checks its levels once (one host read with checks on, none with
        :func:`ambientloss.checks` ``(False)`` or under ``torch.compile``). Results are bit-identical to
        the raw-level calls when the levels have the dtype the data computes in (float32 for float32,
        bf16 and fp16 data; float64 for float64 data).

        Examples
        --------
        >>> import torch
        >>> loss_fn = AmbientLoss(prediction="epsilon")
        >>> levels = loss_fn.levels(torch.tensor([0.5, 0.6]), torch.tensor([0.0, 0.3]))
        >>> x_t, target = loss_fn.prepare(torch.zeros(2, 16, 7), levels, generator=torch.Generator().manual_seed(0))
        >>> loss_fn(torch.zeros_like(x_t), target, levels).dtype
        torch.float32
        """
        return Levels(
            sigma, sigma_min, sigma_max, schedule=self.schedule, buffer=buffer, prediction=self.prediction, xp=xp
        )

    def _given(self, levels: Levels) -> Levels:
        return levels_for(levels, self.schedule, "this AmbientLoss")

    def admissible(self, sigma: Levels | Level, sigma_min: Level | None = None) -> Tensor:
        """Boolean mask of the level pairs with a defined target, to pass as ``where=`` under compile.

        ``sigma > sigma_min`` with both inside the schedule's domain (and ``sigma`` below its top
        for the ``"velocity"`` prediction of a VP schedule); ``False`` at NaN. Given one
        :class:`~ambientloss.Levels`: its :attr:`~ambientloss.Levels.usable` mask.
        """
        if isinstance(sigma, Levels):
            after_levels(sigma_min, None, "nothing")
            return self._given(sigma).usable
        return admissible(sigma, sigma_min, schedule=self.schedule, prediction=self.prediction, xp=xp)

    def prepare(
        self,
        x_tmin: Tensor,
        sigma: Levels | Level,
        sigma_min: Level | None = None,
        noise: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        r"""Network input ``x_t`` and target from the trusted sample, by :func:`ambientloss.ambient_pair`.

        ``x_t = (a_t / a_m) x_tmin + (sqrt(D) / a_m) z`` with fresh noise ``z``. At ``sigma_min = 0``
        ``x_t`` is bit-exactly :func:`ambientloss.add_noise` (within a few float32 ulp of diffusers'
        ``add_noise`` at the same timestep) and the target bit-exactly the standard one (``z`` for
        ``"epsilon"``, ``x_tmin`` for ``"sample"``).

        Parameters
        ----------
        x_tmin : Tensor
            Trusted samples at ``sigma_min``, shape ``(B, ...)``.
        sigma, sigma_min : Tensor or float
            Levels of shape ``()``, ``(B,)``, ... aligned with the leading axes of ``x_tmin``. Or one
            :class:`~ambientloss.Levels` in place of both (:meth:`levels`):
            ``prepare(x_tmin, levels, noise)``.
        noise : Tensor, optional
            Fresh standard Gaussian noise shaped like ``x_tmin``; drawn with ``generator`` (the
            global generator when ``None``) if omitted.
        generator : torch.Generator, optional
            Makes the drawn noise reproducible. ``torch.compile`` cannot trace a generator: pass
            ``noise`` there, or omit both to use the global generator.

        Returns
        -------
        (x_t, target) : tuple of Tensor
            ``x_t`` in the dtype of ``x_tmin``; ``target`` in float32 for bf16 / fp16 inputs,
            otherwise in the dtype of ``x_tmin``.
        """
        if isinstance(sigma, Levels):
            sigma, noise, sigma_min = self._given(sigma), after_levels(sigma_min, noise, "noise"), None
        if noise is None:
            dtype = x_tmin.dtype if x_tmin.dtype.is_floating_point else torch.float32
            noise = torch.randn(x_tmin.shape, generator=generator, dtype=dtype, device=x_tmin.device)
        if not isinstance(noise, Tensor):
            msg = f"noise must be a torch.Tensor, got {type(noise).__name__}"
            raise TypeError(msg)
        options: dict[str, Any] = {"prediction": self.prediction, "schedule": self.schedule, "xp": xp}
        if isinstance(sigma, Levels):  # the core's convention: the noise follows the levels
            x_t, target = ambient_pair(_wide(x_tmin), sigma, _wide(noise), **options)
        else:
            x_t, target = ambient_pair(_wide(x_tmin), sigma, sigma_min, _wide(noise), **options)
        return x_t.to(x_tmin.dtype), target

    def target(self, x_t: Tensor, x_tmin: Tensor, sigma: Levels | Level, sigma_min: Level | None = None) -> Tensor:
        """Ambient target for a given ``x_t`` formed from ``x_tmin`` (:func:`ambientloss.ambient_target`).

        Prefer :meth:`prepare` when drawing the noise yourself: it avoids cancellation near
        ``sigma_min``. The result is float32 for bf16 / fp16 inputs. Takes raw levels or one
        :class:`~ambientloss.Levels`.
        """
        if isinstance(sigma, Levels):
            sigma = self._given(sigma)
        return ambient_target(
            _wide(x_t), _wide(x_tmin), sigma, sigma_min, prediction=self.prediction, schedule=self.schedule, xp=xp
        )

    def weight(self, sigma: Levels | Level, sigma_min: Level | None = None) -> Tensor:
        """Per-sample weight ``w(sigma, sigma_min)`` (:func:`ambientloss.loss_weight`), float32 or float64.

        Takes raw levels or one :class:`~ambientloss.Levels` (then float32 or float64 as the levels).
        """
        if isinstance(sigma, Levels):
            sigma = self._given(sigma)
        return loss_weight(
            sigma, sigma_min, weighting=self.weighting, prediction=self.prediction, schedule=self.schedule, xp=xp
        )

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        sigma: Levels | Level,
        sigma_min: Level | Tensor | None = None,
        where: Tensor | None = None,
        *,
        reduction: str | None = None,
    ) -> Tensor:
        r"""Weighted, masked squared error ``w(sigma, sigma_min) * (pred - target)**2``, reduced.

        Parameters
        ----------
        pred, target : Tensor
            Network output and target of the same shape ``(B, ...)``; ``pred`` may be bf16 / fp16.
        sigma, sigma_min : Tensor or float
            The levels the target was built for. Or one :class:`~ambientloss.Levels` in place of both
            (:meth:`levels`); ``where`` may then follow it positionally: ``loss_fn(pred, target, levels, mask)``.
        where : bool Tensor, optional
            Valid entries aligned with the leading axes of ``pred``, e.g. LeRobot's
            ``~batch["action_is_pad"]`` of shape ``(B, T)``; masked entries contribute nothing and
            the means divide by the number of valid entries.
        reduction : str, optional
            Overrides the module's reduction for this call.

        Returns
        -------
        Tensor
            A scalar, ``(B,)`` or per-element loss in float32 (float64 for float64 inputs).
        """
        if isinstance(sigma, Levels):
            where, sigma_min = after_levels(sigma_min, where, "where"), None
        return squared_error(
            pred,
            target,
            weight=self.weight(sigma, sigma_min),
            where=where,
            reduction=self.reduction if reduction is None else reduction,
            batch_ndim=self.batch_ndim,
            xp=xp,
        )

    def extra_repr(self) -> str:
        return (
            f"prediction={self.prediction!r}, schedule={self.schedule!r}, weighting={self.weighting!r}, "
            f"reduction={self.reduction!r}"
        )


def _uniforms(
    sigma_min: Level, sigma_max: Level | None, generator: torch.Generator | None, dtype: torch.dtype | None
) -> Tensor:
    """Uniforms in ``[0, 1)`` shaped like the annotations, on their device, float32 unless they are float64."""
    given = [v for v in (sigma_min, sigma_max) if isinstance(v, Tensor)]
    shape = torch.broadcast_shapes(*(v.shape for v in given)) if given else torch.Size()
    if dtype is None:
        dtype = torch.float64 if any(v.dtype == torch.float64 for v in given) else torch.float32
    device = given[0].device if given else None
    return torch.rand(shape, generator=generator, dtype=dtype, device=device)


def sample_truncated(
    sigma_min: Level,
    sigma_max: Level | None = None,
    /,
    *,
    base: Any,
    buffer: Buffer | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """:func:`ambientloss.sampling.sample_truncated` with uniforms from ``torch.rand(generator=generator)``.

    The levels have the annotations' shape and device, in float32 (float64 for float64 annotations
    or ``dtype=torch.float64``). Under ``torch.compile`` leave ``generator=None``.

    Examples
    --------
    >>> import torch
    >>> from ambientloss.adapters.torch import sample_truncated
    >>> from ambientloss.sampling import UniformVP
    >>> sigma_min = torch.tensor([0.0, 0.3, 0.9])
    >>> sigma = sample_truncated(sigma_min, base=UniformVP(), generator=torch.Generator().manual_seed(0))
    >>> bool((sigma > sigma_min).all()), sigma.dtype
    (True, torch.float32)
    """
    u = _uniforms(sigma_min, sigma_max, generator, dtype)
    return sampling.sample_truncated(u, sigma_min, sigma_max, base=base, buffer=buffer, xp=xp)


def truncated_timesteps(
    sigma_min: Level,
    sigma_max: Level | None = None,
    /,
    *,
    base: Any,
    buffer: Buffer | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """:func:`ambientloss.sampling.truncated_timesteps` (int64) with uniforms from ``torch.rand``."""
    u = _uniforms(sigma_min, sigma_max, generator, None)
    return sampling.truncated_timesteps(u, sigma_min, sigma_max, base=base, buffer=buffer, xp=xp)
