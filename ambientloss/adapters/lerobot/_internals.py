"""Every use of LeRobot's private code by the adapter, in one place (written against ``lerobot`` 0.4.4).

The adapter needs two things that LeRobot keeps private, and nothing else of LeRobot that is not a
public attribute (``unet``, ``noise_scheduler``, ``config``):

* ``DiffusionModel._prepare_global_conditioning(batch)``: the conditioning vector ``compute_loss``
  passes to the U-Net (state, camera features and environment state, flattened over the
  observation steps);
* the camera stacking at the top of ``DiffusionPolicy.forward``: each ``config.image_features`` key
  (given an observation-step axis when ``n_obs_steps == 1``) stacked into ``"observation.images"``
  along ``dim=-4``, copied here as :func:`stack_images` because LeRobot has no function for it.

``tests/adapters/lerobot/test_lerobot_internals.py`` checks both against the installed LeRobot on
tiny inputs (the attribute exists with the signature used here, and gives what LeRobot's own
``forward`` / ``compute_loss`` feed the U-Net, bit for bit), and fails with a message naming the
attribute and :data:`PINNED` when a LeRobot release changes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = ["OBS_IMAGES", "PINNED", "PRIVATE", "diffusion_model", "global_conditioning", "stack_images"]

#: the LeRobot release the private calls below are written against
PINNED = "0.4.4"
#: the private attributes of ``DiffusionModel`` this module calls, with their parameters (after ``self``)
PRIVATE = {"_prepare_global_conditioning": ("batch",)}

# lerobot.utils.constants.OBS_IMAGES: the key of the stacked cameras
OBS_IMAGES = "observation.images"

# what a model must have to be taken for a LeRobot DiffusionModel
_ATTRIBUTES = ("unet", "noise_scheduler", "config", *PRIVATE)


def diffusion_model(model: Any) -> Any:
    """The ``DiffusionModel`` of a LeRobot ``DiffusionPolicy`` (or the model itself), duck-typed."""
    inner = getattr(model, "diffusion", model)
    for attr in _ATTRIBUTES:
        if not hasattr(inner, attr):
            msg = (
                f"model must be a LeRobot DiffusionPolicy or DiffusionModel, got {type(model).__name__} "
                f"(it has no {attr!r}; the adapter is written against lerobot {PINNED})"
            )
            raise TypeError(msg)
    return inner


def global_conditioning(diffusion: Any, batch: Mapping[str, Any]) -> Tensor:
    """``diffusion._prepare_global_conditioning(batch)``: the U-Net's ``global_cond``, ``(B, cond_dim)``."""
    cond: Tensor = diffusion._prepare_global_conditioning(batch)
    return cond


def stack_images(policy: Any, batch: Mapping[str, Any]) -> dict[str, Any]:
    """What ``DiffusionPolicy.forward`` does before ``compute_loss``: stack the cameras into one key.

    A shallow copy of ``batch``; without cameras (or with ``"observation.images"`` already there)
    the copy is the batch itself.
    """
    config = policy.config
    batch = dict(batch)
    if getattr(config, "image_features", None) and OBS_IMAGES not in batch:
        for key in config.image_features:
            if config.n_obs_steps == 1 and batch[key].ndim == 4:
                batch[key] = batch[key].unsqueeze(1)
        batch[OBS_IMAGES] = torch.stack([batch[key] for key in config.image_features], dim=-4)
    return batch
