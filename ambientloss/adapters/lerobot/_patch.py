"""``make_ambient``: a LeRobot ``DiffusionPolicy`` whose ``forward`` returns the ambient loss."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch

from ... import Buffer, Weighting
from ._draws import AmbientDraws, seed_from_global_state
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
    seed: int | None = None,
) -> Any:
    """Make a LeRobot ``DiffusionPolicy`` train with :func:`ambient_compute_loss`; returns the policy.

    Sets ``policy.diffusion.compute_loss`` on the instance, so ``policy.forward(batch)`` (and LeRobot's
    ``update_policy``) returns the ambient loss, which then needs the :class:`Annotations` keys in
    every batch. Inference (``select_action``), the weights and the optimiser are unchanged. The
    options are those of :func:`ambient_compute_loss`, checked here; ``del policy.diffusion.compute_loss``
    restores LeRobot's loss.

    The patch owns the generator of the uniforms that place the corrupt rows' timesteps (its
    ``ambient_generator``, one ``torch.Generator`` per device the batches come on), seeded with ``seed``.
    By default ``seed`` is a hash of torch's global generator state at this call, which draws nothing
    from it: the same after the same ``torch.manual_seed`` (LeRobot's ``set_seed``) and the same work
    before ``make_ambient``. LeRobot's global stream then moves exactly as under its own loss, whatever
    the batch: ``eps`` and ``t`` come from it (or from ``generator``), nothing else does. The patch's
    generator is the attribute ``policy.diffusion.compute_loss.draws``; it is not in LeRobot's
    checkpoints, and a policy patched again starts it from ``seed`` again.

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
    draws = AmbientDraws(seed_from_global_state() if seed is None else seed)
    options = {"objective": objective, "weighting": weighting, "buffer": buffer, "mask_mean": mask_mean}
    diffusion.compute_loss = PatchedLoss(diffusion, draws, generator, options)
    return policy


class PatchedLoss:
    """``compute_loss`` of a patched LeRobot ``DiffusionModel``: :func:`ambient_compute_loss` with its options."""

    def __init__(
        self, model: Any, draws: AmbientDraws, generator: torch.Generator | None, options: dict[str, Any]
    ) -> None:
        self.model, self.draws, self.generator, self.options = model, draws, generator, options

    def __call__(self, batch: Mapping[str, Any], **kwargs: Any) -> torch.Tensor:
        action = batch.get("action") if isinstance(batch, Mapping) else None
        device = action.device if isinstance(action, torch.Tensor) else torch.device("cpu")
        ambient = self.draws.generator(device)
        options = {**self.options, "generator": self.generator, "ambient_generator": ambient, **kwargs}
        return ambient_compute_loss(self.model, batch, **options)

    def __repr__(self) -> str:
        return f"PatchedLoss({', '.join(f'{k}={v!r}' for k, v in self.options.items())}, draws={self.draws!r})"
