"""Tests of the PyTorch adapter: agreement with the core, masks, autocast, torch.compile, schedulers."""

from __future__ import annotations

import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import array_api_compat.torch as xp  # noqa: E402

import ambientloss as al  # noqa: E402
from ambientloss.adapters.torch import AmbientLoss  # noqa: E402

PREDICTIONS = ["epsilon", "sample", "v_prediction", "x0", "v", "velocity", "flow", "score"]
AC = al.Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100).alphas_cumprod
EDM = al.Weighting(base_weight="edm")


def _batch(dtype=torch.float32, shape=(4, 6, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    x_tmin = torch.randn(shape, generator=g).to(dtype)
    noise = torch.randn(shape, generator=g).to(dtype)
    pred = torch.randn(shape, generator=g).to(dtype)
    sigma_min = torch.tensor([0.0, 0.2, 0.3, 0.5], dtype=dtype)
    sigma = torch.tensor([0.4, 0.5, 0.9, 0.6], dtype=dtype)
    return x_tmin, sigma_min, sigma, noise, pred


def _scheduler(prediction_type="epsilon", config_as_dict=False):
    config = {"prediction_type": prediction_type}
    if not config_as_dict:
        config = SimpleNamespace(**config)
    return SimpleNamespace(alphas_cumprod=torch.tensor(AC, dtype=torch.float32), config=config)


@pytest.fixture
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


# --- agreement with the core -------------------------------------------------------------------


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
def test_module_equals_core(prediction, schedule):
    x_tmin, sigma_min, sigma, noise, pred = _batch()
    where = torch.rand(4, 6, generator=torch.Generator().manual_seed(1)) > 0.3
    loss_fn = AmbientLoss(prediction, schedule, reduction="per_sample")
    x_t, target = loss_fn.prepare(x_tmin, sigma, sigma_min, noise)
    core_x_t, core_target = al.ambient_pair(x_tmin, sigma, sigma_min, noise, prediction=prediction, schedule=schedule)
    assert torch.equal(x_t, core_x_t)
    assert torch.equal(target, core_target)
    core_pair = al.ambient_target(x_t, x_tmin, sigma, sigma_min, prediction=prediction, schedule=schedule)
    assert torch.equal(loss_fn.target(x_t, x_tmin, sigma, sigma_min), core_pair)
    weight = al.loss_weight(sigma, sigma_min, prediction=prediction, schedule=schedule)
    assert torch.equal(loss_fn.weight(sigma, sigma_min), weight)
    expected = al.squared_error(pred, target, weight=weight, where=where, reduction="per_sample")
    assert torch.equal(loss_fn(pred, target, sigma, sigma_min, where), expected)


@pytest.mark.parametrize(("policy", "base_weight"), [("none", "edm"), ("ambient_o", "min_snr"), ("x_tmin", None)])
def test_weighting_options_forwarded(policy, base_weight):
    _, sigma_min, sigma, _, _ = _batch()
    weighting = al.Weighting(policy=policy, base_weight=base_weight, sigma_data=0.5, cap=3.0)
    loss_fn = AmbientLoss("v", weighting=weighting)
    expected = al.loss_weight(sigma, sigma_min, weighting=weighting, prediction="v")
    assert torch.equal(loss_fn.weight(sigma, sigma_min), expected)
    assert loss_fn.weighting is weighting
    assert f"weighting={weighting!r}" in repr(loss_fn)
    assert AmbientLoss("v", weighting=policy).weighting == al.Weighting(policy=policy)  # the shorthand


def test_per_sample_uses_valid_count_with_action_is_pad():
    x_tmin, sigma_min, sigma, noise, pred = _batch(shape=(4, 6, 3))
    action_is_pad = torch.zeros(4, 6, dtype=torch.bool)
    action_is_pad[1, 4:] = True
    action_is_pad[2, 1:] = True
    action_is_pad[3, :] = True  # fully padded row
    loss_fn = AmbientLoss("epsilon", reduction="per_sample")
    _, target = loss_fn.prepare(x_tmin, sigma, sigma_min, noise)
    out = loss_fn(pred, target, sigma, sigma_min, where=~action_is_pad)
    assert out.shape == (4,)
    w = 1 - sigma_min.double() ** 2 / sigma.double() ** 2  # inverse_variance, VP, sigma_data = 1
    sq = (pred.double() - target.double()) ** 2
    for b in range(4):
        valid = ~action_is_pad[b]
        n = int(valid.sum()) * 3
        hand = float(w[b] * sq[b][valid].sum() / n) if n else 0.0
        assert float(out[b]) == pytest.approx(hand, rel=1e-5, abs=1e-7)
    mean = loss_fn(pred, target, sigma, sigma_min, where=~action_is_pad, reduction="mean")
    mask = (~action_is_pad)[..., None].double()
    hand_mean = (w[:, None, None] * sq * mask).sum() / (mask.sum() * 3)  # LeRobot's sum / (count * action_dim)
    assert float(mean) == pytest.approx(float(hand_mean), rel=1e-5)


def test_reductions_and_override():
    x_tmin, sigma_min, sigma, noise, pred = _batch()
    loss_fn = AmbientLoss("x0")
    _, target = loss_fn.prepare(x_tmin, sigma, sigma_min, noise)
    assert loss_fn(pred, target, sigma, sigma_min).shape == ()
    assert loss_fn(pred, target, sigma, sigma_min, reduction="none").shape == pred.shape
    total = loss_fn(pred, target, sigma, sigma_min, reduction="sum")
    per = loss_fn(pred, target, sigma, sigma_min, reduction="per_sample")
    torch.testing.assert_close(total, per.sum() * 18)


def test_clean_samples_give_the_standard_loss_bit_exactly():
    x0, _, sigma, noise, pred = _batch()
    for sigma_min in (0.0, torch.zeros(4)):
        eps_loss = AmbientLoss("epsilon", weighting="inverse_variance")
        x_t, target = eps_loss.prepare(x0, sigma, sigma_min, noise)
        assert torch.equal(target, noise)
        assert torch.equal(x_t, al.add_noise(x0, sigma, noise))
        a = torch.sqrt((1 - sigma) * (1 + sigma))[:, None, None]
        torch.testing.assert_close(x_t, a * x0 + sigma[:, None, None] * noise, rtol=0, atol=1e-6)
        assert torch.equal(eps_loss.weight(sigma, sigma_min), torch.ones(4))
        torch.testing.assert_close(eps_loss(pred, target, sigma, sigma_min), torch.nn.functional.mse_loss(pred, noise))
        _, target_x0 = AmbientLoss("sample").prepare(x0, sigma, sigma_min, noise)
        assert torch.equal(target_x0, x0)


def test_clean_samples_match_diffusers_add_noise():
    loss_fn = AmbientLoss.from_scheduler(_scheduler())
    x0, _, _, noise, _ = _batch()
    t = torch.tensor([0, 10, 50, 90])  # near t = 99 the float32 level rounds 1 - s coarsely (a ~ 5e-4)
    x_t, target = loss_fn.prepare(x0, loss_fn.sigma_for_timestep(t), 0.0, noise)
    ac = torch.tensor(AC, dtype=torch.float32)[t][:, None, None]
    diffusers_x_t = ac**0.5 * x0 + (1 - ac) ** 0.5 * noise  # DDPMScheduler.add_noise
    torch.testing.assert_close(x_t, diffusers_x_t, rtol=0, atol=2e-6)
    assert torch.equal(target, noise)


# --- precision, devices, autocast --------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_device_preserved(dtype):
    x_tmin, sigma_min, sigma, noise, pred = _batch(dtype)
    loss_fn = AmbientLoss("v_prediction")
    x_t, target = loss_fn.prepare(x_tmin, sigma, sigma_min, noise)
    assert x_t.dtype == target.dtype == dtype
    assert x_t.device == target.device == x_tmin.device
    assert loss_fn.target(x_t, x_tmin, sigma, sigma_min).dtype == dtype
    assert loss_fn(pred, target, sigma, sigma_min).dtype == dtype
    assert loss_fn(pred, target, sigma, sigma_min, reduction="per_sample").dtype == dtype


def test_meta_device_preserved():
    loss_fn = AmbientLoss.from_scheduler(_scheduler(), reduction="per_sample")
    x_tmin = torch.empty(4, 6, 3, device="meta")
    sigma = loss_fn.sigma_for_timestep(torch.tensor([1, 2, 3, 4], device="meta"))
    x_t, target = loss_fn.prepare(x_tmin, sigma, 0.0)
    loss = loss_fn(x_t, target, sigma, 0.0)
    assert sigma.device.type == x_t.device.type == target.device.type == loss.device.type == "meta"
    assert loss.shape == (4,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_device_preserved():
    loss_fn = AmbientLoss.from_scheduler(_scheduler())
    t = torch.tensor([3, 40, 90], device="cuda")
    sigma = loss_fn.sigma_for_timestep(t)
    x_t, target = loss_fn.prepare(torch.randn(3, 8, 2, device="cuda"), sigma, 0.0)
    assert sigma.device == x_t.device == target.device == loss_fn(x_t, target, sigma, 0.0).device == t.device


def test_half_inputs_give_float32_targets_and_loss():
    x_tmin, sigma_min, sigma, noise, _ = _batch()
    loss_fn = AmbientLoss("epsilon")
    x_bf, z_bf = x_tmin.bfloat16(), noise.bfloat16()
    x_t, target = loss_fn.prepare(x_bf, sigma, sigma_min, z_bf)
    core_x_t, core_target = al.ambient_pair(x_bf, sigma, sigma_min, z_bf, prediction="epsilon")
    assert x_t.dtype == torch.bfloat16
    assert target.dtype == torch.float32
    assert torch.equal(x_t, core_x_t)
    assert torch.equal(target.bfloat16(), core_target)
    assert loss_fn.target(x_t, x_bf, sigma, sigma_min).dtype == torch.float32


def test_autocast_bf16_loss_is_float32_and_gradients_flow():
    x_tmin, sigma_min, sigma, noise, _ = _batch()
    model = torch.nn.Linear(3, 3)
    loss_fn = AmbientLoss("epsilon", reduction="per_sample")
    x_t, target = loss_fn.prepare(x_tmin, sigma, sigma_min, noise)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred = model(x_t)
        loss = loss_fn(pred, target, sigma, sigma_min).mean()
    assert pred.dtype == torch.bfloat16
    assert target.dtype == loss.dtype == torch.float32
    loss.backward()
    assert model.weight.grad is not None
    assert bool(torch.isfinite(model.weight.grad).all())
    assert float(model.weight.grad.abs().sum()) > 0
    w = loss_fn.weight(sigma, sigma_min)[:, None, None]
    expected = (w * (pred.detach().float() - target) ** 2).mean(dim=(1, 2)).mean()
    torch.testing.assert_close(loss.detach(), expected)


# --- torch.compile (warnings are errors in this test suite) ------------------------------------


@pytest.fixture
def inductor(fresh_dynamo):
    # torch's own import of torch.utils.mkldnn warns about torch.jit.script_method on first use of inductor
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`torch\.jit\.script_method` is deprecated", DeprecationWarning)
        import torch._inductor.compile_fx  # noqa: F401


def test_compile_module_inductor_fullgraph(inductor):
    loss_fn = AmbientLoss("epsilon", reduction="per_sample")
    x_tmin, sigma_min, sigma, noise, pred = _batch()
    is_pad = torch.zeros(4, 6, dtype=torch.bool)
    is_pad[1, 3:] = True

    def step(x_tmin, sigma_min, sigma, noise, pred, is_pad):
        x_t, target = loss_fn.prepare(x_tmin, sigma, sigma_min, noise)
        return x_t, target, loss_fn(pred, target, sigma, sigma_min, where=~is_pad)

    compiled = torch.compile(step, fullgraph=True)
    args = (x_tmin, sigma_min, sigma, noise, pred, is_pad)
    for got, want in zip(compiled(*args), step(*args), strict=True):
        torch.testing.assert_close(got, want)


def test_compile_core_functions_with_explicit_xp(fresh_dynamo):
    sched = al.Discrete(AC)

    def core(x_tmin, sigma_min, sigma, noise, pred, where):
        out = [al.renoise(x_tmin, sigma, sigma_min, noise, schedule=sched, xp=xp)]
        out.append(al.add_noise(x_tmin, sigma, noise, xp=xp))
        out.append(al.target_variance(sigma, sigma_min, xp=xp))
        for prediction in ("x0", "epsilon", "v", "score", "velocity"):
            x_t, target = al.ambient_pair(x_tmin, sigma, sigma_min, noise, prediction=prediction, xp=xp)
            out.append(al.ambient_target(x_t, x_tmin, sigma, sigma_min, prediction=prediction, xp=xp))
            out.append(al.standard_target(x_tmin, noise, sigma, prediction=prediction, schedule="flow", xp=xp))
            weight = al.loss_weight(sigma, sigma_min, weighting=EDM, prediction=prediction, xp=xp)
            out.append(al.squared_error(pred, target, weight=weight, where=where, reduction="per_sample", xp=xp))
        return out

    x_tmin, sigma_min, sigma, noise, pred = _batch()
    args = (x_tmin, sigma_min, sigma, noise, pred, torch.ones(4, 6, dtype=torch.bool))
    compiled = torch.compile(core, fullgraph=True, backend="eager")
    for got, want in zip(compiled(*args), core(*args), strict=True):
        torch.testing.assert_close(got, want)


def test_compile_training_step_from_scheduler_backward(fresh_dynamo):
    loss_fn = AmbientLoss.from_scheduler(_scheduler("sample"))
    model = torch.nn.Linear(3, 3)

    def step(x0, t_min, t, noise):
        sigma, sigma_min = loss_fn.sigma_for_timestep(t), loss_fn.sigma_for_timestep(t_min)
        x_t, target = loss_fn.prepare(x0, sigma, sigma_min, noise)
        return loss_fn(model(x_t), target, sigma, sigma_min)

    x0, _, _, noise, _ = _batch()
    args = (x0, torch.tensor([-1, 3, 10, 40]), torch.tensor([5, 20, 60, 99]), noise)
    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    loss = compiled(*args)
    loss.backward()
    grad = model.weight.grad.clone()
    model.zero_grad()
    eager = step(*args)
    eager.backward()
    torch.testing.assert_close(loss, eager)
    torch.testing.assert_close(grad, model.weight.grad)


def test_compile_inadmissible_entries_are_nan_and_masked(fresh_dynamo):
    loss_fn = AmbientLoss("epsilon", reduction="mean")
    x_tmin, _, _, noise, pred = _batch()
    sigma_min = torch.tensor([0.0, 0.5, 0.3, 0.7])
    sigma = torch.tensor([0.4, 0.5, 0.9, 0.6])  # rows 1 and 3 are inadmissible
    ok = loss_fn.admissible(sigma, sigma_min)
    assert ok.tolist() == [True, False, True, False]
    levels = (torch.tensor([1.0, 0.5, 1.2, float("nan"), 0.3]), torch.tensor([0.0, 0.0, 0.3, 0.0, -0.1]))
    assert loss_fn.admissible(*levels).tolist() == [True, True, False, False, False]
    assert AmbientLoss("velocity").admissible(*levels).tolist() == [False, True, False, False, False]

    model = torch.nn.Linear(3, 3)

    def step(x_tmin, sigma_min, sigma, noise, pred, ok):
        x_t, target = loss_fn.prepare(x_tmin, sigma, sigma_min, noise)
        model_loss = loss_fn(model(torch.nan_to_num(x_t)), target, sigma, sigma_min, where=ok)
        return x_t, target, loss_fn(pred, target, sigma, sigma_min, where=ok) + model_loss

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    pred = pred.clone().requires_grad_(True)
    x_t, target, loss = compiled(x_tmin, sigma_min, sigma, noise, pred, ok)
    assert bool(torch.isnan(target[~ok]).all())
    assert bool(torch.isnan(x_t[~ok]).all())
    assert bool(torch.isfinite(target[ok]).all())
    assert bool(torch.isfinite(loss))
    loss.backward()
    assert bool(torch.isfinite(pred.grad).all())
    assert bool((pred.grad[~ok] == 0).all())
    assert bool((pred.grad[ok] != 0).any())
    assert bool(torch.isfinite(model.weight.grad).all())
    assert bool(torch.isfinite(model.bias.grad).all())
    with pytest.raises(ValueError, match="sigma must be greater than sigma_min"):
        step(x_tmin, sigma_min, sigma, noise, pred, ok)  # eager mode checks the values


# --- schedulers, timesteps, noise ---------------------------------------------------------------


@pytest.mark.parametrize("config_as_dict", [False, True])
def test_from_scheduler_reads_table_and_prediction(config_as_dict):
    loss_fn = AmbientLoss.from_scheduler(_scheduler("v_prediction", config_as_dict), reduction="per_sample")
    assert loss_fn.prediction == "v_prediction"
    assert loss_fn.reduction == "per_sample"
    assert isinstance(loss_fn.schedule, al.Discrete)
    assert loss_fn.schedule.num_train_timesteps == 100
    t = torch.tensor([[0, 1], [50, 99]])
    sigma = loss_fn.sigma_for_timestep(t)
    assert sigma.shape == (2, 2)
    assert sigma.dtype == torch.float32
    assert torch.equal(sigma, loss_fn.schedule.sigma_for_timestep(t, xp=xp))
    expected = np.sqrt(1 - AC.astype(np.float32).astype(np.float64))[t.numpy()]
    np.testing.assert_allclose(sigma.numpy(), expected, rtol=1e-6)
    assert loss_fn.sigma_for_timestep(t, dtype=torch.float64).dtype == torch.float64
    assert AmbientLoss.from_scheduler(_scheduler("sample"), prediction="epsilon").prediction == "epsilon"
    assert AmbientLoss.from_scheduler(SimpleNamespace(alphas_cumprod=torch.tensor(AC))).prediction == "epsilon"


def test_sigma_for_timestep_clean_marker_and_errors():
    loss_fn = AmbientLoss.from_scheduler(_scheduler())
    assert loss_fn.sigma_for_timestep(torch.tensor([-1, 0]))[0] == 0
    with pytest.raises(ValueError, match=r"timesteps must lie in \[-1, 99\].*got 100"):
        loss_fn.sigma_for_timestep(torch.tensor([3, 100]))
    with pytest.raises(TypeError, match="timesteps must be an integer tensor"):
        loss_fn.sigma_for_timestep(torch.tensor([3.0]))
    with pytest.raises(TypeError, match="needs a Discrete schedule"):
        AmbientLoss().sigma_for_timestep(torch.tensor([3]))
    with pytest.raises(TypeError, match="alphas_cumprod"):
        AmbientLoss.from_scheduler(SimpleNamespace(config=SimpleNamespace(prediction_type="epsilon")))


def test_generator_noise_is_reproducible():
    x_tmin, sigma_min, sigma, _, _ = _batch()
    loss_fn = AmbientLoss("v")
    first = loss_fn.prepare(x_tmin, sigma, sigma_min, generator=torch.Generator().manual_seed(7))
    again = loss_fn.prepare(x_tmin, sigma, sigma_min, generator=torch.Generator().manual_seed(7))
    other = loss_fn.prepare(x_tmin, sigma, sigma_min, generator=torch.Generator().manual_seed(8))
    noise = torch.randn(x_tmin.shape, generator=torch.Generator().manual_seed(7))
    explicit = loss_fn.prepare(x_tmin, sigma, sigma_min, noise)
    for a, b, c in zip(first, again, explicit, strict=True):
        assert torch.equal(a, b)
        assert torch.equal(a, c)
    assert not torch.equal(first[0], other[0])


# --- errors and structure -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prediction": "eps"}, "unknown prediction 'eps'"),
        ({"schedule": "cosine"}, "unknown schedule 'cosine'"),
        ({"weighting": "snr"}, "unknown weighting 'snr'"),
        ({"reduction": "batchmean"}, "unknown reduction 'batchmean'"),
    ],
)
def test_bad_configuration_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AmbientLoss(**kwargs)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"base_weight": "p2"}, "unknown base_weight 'p2'"),
        ({"sigma_data": -1.0}, "sigma_data must be a positive finite number"),
        ({"cap": float("inf")}, "cap must be a positive finite number"),
    ],
)
def test_bad_weighting_options_name_the_field(options, match):
    with pytest.raises(ValueError, match=match):
        AmbientLoss(weighting=al.Weighting(**options))


def test_bad_inputs_name_the_argument():
    x_tmin, sigma_min, sigma, noise, pred = _batch()
    loss_fn = AmbientLoss()
    with pytest.raises(ValueError, match="x_tmin and noise must have the same shape"):
        loss_fn.prepare(x_tmin, sigma, sigma_min, noise[:, :5])
    with pytest.raises(ValueError, match="x_t and x_tmin must have the same shape"):
        loss_fn.target(x_tmin[:2], x_tmin, sigma, sigma_min)
    _, target = loss_fn.prepare(x_tmin, sigma, sigma_min, noise)
    with pytest.raises(ValueError, match="pred and target must have the same shape"):
        loss_fn(pred[..., :2], target, sigma, sigma_min)
    with pytest.raises(ValueError, match="sigma with shape"):
        loss_fn.prepare(x_tmin, sigma[:3], sigma_min, noise)
    with pytest.raises(ValueError, match="where with shape"):
        loss_fn(pred, target, sigma, sigma_min, where=torch.ones(3, 6, dtype=torch.bool))
    with pytest.raises(TypeError, match="where must be a boolean array"):
        loss_fn(pred, target, sigma, sigma_min, where=torch.ones(4, 6))
    with pytest.raises(TypeError, match=r"noise must be a torch\.Tensor"):
        loss_fn.prepare(x_tmin, sigma, sigma_min, noise.numpy())
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        loss_fn(pred, target, sigma, sigma_min, reduction="avg")


def test_repr_and_state_dict():
    loss_fn = AmbientLoss.from_scheduler(_scheduler())
    assert "prediction='epsilon'" in repr(loss_fn)
    assert "Discrete(num_train_timesteps=100)" in repr(loss_fn)
    assert loss_fn.state_dict() == {}
    loss_fn.to(torch.float16)  # casting the module leaves the timestep table in float64
    assert loss_fn.sigma_for_timestep(torch.tensor([50])).dtype == torch.float32


def test_core_does_not_import_torch():
    code = "import sys, ambientloss, ambientloss.adapters; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
