"""The recipes in ``examples/recipes/`` run against the real package and the real diffusers / optax.

Each recipe is executed at tiny scale (a few optimiser steps). Its ``main`` asserts finite losses and
runs the recipe's own checks: on clean samples (``sigma_min = 0``) the ambient step reproduces the
original code path (diffusers' ``add_noise`` / targets, the re-created LeRobot and diffusion_policy
losses, NVlabs EDM's loss), and the EDM recipe reproduces the released Ambient-o loss on every sample.
"""

from __future__ import annotations

import importlib.util
import math
import runpy
import sys
from pathlib import Path
from types import ModuleType

import pytest

RECIPES = Path(__file__).resolve().parents[2] / "examples" / "recipes"
STEPS = 3


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"ambientloss_recipe_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _finite(losses: list[float]) -> None:
    assert len(losses) == STEPS
    assert all(math.isfinite(v) for v in losses)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("scheduler", ["ddpm", "ddim"])
@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
def test_diffusers_ddpm(prediction, scheduler):
    pytest.importorskip("diffusers")
    _finite(_load("diffusers_ddpm").main(prediction, scheduler, steps=STEPS, batch_size=16))


@pytest.mark.usefixtures("one_torch_thread")
def test_diffusers_flow_matching():
    pytest.importorskip("diffusers")
    _finite(_load("diffusers_flow_matching").main(steps=STEPS, batch_size=16))


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("prediction", ["epsilon", "sample"])
def test_lerobot_diffusion(prediction):
    pytest.importorskip("diffusers")
    _finite(_load("lerobot_diffusion").main(prediction, steps=STEPS, batch_size=16))


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("prediction", ["epsilon", "sample"])
def test_diffusion_policy_inpainting(prediction):
    pytest.importorskip("diffusers")
    _finite(_load("diffusion_policy_inpainting").main(prediction, steps=STEPS, batch_size=16))


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("weighting", ["inverse_variance", "ambient_o", "none"])
def test_edm_ve(weighting):
    _finite(_load("edm_ve").main(weighting, steps=STEPS, batch_size=16))


def test_jax_optax():
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    _finite(_load("jax_optax").main(steps=STEPS, batch_size=16))


def test_lerobot_per_sample_losses_follow_the_padding_mask(one_torch_thread):
    """``reduction="none"`` gives one loss per sample, each the mean over that sample's valid entries."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from diffusers import DDPMScheduler

    from ambientloss.adapters.torch import AmbientLoss
    from ambientloss.sampling import DiscreteTimesteps

    recipe = _load("lerobot_diffusion")
    cfg = recipe.DiffusionConfig()
    loss_fn = AmbientLoss.from_scheduler(DDPMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2"))
    base = DiscreteTimesteps(loss_fn.schedule)
    net = recipe.TinyPolicyNet(cfg)
    batch = recipe.toy_batch(cfg, torch.arange(8), seed=5)
    sigma_min = torch.full((8,), 0.3, dtype=torch.float64)
    timesteps = torch.full((8,), 60)
    eps = torch.randn(batch["action"].shape, generator=torch.Generator().manual_seed(6))
    kwargs = {"eps": eps, "timesteps": timesteps}
    per_sample = recipe.ambient_compute_loss(net, loss_fn, base, cfg, batch, sigma_min, reduction="none", **kwargs)
    assert per_sample.shape == (8,)
    # the batch mean weights every valid entry equally: the per-sample losses weighted by valid counts
    valid = (~batch["action_is_pad"]).sum(1).to(per_sample.dtype)
    mean = recipe.ambient_compute_loss(net, loss_fn, base, cfg, batch, sigma_min, **kwargs)
    torch.testing.assert_close(mean, (per_sample * valid).sum() / valid.sum())


def test_recipes_run_as_scripts(monkeypatch, capsys, one_torch_thread):
    """``python examples/recipes/<name>.py --steps N`` works: the script entry point, not just ``main``."""
    pytest.importorskip("diffusers")
    monkeypatch.setattr(sys, "argv", ["diffusers_ddpm.py", "--steps", "2", "--prediction", "v_prediction"])
    runpy.run_path(str(RECIPES / "diffusers_ddpm.py"), run_name="__main__")
    assert "ddpm / v_prediction: loss" in capsys.readouterr().out


def test_every_recipe_is_tested_and_documented():
    recipes = sorted(p.stem for p in RECIPES.glob("*.py") if not p.name.startswith("_"))
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert set(recipes) <= tested
    docs = Path(__file__).resolve().parents[2] / "docs" / "recipes"
    included = "".join(p.read_text() for p in docs.glob("*.md"))
    for name in recipes:
        assert f"examples/recipes/{name}.py" in included, f"{name}.py is not included in docs/recipes/"
