"""The PyTorch adapter given one :class:`ambientloss.Levels`: bit-identical to raw levels, one host read a step."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from host_reads import count_host_reads  # noqa: E402

import ambientloss as al  # noqa: E402
from ambientloss.adapters.torch import AmbientLoss  # noqa: E402

PREDICTIONS = ["epsilon", "sample", "v_prediction", "velocity", "score"]
AC = al.Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100).alphas_cumprod


def _batch(dtype, shape=(6, 5, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    x_tmin, noise, pred = (torch.randn(shape, generator=g, dtype=dtype) for _ in range(3))
    sigma = torch.rand(shape[0], generator=g, dtype=dtype) * 0.8 + 0.15
    sigma_min = torch.where(torch.arange(shape[0]) % 2 == 0, torch.zeros_like(sigma), sigma * 0.6)
    where = torch.rand(shape[:2], generator=g) > 0.3
    return x_tmin, noise, pred, sigma, sigma_min, where


def _loss(prediction, schedule):
    if schedule == "table":
        scheduler = SimpleNamespace(alphas_cumprod=torch.tensor(AC), config=SimpleNamespace(prediction_type=prediction))
        return AmbientLoss.from_scheduler(scheduler, reduction="per_sample")
    return AmbientLoss(prediction, schedule, reduction="per_sample")


def _same(a, b):
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    assert torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("schedule", ["vp", "ve", "flow", "table"])
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_every_method_is_bit_identical_with_levels(dtype, schedule, prediction):
    x_tmin, noise, pred, sigma, sigma_min, where = _batch(dtype)
    if schedule == "ve":
        sigma = sigma * 5
        sigma_min = sigma_min * 5
    loss_fn = _loss(prediction, schedule)
    levels = loss_fn.levels(sigma, sigma_min)
    x_t, target = loss_fn.prepare(x_tmin, sigma, sigma_min, noise)
    got = loss_fn.prepare(x_tmin, levels, noise)
    _same(got[0], x_t)
    _same(got[1], target)
    _same(loss_fn.target(x_t, x_tmin, levels), loss_fn.target(x_t, x_tmin, sigma, sigma_min))
    _same(loss_fn.weight(levels), loss_fn.weight(sigma, sigma_min))
    want = loss_fn(pred, target, sigma, sigma_min, where)
    _same(loss_fn(pred, target, levels, where), want)
    _same(loss_fn(pred, target, levels, where=where), want)
    assert torch.equal(loss_fn.admissible(levels), loss_fn.admissible(sigma, sigma_min))


def test_half_data_with_float32_levels_is_bit_identical():
    x_tmin, noise, pred, sigma, sigma_min, where = _batch(torch.float32)
    x_tmin, noise, pred = x_tmin.bfloat16(), noise.bfloat16(), pred.bfloat16()
    loss_fn = AmbientLoss("epsilon")
    levels = loss_fn.levels(sigma, sigma_min)
    pairs = zip(loss_fn.prepare(x_tmin, levels, noise), loss_fn.prepare(x_tmin, sigma, sigma_min, noise), strict=True)
    for got, want in pairs:
        _same(got, want)
    _same(loss_fn(pred, want, levels, where), loss_fn(pred, want, sigma, sigma_min, where))


def test_drawn_noise_is_the_same_with_levels():
    x_tmin, _, _, sigma, sigma_min, _ = _batch(torch.float32)
    loss_fn = AmbientLoss("x0")
    got = loss_fn.prepare(x_tmin, loss_fn.levels(sigma, sigma_min), generator=torch.Generator().manual_seed(3))
    want = loss_fn.prepare(x_tmin, sigma, sigma_min, generator=torch.Generator().manual_seed(3))
    _same(got[0], want[0])
    _same(got[1], want[1])


def test_levels_of_another_schedule_are_refused_with_both_names():
    x_tmin, noise, pred, sigma, sigma_min, _ = _batch(torch.float32)
    loss_fn = AmbientLoss("epsilon")  # VP
    levels = al.Levels(sigma, sigma_min, schedule="flow")
    for call in (
        lambda: loss_fn.prepare(x_tmin, levels, noise),
        lambda: loss_fn.target(x_tmin, x_tmin, levels),
        lambda: loss_fn.weight(levels),
        lambda: loss_fn(pred, x_tmin, levels),
        lambda: loss_fn.admissible(levels),
    ):
        with pytest.raises(ValueError, match=r"built with schedule Flow\(\).*AmbientLoss uses schedule VP\(\)"):
            call()
    table = _loss("epsilon", "table")
    other = AmbientLoss.from_scheduler(SimpleNamespace(alphas_cumprod=torch.tensor(AC), config={}))
    with pytest.raises(ValueError, match="built with schedule Discrete"):
        table.weight(other.levels(sigma, sigma_min))  # an equal table, but another object: say which one


def test_a_levels_with_a_second_level_or_noise_twice_is_refused():
    x_tmin, noise, pred, sigma, sigma_min, where = _batch(torch.float32)
    loss_fn = AmbientLoss("epsilon")
    levels = loss_fn.levels(sigma, sigma_min)
    with pytest.raises(TypeError, match="after a Levels comes noise alone"):
        loss_fn.prepare(x_tmin, levels, noise, noise)
    with pytest.raises(TypeError, match="after a Levels comes where alone"):
        loss_fn(pred, x_tmin, levels, where, where=where)
    with pytest.raises(TypeError, match="sigma_min is part of the Levels"):
        loss_fn.weight(levels, sigma_min)
    with pytest.raises(ValueError, match="prediction='velocity' needs Levels built with prediction='velocity'"):
        AmbientLoss("velocity").prepare(x_tmin, al.Levels(sigma, sigma_min), noise)


def _step(loss_fn, x_tmin, noise, pred, sigma, sigma_min, where):
    levels = loss_fn.levels(sigma, sigma_min)
    x_t, target = loss_fn.prepare(x_tmin, levels, noise)
    return x_t, loss_fn(pred, target, levels, where)


def test_a_training_step_reads_the_host_once_and_never_with_checks_off():
    batch = _batch(torch.float32)
    loss_fn = AmbientLoss("epsilon")
    _step(loss_fn, *batch)  # first-call work out of the count
    with count_host_reads(torch) as reads:
        _step(loss_fn, *batch)
    assert reads[0] == 1
    with al.checks(False), count_host_reads(torch) as reads:
        x_t, loss = _step(loss_fn, *batch)
    assert reads[0] == 0
    assert bool(torch.isfinite(x_t).all())
    assert bool(torch.isfinite(loss))


def test_the_read_counter_counts_each_read():
    with count_host_reads(torch) as reads:
        bool(torch.ones(1) > 0)
        torch.ones(2).tolist()
        int(torch.ones((), dtype=torch.int64))
    assert reads[0] == 3
