"""The ambient ``compute_loss`` of a LeRobot Diffusion Policy, and the policy's noise table as a schedule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import array_api_compat.torch as xp
import torch
from torch import Tensor

from ... import Buffer, Discrete, Levels, Weighting, ambient_pair, checks, loss_weight, squared_error, usable
from ...sampling import DiscreteTimesteps, truncated_timesteps
from ._draws import timestep_table
from ._inputs import (
    BATCH_REDUCTIONS,
    IS_PAD,
    MASK_MEANS,
    OBJECTIVES,
    SIGMA_MAX_KEY,
    SIGMA_MIN_KEY,
    X_TMIN_KEY,
    check_batch,
    checks_on,
    choice,
    given_timesteps,
    level_column,
    outside_vp,
    tensor,
    weighting_of,
)
from ._internals import diffusion_model, global_conditioning, stack_images

__all__ = ["ambient_compute_loss", "schedule_of"]


def schedule_of(model: Any) -> Discrete:
    """The policy's noise table as an :class:`ambientloss.Discrete` schedule (levels ``sqrt(1 - alphas_cumprod)``).

    ``model`` is a LeRobot ``DiffusionPolicy`` or its ``DiffusionModel``. Annotations made as
    timesteps ``t_min`` convert with ``schedule_of(policy).sigma_for_timestep(t_min)``.
    """
    return Discrete.from_scheduler(diffusion_model(model).noise_scheduler)


def ambient_compute_loss(
    model: Any,
    batch: Mapping[str, Any],
    *,
    objective: Literal["ambient", "denoising"] = "ambient",
    weighting: Weighting | str = "inverse_variance",
    buffer: Buffer | None = None,
    mask_mean: Literal["all", "valid"] = "all",
    reduction: Literal["mean", "per_sample"] = "mean",
    generator: torch.Generator | None = None,
    ambient_generator: torch.Generator | None = None,
    noise: Tensor | None = None,
    timesteps: Tensor | None = None,
) -> Tensor:
    r"""LeRobot's ``DiffusionModel.compute_loss(batch)`` for a batch mixing clean and low-quality samples.

    Per sample ``b``, with ``m_b = batch["ambient.sigma_min"][b]`` and the policy's table ``s_t``:

    1. ``z = randn(action.shape)`` and ``t = randint(0, N, (B,))``, LeRobot's draws in LeRobot's order
       (from ``generator``); then ``u = rand(B)`` from ``ambient_generator``, one uniform per row whether
       or not the row uses it, and a row with ``m_b > 0`` takes ``t_b`` uniform over its timesteps with
       ``s_t > threshold(m_b)`` (or ``s_t < sigma_max``) instead, by
       :func:`ambientloss.sampling.truncated_timesteps` at ``u_b``;
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
    ambient_generator : torch.Generator, optional
        Draws the ``B`` uniforms that place the corrupt rows' timesteps, after LeRobot's draws (none when
        ``timesteps`` is given). ``None``: ``generator`` (the global one when that is ``None`` too, whose
        stream then moves ``B`` draws further than under LeRobot's own ``compute_loss``).
        :func:`make_ambient` passes a generator of its own, so the patched policy leaves LeRobot's
        global stream as LeRobot's loss would.
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

    Host reads: with checks on, one per call (the annotations, the timesteps' usability and, without
    ``"ambient.x_tmin"``, the corrupt rows, in one ``tolist``); with :func:`ambientloss.checks` ``(False)``
    or under ``torch.compile``, none. The policy's table is read once per scheduler.
    """
    choice("objective", objective, OBJECTIVES)
    choice("mask_mean", mask_mean, MASK_MEANS)
    choice("reduction", reduction, BATCH_REDUCTIONS)
    weighting = weighting_of(weighting)
    diffusion = diffusion_model(model)
    if diffusion is not model:
        batch = stack_images(model, batch)
    config = diffusion.config
    action = check_batch(config, batch)
    n, device = action.shape[0], action.device
    level_dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    schedule, table = timestep_table(diffusion, device, level_dtype)
    num = schedule.num_train_timesteps

    sigma_min = level_column(batch, SIGMA_MIN_KEY, n, device, level_dtype, check=False)
    if sigma_min is None:
        msg = (
            f"batch has no {SIGMA_MIN_KEY!r}; add it with ambientloss.adapters.lerobot.Annotations after the "
            "preprocessor (0 marks a clean sample)"
        )
        raise KeyError(msg)
    sigma_max = level_column(batch, SIGMA_MAX_KEY, n, device, level_dtype, check=False)
    if noise is None:  # LeRobot's draws first, in its order: clean rows get exactly what LeRobot would draw
        noise = torch.randn(action.shape, generator=generator, device=device, dtype=action.dtype)
    elif not isinstance(noise, Tensor) or tuple(noise.shape) != tuple(action.shape):
        kind = tuple(noise.shape) if isinstance(noise, Tensor) else type(noise).__name__
        msg = f"noise must be a tensor shaped like batch['action'] {tuple(action.shape)}, got {kind}"
        raise ValueError(msg)
    given = timesteps
    if timesteps is None:
        timesteps = torch.randint(0, num, (n,), generator=generator, device=device)
        # one uniform per row, used where a row is corrupt: no count of those rows is read
        rng = generator if ambient_generator is None else ambient_generator
        u = torch.rand((n,), generator=rng, device=device, dtype=level_dtype)
        with checks(False):  # the levels checked below verify the draws: the sampler reads nothing
            base = DiscreteTimesteps(schedule)
            drawn = truncated_timesteps(u, sigma_min, sigma_max, base=base, buffer=buffer, xp=xp)
        # a row without a usable timestep gets N: the last one instead, which its levels then mark unusable
        timesteps = torch.where(sigma_min == 0, timesteps, torch.clamp(drawn, max=num - 1))
    else:
        timesteps = given_timesteps(timesteps, n, num, device, check=False)
    sigma = table[torch.clamp(timesteps, 0, num - 1)]  # schedule.sigma_for_timestep, without its read of t
    prediction = config.prediction_type
    with checks(False):  # the step's one read, below, checks them with the annotations
        levels = Levels(sigma, sigma_min, sigma_max, schedule=schedule, buffer=buffer, prediction=prediction, xp=xp)
    flags = [outside_vp(sigma_min).any(), ~levels.usable.all()]
    if sigma_max is not None:
        flags.append(outside_vp(sigma_max).any())
    if given is not None:
        flags.append(((timesteps < 0) | (timesteps >= num)).any())
    checked = levels
    if objective == "denoising":  # the same (checked) levels, trained at level 0 with the standard target
        with checks(False):
            levels = Levels(sigma, torch.zeros_like(sigma_min), schedule=schedule, prediction=prediction, xp=xp)
    rows = (levels.trusted_level == 0)[:, None, None]
    x_tmin = action
    if X_TMIN_KEY in batch:
        x_given = tensor(batch, X_TMIN_KEY)
        if tuple(x_given.shape) != tuple(action.shape):
            want = tuple(action.shape)
            msg = f"batch[{X_TMIN_KEY!r}] must have the shape of batch['action'] {want}, got {tuple(x_given.shape)}"
            raise ValueError(msg)
        x_tmin = torch.where(rows, action, x_given.to(action.dtype))
    elif objective == "ambient":  # corrupt rows without x_tmin: NaN unchecked, an error checked
        flags.append(~rows.all())
        x_tmin = torch.where(rows, action, torch.full_like(action, torch.nan))
    if checks_on() and any(torch.stack([f.to(device) for f in flags]).tolist()):  # the step's one host read
        _explain(batch, checked, given, timesteps, table, device, level_dtype)

    x_t, target = ambient_pair(x_tmin, levels, noise, prediction=prediction, schedule=schedule, xp=xp)
    x_t = torch.where(rows, diffusion.noise_scheduler.add_noise(action, noise, timesteps), x_t)  # LeRobot's own

    global_cond = global_conditioning(diffusion, batch)
    pred = diffusion.unet(x_t, timesteps, global_cond=global_cond)
    weight = loss_weight(levels, weighting=weighting, prediction=prediction, schedule=schedule, xp=xp)
    where = ~batch[IS_PAD] if config.do_mask_loss_for_padding else None
    if mask_mean == "valid":
        return squared_error(pred, target, weight=weight, where=where, reduction=reduction, xp=xp)
    loss = squared_error(pred, target, weight=weight, where=where, reduction="none", xp=xp)
    return loss.mean() if reduction == "mean" else loss.mean(dim=tuple(range(1, loss.ndim)))


def _explain(
    batch: Mapping[str, Any],
    levels: Levels,
    given: Tensor | None,
    timesteps: Tensor,
    table: Tensor,
    device: torch.device,
    dtype: torch.dtype,
) -> None:
    """Raise for the first problem the step's read found, naming the batch key or argument, the row and the value.

    In a fixed order: an annotation outside ``[0, 1]``, a given timestep outside the table, a timestep not
    usable for its row, a corrupt row without ``x_tmin``.
    """
    n = len(timesteps)
    for key in (SIGMA_MIN_KEY, SIGMA_MAX_KEY):
        level_column(batch, key, n, device, dtype)
    sigma, sigma_min, schedule, kind = levels.sigma, levels.sigma_min, levels.schedule, levels.prediction
    if given is not None:
        given_timesteps(given, n, len(table), device)
    if not bool(levels.usable.all()):
        ok = usable(sigma, sigma_min, levels.sigma_max, buffer=levels.buffer, schedule=schedule)
        if bool(ok.all()):  # not the threshold (a domain check): the checked levels' own error
            Levels(sigma, sigma_min, levels.sigma_max, schedule=schedule, buffer=levels.buffer, prediction=kind)
        k = int((~ok).nonzero()[0, 0])
        msg = (
            f"timesteps[{k}] = {int(timesteps[k])} (level {sigma[k].item():.6g}) is not usable for "
            f"{SIGMA_MIN_KEY}[{k}] = {sigma_min[k].item():.6g}: it must lie above the sample's threshold"
        )
        raise ValueError(msg)
    k = int((levels.trusted_level != 0).nonzero()[0, 0])
    msg = (
        f"batch has no {X_TMIN_KEY!r} but row {k} is corrupt ({SIGMA_MIN_KEY}[{k}] = "
        f"{sigma_min[k].item():.6g}); build it with Annotations(..., seed=...) or use objective='denoising'"
    )
    raise KeyError(msg)
