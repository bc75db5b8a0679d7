"""``make_ambient``: a LeRobot ``DiffusionPolicy`` whose ``forward`` returns the ambient loss."""

from __future__ import annotations

import functools
from typing import Any, Literal

import torch

from ... import Buffer, Weighting
from ._inputs import MASK_MEANS, OBJECTIVES, choice, weighting_of
from ._internals import diffusion_model
from ._loss import ambient_compute_loss

__all__ = ["make_ambient"]


def make_ambient(
    policy: Any,
    *,
    objective: Literal["ambient", "denoising"] = "ambient",
    weighting: Weighting | str = "inverse_variance",
    buffer: Buffer | None = None,
    mask_mean: Literal["all", "valid"] = "all",
    generator: torch.Generator | None = None,
) -> Any:
    """Make a LeRobot ``DiffusionPolicy`` train with :func:`ambient_compute_loss`; returns the policy.

    Sets ``policy.diffusion.compute_loss`` on the instance, so ``policy.forward(batch)`` (and LeRobot's
    ``update_policy``) returns the ambient loss, which then needs the :class:`Annotations` keys in
    every batch. Inference (``select_action``), the weights and the optimiser are unchanged. The
    options are those of :func:`ambient_compute_loss`, checked here; ``del policy.diffusion.compute_loss``
    restores LeRobot's loss.

    The patch lives on the instance only: ``policy.save_pretrained(path)`` writes LeRobot's own files
    (the config and the weights, nothing of the patch), and ``DiffusionPolicy.from_pretrained(path)``
    returns a policy with LeRobot's loss, ready for inference. To go on training ambiently, reload with
    ``make_ambient(DiffusionPolicy.from_pretrained(path), **options)``, the options of the first call
    (the defaults need none).

    Examples
    --------
    >>> from ambientloss.adapters.lerobot import make_ambient
    >>> make_ambient(object())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    TypeError: model must be a LeRobot DiffusionPolicy or DiffusionModel, got object (it has no 'unet'; ...)
    """
    diffusion = diffusion_model(policy)
    choice("objective", objective, OBJECTIVES)
    choice("mask_mean", mask_mean, MASK_MEANS)
    weighting = weighting_of(weighting)
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
