r"""LeRobot adapter: ambient training for LeRobot's own Diffusion Policy (tested with ``lerobot`` 0.4.4).

LeRobot's ``DiffusionModel.compute_loss(batch)`` draws ``eps ~ N(0, I)`` and a timestep
``t ~ U{0, ..., N-1}`` per sample, noises the normalised action chunk with the policy's diffusers
scheduler (``squaredcos_cap_v2``, ``N = 100`` by default), and returns the mean squared error against
``eps`` (``prediction_type="epsilon"``) or the actions (``"sample"``), padded steps zeroed when
``do_mask_loss_for_padding``. :func:`ambient_compute_loss` is that method for a batch mixing clean and
low-quality samples. Each sample carries its trusted level ``sigma_min`` (VP units of the policy's
own table, ``s_t = sqrt(1 - alphas_cumprod[t])``; 0 for a clean sample), optionally ``sigma_max``, and
for a corrupt sample its frozen trusted chunk ``x_tmin = a_m x0 + s_m eps_m``. Then

.. math::
    t \sim U\{t : s_t > \mathrm{threshold}(\sigma_{min})\}, \qquad
    x_t = \frac{a_t}{a_m} x_{t_{min}} + \frac{\sqrt D}{a_m} z, \qquad
    T_\epsilon = \frac{a_m s_t}{\sqrt D} z, \qquad
    T_{x0} = \frac{x_{t_{min}}}{a_m} - \frac{a_t s_m^2}{a_m \sqrt D} z,

with ``D = s_t^2 - s_m^2`` (VP), and the loss is

.. math::
    \mathcal L = \frac{1}{N_{el}} \sum_{b, h, d\ \text{valid}} w(s_t, \sigma_{min})\,
                 \big(\epsilon_\theta(x_t, t, c)_{bhd} - T_{bhd}\big)^2 ,

``N_el = B H A`` (LeRobot 0.4.4's ``.mean()`` over every entry, padded ones zeroed) or the number of
valid entries (``mask_mean="valid"``, LeRobot's later normalisation). ``E[T | x_t]`` is the clean
target, so the minimiser is the clean denoiser. Clean rows (``sigma_min = 0``) run LeRobot's own
code path bit for bit: ``noise_scheduler.add_noise``, target ``eps`` or the actions, weight 1.

Three pieces, none of which imports ``lerobot`` (models are duck-typed):

* :func:`ambient_compute_loss` (a drop-in ``compute_loss`` with ``noise=`` / ``timesteps=`` for tests);
* :func:`make_ambient` patches ``policy.diffusion.compute_loss``, so ``policy.forward(batch)`` and
  LeRobot's ``update_policy`` train ambiently (``del policy.diffusion.compute_loss`` undoes it);
* :class:`Annotations` adds ``"ambient.sigma_min"`` (and ``"ambient.sigma_max"``, frozen
  ``"ambient.x_tmin"``) to each batch from per-episode or per-frame tables, looked up by the
  batch's ``episode_index`` or ``index``. Call it **after** the LeRobot preprocessor: the
  preprocessor drops unknown keys, and ``x_tmin`` must be built from the normalised actions.

Examples
--------
>>> import torch
>>> from ambientloss.adapters.lerobot import Annotations
>>> annotate = Annotations({0: 0.0, 1: 0.0, 2: 0.5}, by="episode", seed=0)   # episode 2 is low quality
>>> batch = {"action": torch.zeros(3, 16, 2), "episode_index": torch.tensor([0, 2, 1]),
...          "index": torch.tensor([4, 90, 51])}
>>> batch = annotate(batch)                      # after `batch = preprocessor(batch)`
>>> batch["ambient.sigma_min"].tolist()
[0.0, 0.5, 0.0]
>>> bool((batch["ambient.x_tmin"][0] == 0).all()), bool((batch["ambient.x_tmin"][1] != 0).any())
(True, True)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core.admissibility import trusted_level, usable
from ..core.arrays import values_readable
from ..core.buffer import Buffer
from ..core.discrete import Discrete
from ..core.frozen import frozen_x_tmin
from ..core.losses import squared_error
from ..core.targets import ambient_pair
from ..core.weights import Weighting, as_weighting, loss_weight
from ..sampling import DiscreteTimesteps
from .torch import truncated_timesteps, xp

__all__ = [
    "MASK_MEANS",
    "OBJECTIVES",
    "REDUCTIONS",
    "SIGMA_MAX_KEY",
    "SIGMA_MIN_KEY",
    "X_TMIN_KEY",
    "Annotations",
    "ambient_compute_loss",
    "make_ambient",
    "schedule_of",
]

#: batch key of the per-sample trusted level (VP units of the policy's table; 0 marks a clean sample)
SIGMA_MIN_KEY = "ambient.sigma_min"
#: batch key of the optional per-sample ``sigma_max`` (Ambient-Omni's low-noise window; 0 means none)
SIGMA_MAX_KEY = "ambient.sigma_max"
#: batch key of the frozen trusted chunk ``x_tmin`` (normalised actions noised to ``sigma_min``)
X_TMIN_KEY = "ambient.x_tmin"

#: accepted values of ``objective``
OBJECTIVES = ("ambient", "denoising")
#: accepted values of ``mask_mean``
MASK_MEANS = ("all", "valid")
#: accepted values of ``reduction``
REDUCTIONS = ("mean", "per_sample")

# LeRobot's batch keys (lerobot.utils.constants)
_ACTION, _IS_PAD = "action", "action_is_pad"
_OBS_STATE, _OBS_ENV, _OBS_IMAGES = "observation.state", "observation.environment_state", "observation.images"


def _choice(name: str, value: object, valid: tuple[str, ...]) -> None:
    if value not in valid:
        msg = f"unknown {name} {value!r}; valid values are {', '.join(map(repr, valid))}"
        raise ValueError(msg)


def _diffusion_model(model: Any) -> Any:
    """The ``DiffusionModel`` of a LeRobot ``DiffusionPolicy`` (or the model itself), duck-typed."""
    inner = getattr(model, "diffusion", model)
    for attr in ("unet", "noise_scheduler", "config", "_prepare_global_conditioning"):
        if not hasattr(inner, attr):
            msg = (
                f"model must be a LeRobot DiffusionPolicy or DiffusionModel, got {type(model).__name__} "
                f"(it has no {attr!r})"
            )
            raise TypeError(msg)
    return inner


def schedule_of(model: Any) -> Discrete:
    """The policy's noise table as an :class:`ambientloss.Discrete` schedule (levels ``sqrt(1 - alphas_cumprod)``).

    ``model`` is a LeRobot ``DiffusionPolicy`` or its ``DiffusionModel``. Annotations made as
    timesteps ``t_min`` convert with ``schedule_of(policy).sigma_for_timestep(t_min)``.
    """
    return Discrete.from_scheduler(_diffusion_model(model).noise_scheduler)


def _stack_images(policy: Any, batch: Mapping[str, Any]) -> dict[str, Any]:
    """What ``DiffusionPolicy.forward`` does before ``compute_loss``: stack the cameras into one key."""
    config = policy.config
    batch = dict(batch)
    if getattr(config, "image_features", None) and _OBS_IMAGES not in batch:
        for key in config.image_features:
            if config.n_obs_steps == 1 and batch[key].ndim == 4:
                batch[key] = batch[key].unsqueeze(1)
        batch[_OBS_IMAGES] = torch.stack([batch[key] for key in config.image_features], dim=-4)
    return batch


def _tensor(batch: Mapping[str, Any], key: str) -> Tensor:
    if key not in batch:
        msg = f"batch has no {key!r} (keys: {sorted(batch)})"
        raise KeyError(msg)
    value = batch[key]
    if not isinstance(value, Tensor):
        msg = f"batch[{key!r}] must be a torch.Tensor, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def _check_batch(config: Any, batch: Mapping[str, Any]) -> Tensor:
    """LeRobot's own input checks, as errors naming the key and the value; returns the actions."""
    action = _tensor(batch, _ACTION)
    state = _tensor(batch, _OBS_STATE)
    if _OBS_IMAGES not in batch and _OBS_ENV not in batch:
        msg = f"batch needs {_OBS_IMAGES!r} or {_OBS_ENV!r} for the global conditioning (keys: {sorted(batch)})"
        raise KeyError(msg)
    if action.ndim != 3 or not action.dtype.is_floating_point:
        got = f"{action.dtype} {tuple(action.shape)}"
        msg = f"batch[{_ACTION!r}] must be a float tensor (B, horizon, action_dim), got {got}"
        raise ValueError(msg)
    if action.shape[1] != config.horizon:
        msg = f"batch[{_ACTION!r}] has horizon {action.shape[1]} but the policy's config.horizon is {config.horizon}"
        raise ValueError(msg)
    if state.ndim < 2 or state.shape[:2] != (action.shape[0], config.n_obs_steps):
        msg = (
            f"batch[{_OBS_STATE!r}] must have shape (B, n_obs_steps, ...) = "
            f"({action.shape[0]}, {config.n_obs_steps}, ...), got {tuple(state.shape)}"
        )
        raise ValueError(msg)
    if config.do_mask_loss_for_padding:
        pad = _tensor(batch, _IS_PAD)
        if pad.dtype != torch.bool or tuple(pad.shape) != tuple(action.shape[:2]):
            got = f"{pad.dtype} {tuple(pad.shape)}"
            msg = f"batch[{_IS_PAD!r}] must be a bool tensor of shape {tuple(action.shape[:2])}, got {got}"
            raise ValueError(msg)
    return action


def _levels(batch: Mapping[str, Any], key: str, n: int, device: torch.device, dtype: torch.dtype) -> Tensor | None:
    """A per-sample level column of the batch: shape ``(B,)``, finite, in ``[0, 1]``; ``None`` if absent."""
    if key not in batch:
        return None
    value = batch[key]
    if not isinstance(value, Tensor) or not value.dtype.is_floating_point:
        kind = value.dtype if isinstance(value, Tensor) else type(value).__name__
        msg = f"batch[{key!r}] must be a float tensor of shape ({n},), got {kind}"
        raise TypeError(msg)
    if tuple(value.shape) != (n,):
        msg = f"batch[{key!r}] must have shape ({n},) (one level per sample), got {tuple(value.shape)}"
        raise ValueError(msg)
    bad = ~((value >= 0) & (value <= 1))  # NaN too
    if values_readable(bad) and bool(bad.any()):
        k = int(bad.nonzero()[0, 0])
        msg = f"batch[{key!r}][{k}] = {value[k].item()!r} is not a VP level in [0, 1]"
        raise ValueError(msg)
    return value.to(device=device, dtype=dtype)


def _given_timesteps(timesteps: object, n: int, num: int, device: torch.device) -> Tensor:
    if not isinstance(timesteps, Tensor) or timesteps.dtype.is_floating_point or timesteps.dtype == torch.bool:
        kind = timesteps.dtype if isinstance(timesteps, Tensor) else type(timesteps).__name__
        msg = f"timesteps must be an integer tensor of shape ({n},), got {kind}"
        raise TypeError(msg)
    if tuple(timesteps.shape) != (n,):
        msg = f"timesteps must have shape ({n},), got {tuple(timesteps.shape)}"
        raise ValueError(msg)
    outside = (timesteps < 0) | (timesteps >= num)
    if values_readable(outside) and bool(outside.any()):
        k = int(outside.nonzero()[0, 0])
        msg = f"timesteps[{k}] = {int(timesteps[k])} is outside [0, {num - 1}]"
        raise ValueError(msg)
    return timesteps.to(device=device, dtype=torch.int64)


def ambient_compute_loss(
    model: Any,
    batch: Mapping[str, Any],
    *,
    objective: str = "ambient",
    weighting: Weighting | str = "inverse_variance",
    buffer: Buffer | None = None,
    mask_mean: str = "all",
    reduction: str = "mean",
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
    timesteps: Tensor | None = None,
) -> Tensor:
    r"""LeRobot's ``DiffusionModel.compute_loss(batch)`` for a batch mixing clean and low-quality samples.

    Per sample ``b``, with ``m_b = batch["ambient.sigma_min"][b]`` and the policy's table ``s_t``:

    1. ``z = randn(action.shape)`` and ``t = randint(0, N, (B,))``, LeRobot's draws in LeRobot's order;
       a row with ``m_b > 0`` then takes ``t_b`` uniform over its timesteps with
       ``s_t > threshold(m_b)`` (or ``s_t < sigma_max``) instead, by
       :func:`ambientloss.adapters.torch.truncated_timesteps` (one more uniform per row);
    2. ``(x_t, T) = ambient_pair(x_tmin, s_t, m, z, prediction=config.prediction_type)``
       (:func:`ambientloss.ambient_pair`); rows trusted as clean (``m = 0``, or the low-noise branch
       under ``sigma_max``) take ``x_t = noise_scheduler.add_noise(action, z, t)``, LeRobot's own;
    3. ``loss = squared_error(unet(x_t, t, global_cond), T, weight=w(s_t, m), where=~action_is_pad)``
       (:func:`ambientloss.squared_error`, :func:`ambientloss.loss_weight`), reduced as LeRobot does.

    Parameters
    ----------
    model : DiffusionPolicy or DiffusionModel
        A LeRobot diffusion policy (its cameras are then stacked as ``DiffusionPolicy.forward`` does)
        or its ``diffusion`` model (the batch as ``compute_loss`` receives it).
    batch : dict of Tensor
        The batch after LeRobot's preprocessor (normalised), with ``"observation.state"``
        ``(B, n_obs_steps, state_dim)``, ``"observation.environment_state"`` and/or the images,
        ``"action"`` ``(B, horizon, action_dim)``, ``"action_is_pad"`` ``(B, horizon)`` (when
        ``config.do_mask_loss_for_padding``), and the annotations of :class:`Annotations`:
        ``"ambient.sigma_min"`` ``(B,)`` (required; 0 for clean rows), ``"ambient.sigma_max"``
        ``(B,)`` (optional) and ``"ambient.x_tmin"`` ``(B, horizon, action_dim)`` (needed by the
        ambient objective when a row is corrupt; ignored on clean rows).
    objective : {"ambient", "denoising"}
        ``"ambient"``: the ambient target from ``x_tmin``, unbiased for the clean denoiser.
        ``"denoising"``: the raw (low-quality) actions with the standard target, at the same
        truncated timesteps (the "use bad data only at high noise" baseline; biased).
    weighting : Weighting or str
        :class:`ambientloss.Weighting` of the ambient rows (default ``"inverse_variance"``,
        ``1 - m^2 / s_t^2``); clean rows get weight 1 unless a base weight is set.
    buffer : Buffer, optional
        Margin above ``sigma_min`` (:class:`ambientloss.Buffer`) for the drawn timesteps.
    mask_mean : {"all", "valid"}
        Denominator of the mean. ``"all"``: every entry, padded ones zeroed, as LeRobot 0.4.4's
        ``compute_loss`` (``(loss * mask).mean()``). ``"valid"``: the valid entries only
        (``sum(loss * mask) / (mask.sum() * action_dim)``, LeRobot's later fix).
    reduction : {"mean", "per_sample"}
        A scalar (LeRobot's), or ``(B,)`` losses each over its own row (for per-sample weights).
    generator : torch.Generator, optional
        Draws the noise and the timesteps (the global generator when ``None``, as LeRobot does, so
        under the same seed the clean rows get LeRobot's own ``eps`` and ``t``).
    noise : Tensor, optional
        Fresh noise ``z`` shaped like the actions (drawn when ``None``).
    timesteps : Tensor, optional
        Integer timesteps ``(B,)`` (drawn when ``None``); each must be admissible for its row.

    Returns
    -------
    Tensor
        The loss, a float32 scalar (``(B,)`` for ``reduction="per_sample"``).

    Raises
    ------
    TypeError, KeyError, ValueError
        Naming the argument or batch key and the value: a model that is not a LeRobot diffusion
        model, a missing key, a wrong shape, a level outside ``[0, 1]``, a timestep not above its
        row's threshold, a corrupt row without ``"ambient.x_tmin"`` under the ambient objective.

    Notes
    -----
    With every ``sigma_min = 0`` (``mask_mean="all"``, the default weighting) the result equals
    ``model.compute_loss(batch)`` bit for bit, both from the same global seed and given LeRobot's
    ``noise`` and ``timesteps``.
    """
    _choice("objective", objective, OBJECTIVES)
    _choice("mask_mean", mask_mean, MASK_MEANS)
    _choice("reduction", reduction, REDUCTIONS)
    weighting = as_weighting(weighting)
    diffusion = _diffusion_model(model)
    if diffusion is not model:
        batch = _stack_images(model, batch)
    config = diffusion.config
    action = _check_batch(config, batch)
    n, device = action.shape[0], action.device
    level_dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    schedule = schedule_of(diffusion)
    num = schedule.num_train_timesteps

    sigma_min = _levels(batch, SIGMA_MIN_KEY, n, device, level_dtype)
    if sigma_min is None:
        msg = (
            f"batch has no {SIGMA_MIN_KEY!r}; add it with ambientloss.adapters.lerobot.Annotations after the "
            "preprocessor (0 marks a clean sample)"
        )
        raise KeyError(msg)
    sigma_max = _levels(batch, SIGMA_MAX_KEY, n, device, level_dtype)
    if noise is None:  # LeRobot's draws first, in its order: clean rows get exactly what LeRobot would draw
        noise = torch.randn(action.shape, generator=generator, device=device, dtype=action.dtype)
    elif not isinstance(noise, Tensor) or tuple(noise.shape) != tuple(action.shape):
        kind = tuple(noise.shape) if isinstance(noise, Tensor) else type(noise).__name__
        msg = f"noise must be a tensor shaped like batch['action'] {tuple(action.shape)}, got {kind}"
        raise ValueError(msg)
    if timesteps is None:
        timesteps = torch.randint(0, num, (n,), generator=generator, device=device)
        whole = sigma_min == 0  # every timestep admissible
        if not bool(whole.all()):
            base = DiscreteTimesteps(schedule)
            drawn = truncated_timesteps(sigma_min, sigma_max, base=base, buffer=buffer, generator=generator)
            timesteps = torch.where(whole, timesteps, drawn)
    else:
        timesteps = _given_timesteps(timesteps, n, num, device)
    sigma = schedule.sigma_for_timestep(timesteps, dtype=level_dtype, xp=xp)
    ok = usable(sigma, sigma_min, sigma_max, buffer=buffer, schedule=schedule)
    if not bool(ok.all()):
        k = int((~ok).nonzero()[0, 0])
        msg = (
            f"timesteps[{k}] = {int(timesteps[k])} (level {sigma[k].item():.6g}) is not usable for "
            f"{SIGMA_MIN_KEY}[{k}] = {sigma_min[k].item():.6g}: it must lie above the sample's threshold"
        )
        raise ValueError(msg)
    if objective == "denoising":
        level = torch.zeros_like(sigma_min)
    else:
        level = trusted_level(sigma, sigma_min, sigma_max, buffer=buffer, schedule=schedule)
    clean = level == 0
    rows = clean[:, None, None]
    x_tmin = action
    if not bool(clean.all()):
        if X_TMIN_KEY not in batch:
            k = int((~clean).nonzero()[0, 0])
            msg = (
                f"batch has no {X_TMIN_KEY!r} but row {k} is corrupt ({SIGMA_MIN_KEY}[{k}] = "
                f"{sigma_min[k].item():.6g}); build it with Annotations(..., seed=...) or use objective='denoising'"
            )
            raise KeyError(msg)
        given = _tensor(batch, X_TMIN_KEY)
        if tuple(given.shape) != tuple(action.shape):
            want = tuple(action.shape)
            msg = f"batch[{X_TMIN_KEY!r}] must have the shape of batch['action'] {want}, got {tuple(given.shape)}"
            raise ValueError(msg)
        x_tmin = torch.where(rows, action, given.to(action.dtype))

    prediction = config.prediction_type
    x_t, target = ambient_pair(x_tmin, sigma, level, noise, prediction=prediction, schedule=schedule, xp=xp)
    x_t = torch.where(rows, diffusion.noise_scheduler.add_noise(action, noise, timesteps), x_t)  # LeRobot's own

    global_cond = diffusion._prepare_global_conditioning(batch)
    pred = diffusion.unet(x_t, timesteps, global_cond=global_cond)
    weight = loss_weight(sigma, level, weighting=weighting, prediction=prediction, schedule=schedule, xp=xp)
    where = ~batch[_IS_PAD] if config.do_mask_loss_for_padding else None
    if mask_mean == "valid":
        return squared_error(pred, target, weight=weight, where=where, reduction=reduction, xp=xp)
    loss = squared_error(pred, target, weight=weight, where=where, reduction="none", xp=xp)
    return loss.mean() if reduction == "mean" else loss.mean(dim=tuple(range(1, loss.ndim)))


def make_ambient(
    policy: Any,
    *,
    objective: str = "ambient",
    weighting: Weighting | str = "inverse_variance",
    buffer: Buffer | None = None,
    mask_mean: str = "all",
    generator: torch.Generator | None = None,
) -> Any:
    """Make a LeRobot ``DiffusionPolicy`` train with :func:`ambient_compute_loss`; returns the policy.

    Sets ``policy.diffusion.compute_loss`` on the instance, so ``policy.forward(batch)`` (and LeRobot's
    ``update_policy``) returns the ambient loss, which then needs the :class:`Annotations` keys in
    every batch. Inference (``select_action``), the weights, ``save_pretrained`` and the optimiser are
    unchanged. The options are those of :func:`ambient_compute_loss`, checked here;
    ``del policy.diffusion.compute_loss`` restores LeRobot's loss.

    Examples
    --------
    >>> from ambientloss.adapters.lerobot import make_ambient
    >>> make_ambient(object())
    Traceback (most recent call last):
        ...
    TypeError: model must be a LeRobot DiffusionPolicy or DiffusionModel, got object (it has no 'unet')
    """
    diffusion = _diffusion_model(policy)
    _choice("objective", objective, OBJECTIVES)
    _choice("mask_mean", mask_mean, MASK_MEANS)
    weighting = as_weighting(weighting)
    if buffer is not None and not isinstance(buffer, Buffer):
        msg = f"buffer must be an ambientloss.Buffer or None, got {type(buffer).__name__}"
        raise TypeError(msg)
    diffusion.compute_loss = functools.partial(
        ambient_compute_loss,
        diffusion,
        objective=objective,
        weighting=weighting,
        buffer=buffer,
        mask_mean=mask_mean,
        generator=generator,
    )
    return policy


def _table(values: Any, name: str, upper: float) -> Tensor:
    """A dense float64 lookup table from a sequence / array / tensor, or a ``{id: level}`` mapping (NaN = absent)."""
    if isinstance(values, Mapping):
        ids = list(values)
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0:
                msg = f"{name} keys must be non-negative integer ids, got {i!r}"
                raise TypeError(msg)
        table = torch.full((max(ids, default=-1) + 1,), math.nan, dtype=torch.float64)
        for i in ids:
            table[int(i)] = float(values[i])
        given = table[[int(i) for i in ids]]
    else:
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray, Tensor)):
            msg = f"{name} must be a sequence, array, tensor or mapping of levels, got {type(values).__name__}"
            raise TypeError(msg)
        table = torch.as_tensor(np.asarray(values.detach().cpu() if isinstance(values, Tensor) else values, float))
        if table.ndim != 1:
            msg = f"{name} must be 1-D (one level per episode or frame), got shape {tuple(table.shape)}"
            raise ValueError(msg)
        given = table
    bad = ~((given >= 0) & (given <= upper))
    if bool(bad.any()):
        k = int(bad.nonzero()[0, 0])
        where = ids[k] if isinstance(values, Mapping) else k
        msg = f"{name}[{where}] = {given[k].item()!r} is not a VP level in [0, {upper:g}]"
        raise ValueError(msg)
    return table


class Annotations:
    r"""Per-episode or per-frame ambient annotations, added to each LeRobot batch by lookup.

    ``annotations(batch)`` returns a copy of the batch with ``"ambient.sigma_min"`` (and
    ``"ambient.sigma_max"``) of shape ``(B,)``, looked up by ``batch["episode_index"]``
    (``by="episode"``) or ``batch["index"]`` (``by="frame"``, the dataset's global frame index), and,
    when ``seed`` is given, the frozen trusted chunk

    .. math:: x_{t_{min}} = \sqrt{1 - \sigma_{min}^2}\, x_0 + \sigma_{min}\, \epsilon(\mathrm{seed}, \mathrm{index})

    (:func:`ambientloss.frozen_x_tmin` of the normalised actions, keyed by the frame index: the same
    noise for a frame in every epoch, worker and restart; ``x0`` itself on clean rows). Call it after
    LeRobot's preprocessor, which drops unknown keys and normalises the actions.

    Parameters
    ----------
    sigma_min : sequence, array, tensor or mapping
        One VP level in ``[0, 1)`` of the policy's table per episode (or frame), indexed by the global
        ``episode_index`` (or ``index``); or a ``{id: level}`` mapping, where a missing id raises on
        lookup. 0 marks a clean episode. Timesteps convert with ``schedule_of(policy).sigma_for_timestep``.
    sigma_max : same, optional
        Ambient-Omni's low-noise window per episode (or frame); 0 means none.
    by : {"episode", "frame"}
        The batch column to look up.
    seed : int, optional
        Experiment seed of the frozen noise; ``None`` adds no ``x_tmin`` (then only the
        ``"denoising"`` objective accepts corrupt rows).
    """

    def __init__(
        self,
        sigma_min: Any,
        sigma_max: Any | None = None,
        *,
        by: str = "episode",
        seed: int | None = None,
    ) -> None:
        _choice("by", by, ("episode", "frame"))
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            msg = f"seed must be a non-negative integer or None, got {seed!r}"
            raise ValueError(msg)
        self.by, self.seed = by, seed
        self.key = "episode_index" if by == "episode" else "index"
        self.sigma_min = _table(sigma_min, "sigma_min", math.nextafter(1.0, 0.0))
        self.sigma_max = None if sigma_max is None else _table(sigma_max, "sigma_max", 1.0)

    def __repr__(self) -> str:
        return f"Annotations({self.sigma_min.numel()} {self.by}s, seed={self.seed!r})"

    def _lookup(self, table: Tensor, ids: Tensor, name: str) -> Tensor:
        ids_cpu = ids.detach().cpu().long()
        outside = (ids_cpu < 0) | (ids_cpu >= table.numel())
        missing = outside.clone()
        missing[~outside] = torch.isnan(table[ids_cpu[~outside]])
        if bool(missing.any()):
            k = int(missing.nonzero()[0, 0])
            msg = f"{name} has no entry for {self.key} {int(ids_cpu[k])} (batch row {k}; {table.numel()} entries)"
            raise KeyError(msg)
        return table[ids_cpu]

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """The batch with the annotation keys added (a shallow copy; the input is not modified)."""
        ids = _tensor(batch, self.key)
        if ids.ndim != 1 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
            msg = f"batch[{self.key!r}] must be a 1-D integer tensor, got {ids.dtype} {tuple(ids.shape)}"
            raise ValueError(msg)
        action = batch.get(_ACTION)
        device = action.device if isinstance(action, Tensor) else ids.device
        out = dict(batch)
        sigma_min = self._lookup(self.sigma_min, ids, "sigma_min").to(device)
        out[SIGMA_MIN_KEY] = sigma_min
        if self.sigma_max is not None:
            out[SIGMA_MAX_KEY] = self._lookup(self.sigma_max, ids, "sigma_max").to(device)
        if self.seed is not None:
            action = _tensor(batch, _ACTION)
            index = _tensor(batch, "index")
            out[X_TMIN_KEY] = frozen_x_tmin(action, index, sigma_min, seed=self.seed)
        return out
