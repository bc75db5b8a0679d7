"""What the adapter takes from LeRobot beyond its public API, checked against the installed LeRobot.

``ambientloss/adapters/lerobot/_internals.py`` holds every use of LeRobot's private code (written
against lerobot ``PINNED`` = 0.4.4): ``DiffusionModel._prepare_global_conditioning`` and a copy of the
camera stacking of ``DiffusionPolicy.forward``. Each test here checks that the attribute exists with
the signature used there and that, on a tiny input, it gives what LeRobot's own ``forward`` /
``compute_loss`` feed the U-Net, bit for bit. A LeRobot release that changes any of it fails here
with a message naming the attribute and the pinned version, before a training run silently drifts.
"""

from __future__ import annotations

import inspect

import pytest

lerobot = pytest.importorskip("lerobot")

import lerobot_common as lc  # noqa: E402
import torch  # noqa: E402
from lerobot.policies.diffusion.modeling_diffusion import DiffusionModel, DiffusionPolicy  # noqa: E402
from lerobot.utils import constants  # noqa: E402

from ambientloss.adapters.lerobot import _inputs, _internals  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # one torch thread, the global generator restored

INSTALLED = lerobot.__version__


def _changed(attr: str, what: str) -> str:
    return (
        f"LeRobot {INSTALLED} changed {attr}: {what}. ambientloss/adapters/lerobot/_internals.py is written "
        f"against lerobot {_internals.PINNED}; update it (and PINNED) for this release."
    )


def _parameters(fn) -> tuple[str, ...]:
    return tuple(inspect.signature(fn).parameters)[1:]  # after self


def _recorded_compute_loss_input(policy, batch):
    """The batch ``DiffusionPolicy.forward`` hands to ``diffusion.compute_loss``, and the U-Net's global_cond."""
    seen = {}

    def hook(module, args, kwargs, out):
        seen["global_cond"] = kwargs["global_cond"]

    handle = policy.diffusion.unet.register_forward_hook(hook, with_kwargs=True)
    lerobots = policy.diffusion.compute_loss

    def record(b):
        seen["batch"] = b
        return lerobots(b)

    policy.diffusion.compute_loss = record  # the same instance hook that make_ambient uses
    try:
        torch.manual_seed(0)
        policy.forward(batch)
    finally:
        del policy.diffusion.compute_loss
        handle.remove()
    return seen


def test_the_installed_lerobot_is_the_pinned_one():
    assert INSTALLED == _internals.PINNED, (
        f"lerobot {INSTALLED} is installed, the adapter's private calls are checked against {_internals.PINNED}: "
        "the tests below say whether they still hold; then update PINNED"
    )


def test_the_private_attributes_exist_with_the_signatures_used():
    for attr, parameters in _internals.PRIVATE.items():
        assert hasattr(DiffusionModel, attr), _changed(f"DiffusionModel.{attr}", "it is gone")
        got = _parameters(getattr(DiffusionModel, attr))
        assert got == parameters, _changed(f"DiffusionModel.{attr}", f"its parameters are {got}, not {parameters}")
    # the public pieces the adapter calls, with the arguments it passes
    assert _parameters(DiffusionPolicy.forward) == ("batch",), _changed("DiffusionPolicy.forward", "its parameters")
    assert _parameters(DiffusionModel.compute_loss) == ("batch",), _changed("DiffusionModel.compute_loss", "params")
    unet = lc.policy(lc.config()).diffusion.unet
    assert _parameters(type(unet).forward) == ("x", "timestep", "global_cond"), _changed("the U-Net's forward", "")


def test_the_batch_keys_are_lerobots():
    got = (_inputs.ACTION, _inputs.IS_PAD, _inputs.OBS_STATE, _inputs.OBS_ENV, _internals.OBS_IMAGES)
    want = (constants.ACTION, "action_is_pad", constants.OBS_STATE, constants.OBS_ENV_STATE, constants.OBS_IMAGES)
    assert got == want, _changed("lerobot.utils.constants", f"the batch keys are {want}, the adapter uses {got}")


@pytest.mark.parametrize("image", [False, True], ids=["state_only", "camera"])
def test_global_conditioning_is_what_compute_loss_feeds_the_unet(image):
    policy = lc.policy(lc.config(image=image))
    batch = lc.normalised_batch(3, seed=1, image=image)
    seen = _recorded_compute_loss_input(policy, batch)
    got = _internals.global_conditioning(policy.diffusion, seen["batch"])
    attr = "DiffusionModel._prepare_global_conditioning"
    assert got.shape == seen["global_cond"].shape, _changed(attr, f"shape {tuple(got.shape)}")
    assert torch.equal(got, seen["global_cond"]), _changed(attr, "it no longer gives compute_loss's global_cond")
    if not image:  # state, then environment state, per observation step, flattened
        want = torch.cat([batch["observation.state"], batch["observation.environment_state"]], dim=-1).flatten(1)
        assert torch.equal(got, want), _changed(attr, "the state-only conditioning is not [state, env] flattened")


@pytest.mark.parametrize("n_obs_steps", [1, 2])
def test_stack_images_is_what_forward_hands_to_compute_loss(n_obs_steps):
    policy = lc.policy(lc.config(image=True, n_obs_steps=n_obs_steps))
    g = torch.Generator().manual_seed(2)
    batch = lc.normalised_batch(3, seed=2, image=True)
    batch["observation.state"] = batch["observation.state"][:, :n_obs_steps]
    batch["observation.environment_state"] = batch["observation.environment_state"][:, :n_obs_steps]
    # n_obs_steps = 1: a camera frame without the step axis, (B, C, H, W), as LeRobot accepts it
    shape = (3, 3, 32, 32) if n_obs_steps == 1 else (3, 2, 3, 32, 32)
    batch["observation.image"] = torch.rand(shape, generator=g)
    seen = _recorded_compute_loss_input(policy, batch)["batch"]
    ours = _internals.stack_images(policy, batch)
    attr = "DiffusionPolicy.forward (the camera stacking before compute_loss)"
    assert set(ours) == set(seen), _changed(attr, f"keys {sorted(seen)}, the copy gives {sorted(ours)}")
    for key in seen:
        assert torch.equal(ours[key], seen[key]), _changed(attr, f"batch[{key!r}] differs from the copy")
    assert "observation.images" not in batch  # the caller's batch is left alone


def test_a_model_without_the_private_attribute_is_refused_naming_it_and_the_pin():
    class Stripped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.unet, self.noise_scheduler, self.config = inner.unet, inner.noise_scheduler, inner.config

    stripped = Stripped(lc.policy(lc.config()).diffusion)
    match = rf"no '_prepare_global_conditioning'; the adapter is written against lerobot {_internals.PINNED}"
    with pytest.raises(TypeError, match=match):
        _internals.diffusion_model(stripped)
