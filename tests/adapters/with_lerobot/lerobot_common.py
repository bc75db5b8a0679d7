"""Tiny LeRobot Diffusion Policies and normalised batches for the adapter's tests (lerobot 0.4.4).

LeRobot pins ``torch < 2.11``, so it cannot share the main test environment: these tests are skipped
there and run in their own venv (``.ci/lerobot.sh``). Nothing is downloaded; the policies are
state-only (``observation.state`` + ``observation.environment_state``), plus one with a small camera.
"""

from __future__ import annotations

import pytest

lerobot = pytest.importorskip("lerobot")

import torch  # noqa: E402
from lerobot.configs.types import FeatureType, PolicyFeature  # noqa: E402
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig  # noqa: E402
from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy  # noqa: E402

STATE, ENV, ACTION_DIM, HORIZON, N_OBS = 4, 6, 2, 16, 2
SMALL = (32, 64)  # 0.5 M parameters: the training tests
DEFAULT = (64, 128, 256)  # 4.4 M parameters: the golden tests


def config(down_dims=SMALL, image=False, **overrides):
    inputs = {
        "observation.state": PolicyFeature(FeatureType.STATE, (STATE,)),
        "observation.environment_state": PolicyFeature(FeatureType.ENV, (ENV,)),
    }
    if image:
        inputs["observation.image"] = PolicyFeature(FeatureType.VISUAL, (3, 32, 32))
    options = {"n_obs_steps": N_OBS, "horizon": HORIZON, "n_action_steps": 8, "device": "cpu", **overrides}
    return DiffusionConfig(
        input_features=inputs,
        output_features={"action": PolicyFeature(FeatureType.ACTION, (ACTION_DIM,))},
        down_dims=down_dims,
        **options,
    )


def policy(cfg, seed=0):
    torch.manual_seed(seed)  # LeRobot initialises from the global generator (restored by `one_torch_thread`)
    return DiffusionPolicy(cfg)


def normalised_batch(n, seed=0, image=False, pad=True):
    """A batch as the preprocessor returns it: normalised observations and actions, copy-padded chunks."""
    g = torch.Generator().manual_seed(seed)
    action = torch.randn(n, HORIZON, ACTION_DIM, generator=g).clamp(-1, 1)
    valid = torch.randint(HORIZON // 2, HORIZON + 1, (n,), generator=g) if pad else torch.full((n,), HORIZON)
    is_pad = torch.arange(HORIZON)[None, :] >= valid[:, None]
    last = action[torch.arange(n), valid - 1]
    batch = {
        "observation.state": torch.randn(n, N_OBS, STATE, generator=g),
        "observation.environment_state": torch.randn(n, N_OBS, ENV, generator=g),
        "action": torch.where(is_pad[..., None], last[:, None, :], action),
        "action_is_pad": is_pad,
        "index": torch.arange(n) * 7 + 3,
        "episode_index": torch.arange(n) % 5,
    }
    if image:
        batch["observation.image"] = torch.rand(n, N_OBS, 3, 32, 32, generator=g)
    return batch


def lerobot_draws(model, batch, seed):
    """LeRobot's own loss and the noise and timesteps it drew (``randn`` then ``randint``, global generator)."""
    torch.manual_seed(seed)
    want, _ = model.forward(batch)
    torch.manual_seed(seed)
    eps = torch.randn(batch["action"].shape)
    t = torch.randint(0, model.config.num_train_timesteps, (len(eps),)).long()
    return want, eps, t


def record_unet(model):
    """Record the U-Net's inputs and output on each call: ``(x_t, t, out)``."""
    calls = []
    handle = model.diffusion.unet.register_forward_hook(
        lambda module, args, kwargs, out: calls.append((args[0].detach(), args[1], out.detach())), with_kwargs=True
    )
    return calls, handle
