"""The batch keys and options of the LeRobot adapter, and the checks of its inputs (errors name key and value)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

import torch
from torch import Tensor

from ... import Weighting, checks_enabled
from ._internals import OBS_IMAGES

__all__ = [
    "ACTION",
    "BATCH_REDUCTIONS",
    "IS_PAD",
    "MASK_MEANS",
    "OBJECTIVES",
    "OBS_ENV",
    "OBS_IMAGES",
    "OBS_STATE",
    "SIGMA_MAX_KEY",
    "SIGMA_MIN_KEY",
    "X_TMIN_KEY",
    "BatchReduction",
    "MaskMean",
    "Objective",
    "check_batch",
    "checks_on",
    "choice",
    "given_timesteps",
    "level_column",
    "outside_vp",
    "tensor",
    "weighting_of",
]

#: batch key of the per-sample trusted level (VP units of the policy's table; 0 marks a clean sample)
SIGMA_MIN_KEY = "ambient.sigma_min"
#: batch key of the optional per-sample ``sigma_max`` (Ambient-Omni's low-noise window; 0 means none)
SIGMA_MAX_KEY = "ambient.sigma_max"
#: batch key of the frozen trusted chunk ``x_tmin`` (normalised actions noised to ``sigma_min``)
X_TMIN_KEY = "ambient.x_tmin"

Objective = Literal["ambient", "denoising"]
MaskMean = Literal["all", "valid"]
BatchReduction = Literal["mean", "per_sample"]

#: accepted values of ``objective``
OBJECTIVES: tuple[Objective, ...] = get_args(Objective)
#: accepted values of ``mask_mean``
MASK_MEANS: tuple[MaskMean, ...] = get_args(MaskMean)
#: accepted values of ``reduction`` (a scalar, or one loss per sample)
BATCH_REDUCTIONS: tuple[BatchReduction, ...] = get_args(BatchReduction)

# LeRobot's batch keys (lerobot.utils.constants; the tests compare them)
ACTION, IS_PAD = "action", "action_is_pad"
OBS_STATE, OBS_ENV = "observation.state", "observation.environment_state"


def choice(name: str, value: object, valid: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is one of ``valid``."""
    if value not in valid:
        msg = f"unknown {name} {value!r}; valid values are {', '.join(map(repr, valid))}"
        raise ValueError(msg)


def weighting_of(weighting: Weighting | str) -> Weighting:
    """``weighting`` as an :class:`ambientloss.Weighting` (a policy name is ``Weighting(policy=name)``)."""
    if isinstance(weighting, Weighting):
        return weighting
    if not isinstance(weighting, str):
        msg = f"weighting must be an ambientloss.Weighting or a policy name, got {type(weighting).__name__}"
        raise TypeError(msg)
    try:
        return Weighting(policy=weighting)  # type: ignore[arg-type]  # checked by Weighting
    except ValueError as exc:
        msg = f"unknown weighting {weighting!r} ({exc})"
        raise ValueError(msg) from None


def checks_on() -> bool:
    """Whether value checks may read tensors on the host: checks are on and nothing is being compiled."""
    return not torch.compiler.is_compiling() and checks_enabled()


def tensor(batch: Mapping[str, Any], key: str) -> Tensor:
    """``batch[key]``, which must be a tensor."""
    if key not in batch:
        msg = f"batch has no {key!r} (keys: {sorted(batch)})"
        raise KeyError(msg)
    value = batch[key]
    if not isinstance(value, Tensor):
        msg = f"batch[{key!r}] must be a torch.Tensor, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def check_batch(config: Any, batch: Mapping[str, Any]) -> Tensor:
    """LeRobot's own input checks of ``compute_loss``, as errors naming the key and the value; returns the actions."""
    action = tensor(batch, ACTION)
    state = tensor(batch, OBS_STATE)
    if OBS_IMAGES not in batch and OBS_ENV not in batch:
        msg = f"batch needs {OBS_IMAGES!r} or {OBS_ENV!r} for the global conditioning (keys: {sorted(batch)})"
        raise KeyError(msg)
    if action.ndim != 3 or not action.dtype.is_floating_point:
        got = f"{action.dtype} {tuple(action.shape)}"
        msg = f"batch[{ACTION!r}] must be a float tensor (B, horizon, action_dim), got {got}"
        raise ValueError(msg)
    if action.shape[1] != config.horizon:
        msg = f"batch[{ACTION!r}] has horizon {action.shape[1]} but the policy's config.horizon is {config.horizon}"
        raise ValueError(msg)
    if state.ndim < 2 or state.shape[:2] != (action.shape[0], config.n_obs_steps):
        msg = (
            f"batch[{OBS_STATE!r}] must have shape (B, n_obs_steps, ...) = "
            f"({action.shape[0]}, {config.n_obs_steps}, ...), got {tuple(state.shape)}"
        )
        raise ValueError(msg)
    if config.do_mask_loss_for_padding:
        pad = tensor(batch, IS_PAD)
        if pad.dtype != torch.bool or tuple(pad.shape) != tuple(action.shape[:2]):
            got = f"{pad.dtype} {tuple(pad.shape)}"
            msg = f"batch[{IS_PAD!r}] must be a bool tensor of shape {tuple(action.shape[:2])}, got {got}"
            raise ValueError(msg)
    return action


def outside_vp(value: Tensor) -> Tensor:
    """True where a level is not a VP level in ``[0, 1]`` (NaN too)."""
    return ~((value >= 0) & (value <= 1))


def level_column(
    batch: Mapping[str, Any], key: str, n: int, device: torch.device, dtype: torch.dtype, *, check: bool = True
) -> Tensor | None:
    """A per-sample level column of the batch: shape ``(B,)``, finite, in ``[0, 1]``; ``None`` if absent.

    ``check=False`` leaves the values unread (the caller reads :func:`outside_vp` with its other checks).
    """
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
    bad = outside_vp(value)
    if check and checks_on() and bool(bad.any()):
        k = int(bad.nonzero()[0, 0])
        msg = f"batch[{key!r}][{k}] = {value[k].item()!r} is not a VP level in [0, 1]"
        raise ValueError(msg)
    return value.to(device=device, dtype=dtype)


def given_timesteps(timesteps: object, n: int, num: int, device: torch.device, *, check: bool = True) -> Tensor:
    """User-given integer timesteps ``(B,)`` inside the policy's table ``[0, num)``.

    ``check=False`` leaves the values unread (the caller reads the range with its other checks).
    """
    if not isinstance(timesteps, Tensor) or timesteps.dtype.is_floating_point or timesteps.dtype == torch.bool:
        kind = timesteps.dtype if isinstance(timesteps, Tensor) else type(timesteps).__name__
        msg = f"timesteps must be an integer tensor of shape ({n},), got {kind}"
        raise TypeError(msg)
    if tuple(timesteps.shape) != (n,):
        msg = f"timesteps must have shape ({n},), got {tuple(timesteps.shape)}"
        raise ValueError(msg)
    outside = (timesteps < 0) | (timesteps >= num) if check and checks_on() else None
    if outside is not None and bool(outside.any()):
        k = int(outside.nonzero()[0, 0])
        msg = f"timesteps[{k}] = {int(timesteps[k])} is outside [0, {num - 1}]"
        raise ValueError(msg)
    return timesteps.to(device=device, dtype=torch.int64)
