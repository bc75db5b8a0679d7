"""The levels object: each consumer gives bit-identical results with a ``Levels`` and with raw levels;
levels are checked with at most one host read, none with checks off or under ``jax.jit``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from host_reads import count_host_reads

import ambientloss as al

PREDICTIONS = ("x0", "epsilon", "v", "score", "velocity")
SCHEDULES = ("vp", "ve", "flow")


def _levels(dtype, schedule, seed=0, n=12):
    """Levels with half the samples clean, ``sigma`` above ``sigma_min`` and below VP's top (velocity)."""
    rng = np.random.default_rng(seed)
    top = 3.0 if schedule == "ve" else 0.95
    sigma = rng.uniform(0.05, top, n).astype(dtype)
    sigma_min = np.where(np.arange(n) % 2 == 0, 0.0, sigma * rng.uniform(0.1, 0.9, n)).astype(dtype)
    return sigma, sigma_min


def _data(dtype, shape=(12, 3, 2), seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), strict=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_targets_and_kernel_are_bit_identical_with_levels(dtype, schedule, prediction):
    sigma, sigma_min = _levels(dtype, schedule)
    x, z = _data(dtype)
    lv = al.Levels(sigma, sigma_min, schedule=schedule, prediction=prediction)
    for a, b in zip(
        al.ambient_pair(x, lv, z, prediction=prediction),
        al.ambient_pair(x, sigma, sigma_min, z, prediction=prediction, schedule=schedule),
        strict=True,
    ):
        _same(a, b)
    x_t = al.renoise(x, lv, z)
    _same(x_t, al.renoise(x, sigma, sigma_min, z, schedule=schedule))
    _same(
        al.ambient_target(x_t, x, lv, prediction=prediction),
        al.ambient_target(x_t, x, sigma, sigma_min, prediction=prediction, schedule=schedule),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize(
    "weighting",
    [
        al.Weighting(),
        al.Weighting(sigma_data=0.5),
        al.Weighting(policy="none", base_weight="edm", sigma_data=0.5),
        al.Weighting(policy="ambient_o", s_max=4.0),
        al.Weighting(policy="x_tmin", base_weight="min_snr", cap=3.0),
    ],
)
def test_weights_and_variances_are_bit_identical_with_levels(dtype, schedule, weighting):
    sigma, sigma_min = _levels(dtype, schedule)
    lv = al.Levels(sigma, sigma_min, schedule=schedule)
    for prediction in ("x0", "epsilon", "v"):
        _same(
            al.loss_weight(lv, weighting=weighting, prediction=prediction),
            al.loss_weight(sigma, sigma_min, weighting=weighting, prediction=prediction, schedule=schedule),
        )
    _same(al.target_variance(lv), al.target_variance(sigma, sigma_min, schedule=schedule))


def test_levels_with_a_buffer_and_sigma_max_match_the_admissibility_functions():
    sigma = np.array([0.5, 0.5, 0.3, 0.9, 0.2], np.float32)
    sigma_min = np.array([0.0, 0.2, 0.6, 0.5, 0.0], np.float32)
    sigma_max = np.array([0.0, 0.0, 0.4, 0.1, 0.3], np.float32)
    buffer = al.Buffer(factor=1.2)
    lv = al.Levels(sigma, sigma_min, sigma_max, buffer=buffer)
    raw = {"buffer": buffer}
    _same(al.usable(lv), al.usable(sigma, sigma_min, sigma_max, **raw))
    _same(al.trusted_level(lv), al.trusted_level(sigma, sigma_min, sigma_max, **raw))
    _same(al.threshold(lv), al.threshold(sigma_min, **raw))
    trusted = al.trusted_level(sigma, sigma_min, sigma_max, **raw)
    x, z = _data(np.float32, (5, 4))
    for a, b in zip(al.ambient_pair(x, lv, z), al.ambient_pair(x, sigma, trusted, z), strict=True):
        _same(a, b)  # the low-noise branch (trusted level 0) trains as a clean sample
    _same(al.loss_weight(lv), al.loss_weight(sigma, trusted))
    _same(al.trusted_level(al.Levels(sigma, 0.0)), al.trusted_level(sigma, 0.0))  # one level per sample


def test_levels_align_with_data_of_more_axes_and_scalars():
    x, z = _data(np.float32, (4, 3, 2))
    sigma = np.array([0.3, 0.5, 0.7, 0.9], np.float32)
    for sigma_min in (0.1, np.float32(0.0) + np.zeros(4, np.float32)):
        lv = al.Levels(sigma, sigma_min)
        for a, b in zip(al.ambient_pair(x, lv, z), al.ambient_pair(x, sigma, sigma_min, z), strict=True):
            _same(a, b)
    with pytest.raises(ValueError, match=r"levels with shape \(4,\) does not align .* x_tmin"):
        al.ambient_pair(np.zeros((3, 2), np.float32), al.Levels(sigma, 0.1), np.zeros((3, 2), np.float32))


def test_levels_raise_like_the_raw_calls_and_refuse_what_they_were_not_built_for():
    with pytest.raises(ValueError, match=r"sigma must be greater than sigma_min .* at index \(1,\)"):
        al.Levels(np.array([0.5, 0.3]), np.array([0.1, 0.4]))
    with pytest.raises(ValueError, match=r"sigma=0\.25 is not usable: not above the threshold 0\.3"):
        al.Levels(0.25, 0.2, buffer=al.Buffer(additive=0.1))
    with pytest.raises(ValueError, match="outside the domain"):
        al.Levels(np.array([1.5]), np.array([0.1]))
    with pytest.raises(ValueError, match="diverges at the top"):
        al.Levels(1.0, 0.5, prediction="velocity")
    lv = al.Levels(np.array([0.5]), np.array([0.2]))
    x = np.ones(1)
    with pytest.raises(ValueError, match="prediction='velocity' needs Levels built with"):
        al.ambient_pair(x, lv, x, prediction="velocity")
    with pytest.raises(ValueError, match=r"schedule='ve' is given with Levels of schedule VP\(\); give it to Levels"):
        al.loss_weight(lv, schedule="ve")
    with pytest.raises(TypeError, match="noise is missing"):
        al.ambient_pair(x, lv)
    with pytest.raises(TypeError, match="after a Levels comes noise alone"):
        al.ambient_pair(x, lv, x, x)
    with pytest.raises(TypeError, match="sigma_min is part of the Levels"):
        al.loss_weight(lv, np.array([0.1]))
    with pytest.raises(AttributeError, match="read-only"):
        lv.sigma = np.array([0.9])  # type: ignore[misc]
    with pytest.raises(TypeError, match=r"buffer must be an ambientloss\.Buffer"):
        al.Levels(0.5, 0.1, buffer=1.1)  # type: ignore[arg-type]


CONSUMERS = {
    "ambient_pair": lambda lv, x, **kw: al.ambient_pair(x, lv, x, prediction="epsilon", **kw),
    "ambient_target": lambda lv, x, **kw: al.ambient_target(x, x, lv, prediction="epsilon", **kw),
    "renoise": lambda lv, x, **kw: al.renoise(x, lv, x, **kw),
    "loss_weight": lambda lv, x, **kw: al.loss_weight(lv, prediction="epsilon", **kw),
    "target_variance": lambda lv, x, **kw: al.target_variance(lv, **kw),
    "usable": lambda lv, x, **kw: al.usable(lv, **kw),
    "trusted_level": lambda lv, x, **kw: al.trusted_level(lv, **kw),
    "threshold": lambda lv, x, **kw: al.threshold(lv, **kw),
}


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_an_explicit_vp_is_told_from_the_default_by_every_consumer_of_levels(consumer):
    # The default schedule is the levels' own; an explicit one, "vp" included, must be theirs.
    call = CONSUMERS[consumer]
    sigma, sigma_min = _levels(np.float64, "flow")
    x = _data(np.float64, (12, 2))[0]
    flow = al.Levels(sigma, sigma_min, schedule="flow")
    with pytest.raises(ValueError, match=r"schedule='vp' is given with Levels of schedule Flow\(\)"):
        call(flow, x, schedule="vp")
    for got, want in zip(np.atleast_1d(call(flow, x)), np.atleast_1d(call(flow, x, schedule="flow")), strict=True):
        _same(got, want)
    vp = al.Levels(sigma, sigma_min)  # built with the default: VP, which an explicit "vp" matches
    call(vp, x, schedule="vp")
    with pytest.raises(ValueError, match=r"schedule='flow' is given with Levels of schedule VP\(\)"):
        call(vp, x, schedule="flow")


def test_the_default_schedule_is_vp_and_survives_copies():
    import copy
    import pickle

    from ambientloss.core.schedules import DEFAULT_SCHEDULE, schedule_given

    assert DEFAULT_SCHEDULE == "vp"
    assert type(al.get_schedule(DEFAULT_SCHEDULE)) is al.VP
    assert not schedule_given(DEFAULT_SCHEDULE)
    assert schedule_given("vp")
    assert schedule_given("".join(["v", "p"]))
    assert pickle.loads(pickle.dumps(DEFAULT_SCHEDULE)) is DEFAULT_SCHEDULE
    assert copy.deepcopy(DEFAULT_SCHEDULE) is DEFAULT_SCHEDULE


def test_unchecked_levels_make_every_unusable_entry_nan():
    sigma, sigma_min = np.array([0.5, 0.3, 0.0, 0.6]), np.array([0.2, 0.4, 0.0, 0.0])
    x, z = np.ones((4, 2)), np.ones((4, 2))
    with al.checks(False):
        lv = al.Levels(sigma, sigma_min)
        x_t, target = al.ambient_pair(x, lv, z)
        weight = al.loss_weight(lv, weighting="none")
    assert not lv.checked
    bad = np.array([False, True, True, False])
    _same(np.asarray(lv.usable), ~bad)
    for out in (x_t, target):
        assert np.isnan(out[bad]).all()
        assert np.isfinite(out[~bad]).all()
    assert np.isnan(weight[bad]).all()
    assert (weight[~bad] == 1).all()
    assert np.isnan(np.asarray(lv.trusted_level)[bad]).all()


# --------------------------------------------------------------------------- host reads


def _torch_step(torch, ambient):
    gen = torch.Generator().manual_seed(0)
    x, z, pred = (torch.randn(8, 4, 3, generator=gen) for _ in range(3))
    sigma = torch.rand(8, generator=gen) * 0.8 + 0.1
    sigma_min = torch.where(torch.arange(8) % 2 == 0, torch.zeros(8), sigma * 0.5)

    def step():
        if not ambient:
            x_t = al.add_noise(x, sigma, z)
            return x_t, al.squared_error(pred, z)
        levels = al.Levels(sigma, sigma_min)
        x_t, target = al.ambient_pair(x, levels, z, prediction="epsilon")
        weight = al.loss_weight(levels, prediction="epsilon")
        return x_t, al.squared_error(pred, target, weight=weight)

    return step


@pytest.mark.parametrize("ambient", [False, True], ids=["plain", "ambient"])
def test_a_training_step_reads_the_host_at_most_once_and_never_with_checks_off(ambient):
    torch = pytest.importorskip("torch")
    step = _torch_step(torch, ambient)
    step()  # imports and first-call work out of the count
    with count_host_reads(torch) as reads:
        step()
    assert reads[0] == 1
    with al.checks(False), count_host_reads(torch) as reads:
        x_t, loss = step()
    assert reads[0] == 0
    assert torch.isfinite(x_t).all()
    assert torch.isfinite(loss)


def test_the_read_counter_sees_a_read():
    torch = pytest.importorskip("torch")
    with count_host_reads(torch) as reads:
        bool(torch.ones(1) > 0)
        float(torch.ones(()))
    assert reads[0] == 2


def test_levels_build_inside_jax_jit_without_reading_values():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    sigma, sigma_min = _levels(np.float32, "vp")
    x, z = _data(np.float32)

    @jax.jit
    def step(x, z, sigma, sigma_min):
        lv = al.Levels(sigma, sigma_min)  # a host read would raise a concretization error here
        x_t, target = al.ambient_pair(x, lv, z, prediction="epsilon")
        return x_t, target, al.loss_weight(lv, prediction="epsilon")

    args = [jnp.asarray(a) for a in (x, z, sigma, sigma_min)]
    got = step(*args)
    lv = al.Levels(*args[2:])
    want = (*al.ambient_pair(args[0], lv, args[1], prediction="epsilon"), al.loss_weight(lv, prediction="epsilon"))
    for a, b in zip(got, want, strict=True):  # compiled arithmetic may fuse differently: a few ulp
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    clean = sigma_min == 0
    np.testing.assert_array_equal(np.asarray(got[1])[clean], z[clean])  # clean rows: the noise itself


def test_a_step_with_levels_compiles_into_one_graph_with_the_default_schedule():
    # Levels(sigma, sigma_min) with its defaults, consumers without xp: torch.compile traces it all
    # (fullgraph) and gives the eager results bit for bit (backend "eager": the same kernels).
    torch = pytest.importorskip("torch")

    def step(x_tmin, sigma, sigma_min, noise):
        levels = al.Levels(sigma, sigma_min)
        x_t, target = al.ambient_pair(x_tmin, levels, noise, prediction="epsilon")
        return x_t, al.squared_error(x_t, target, weight=al.loss_weight(levels, prediction="epsilon"))

    sigma, sigma_min = (torch.from_numpy(v) for v in _levels(np.float32, "vp"))
    x_tmin, noise = (torch.from_numpy(v) for v in _data(np.float32))
    want = step(x_tmin, sigma, sigma_min, noise)
    torch._dynamo.reset()
    got = torch.compile(step, fullgraph=True, backend="eager")(x_tmin, sigma, sigma_min, noise)
    for g, w in zip(got, want, strict=True):
        assert torch.equal(g, w)


def test_the_first_compiled_step_compiles_once():
    # In a fresh interpreter (no namespace met yet), the first calls of a compiled step must not fill a
    # module-level cache while torch.compile traces: that would change a guarded global and compile the
    # step a second time on its next call. error_on_recompile turns a second compile into an exception.
    pytest.importorskip("torch")
    code = """
import torch, ambientloss as al
torch._dynamo.config.error_on_recompile = True
def step(x_tmin, sigma, sigma_min, noise):
    levels = al.Levels(sigma, sigma_min)
    x_t, target = al.ambient_pair(x_tmin, levels, noise, prediction="epsilon")
    return al.squared_error(x_t, target, weight=al.loss_weight(levels, prediction="epsilon"))
g = torch.Generator().manual_seed(0)
compiled = torch.compile(step, backend="eager")
for _ in range(3):
    sigma_min = torch.rand(8, generator=g) * 0.3
    sigma = sigma_min + 0.5
    compiled(torch.randn(8, 4, generator=g), sigma, sigma_min, torch.randn(8, 4, generator=g))
print("ok")
"""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
