"""``ambient_compute_loss`` against the real LeRobot Diffusion Policy (lerobot 0.4.4): golden, ambient, errors.

Skipped without LeRobot (it runs in its own venv, ``.ci/lerobot.sh``); every test runs in seconds on one
CPU thread and downloads nothing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

lerobot = pytest.importorskip("lerobot")

import lerobot_common as lc  # noqa: E402
import torch  # noqa: E402
from lerobot.policies.diffusion.processor_diffusion import make_diffusion_pre_post_processors  # noqa: E402
from lerobot_common import ACTION_DIM, DEFAULT, ENV, HORIZON, N_OBS, STATE  # noqa: E402

import ambientloss as al  # noqa: E402
from ambientloss.adapters.lerobot import Annotations, ambient_compute_loss, make_ambient, schedule_of  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # one torch thread, the global generator restored

# ----------------------------------------------------------------------------------------------
# golden: clean rows are LeRobot's compute_loss


def test_the_policys_table_is_read_bit_for_bit():
    policy = lc.policy(lc.config())
    ac = policy.diffusion.noise_scheduler.alphas_cumprod.double()
    t = torch.arange(100)
    got = schedule_of(policy).sigma_for_timestep(t, dtype=torch.float64)
    # The table is NumPy's correctly rounded np.sqrt(1 - ac) of the same float64 array and the
    # lookup only gathers it: bit for bit. torch's CPU float64 sqrt is faithful, not correctly
    # rounded on every processor (AVX-512), so against it: within one ulp (2u relative).
    assert torch.equal(got, torch.from_numpy(np.sqrt(1 - ac.numpy())))
    assert float(((got - torch.sqrt(1 - ac)).abs() / got).max()) <= 2 * 2.0**-53


@pytest.mark.parametrize("scheduler", ["DDPM", "DDIM"])
@pytest.mark.parametrize("prediction", ["epsilon", "sample"])
@pytest.mark.parametrize("mask", [False, True])
def test_clean_rows_give_lerobots_compute_loss_bit_for_bit(prediction, mask, scheduler):
    # Tolerance: none. On clean rows the adapter feeds the U-Net LeRobot's own
    # `noise_scheduler.add_noise(action, eps, t)`, the target is `eps` / the actions bit for bit
    # (`ambient_pair` at sigma_min = 0), the weight is exactly 1.0, and the reduction is the same
    # `.mean()` of the same float32 tensor: identical operations in the same order on the same inputs.
    config = lc.config(
        DEFAULT, prediction_type=prediction, do_mask_loss_for_padding=mask, noise_scheduler_type=scheduler
    )
    policy = lc.policy(config)
    batch = lc.normalised_batch(32, seed=1)
    want, eps, t = lc.lerobot_draws(policy, batch, seed=5)
    clean = {**batch, "ambient.sigma_min": torch.zeros(32)}
    got = ambient_compute_loss(policy, clean, noise=eps, timesteps=t)
    assert torch.equal(got, want), (got.item(), want.item())
    make_ambient(policy)  # the patched policy.forward: the same number again
    torch.manual_seed(5)
    patched, _ = policy.forward(clean)
    assert torch.equal(patched, want)
    del policy.diffusion.compute_loss  # undoes the patch
    torch.manual_seed(5)
    assert torch.equal(policy.forward(batch)[0], want)


def test_ambientloss_alone_is_within_float32_rounding_of_diffusers_add_noise():
    # Why the adapter routes clean rows through the scheduler: ambient_pair's own x_t at sigma_min = 0 is
    # a_t x0 + s_t eps with a_t = sqrt(1 - s_t^2), s_t = sqrt(1 - ac[t]) from the float64 table, each
    # rounded once to float32 (<= 1/2 ulp), while diffusers computes ac**0.5 and (1 - ac)**0.5 in float32
    # (<= 1 ulp each, 1 - ac rounding once more). With two products and a sum rounded (1/2 ulp each),
    # |x_t - x_t'| <= (1/2 + 1 + 1/2 + 1/2 + 1/2 + ...) ulp (|a x0| + |s eps|) < 4 eps32 (|a x0| + |s eps|).
    policy = lc.policy(lc.config())
    scheduler = policy.diffusion.noise_scheduler
    g = torch.Generator().manual_seed(0)
    t = torch.arange(100).repeat_interleave(20)
    x0, eps = (
        torch.randn(len(t), HORIZON, ACTION_DIM, generator=g),
        torch.randn(len(t), HORIZON, ACTION_DIM, generator=g),
    )
    sigma = schedule_of(policy).sigma_for_timestep(t, dtype=torch.float64)
    x_t, target = al.ambient_pair(
        x0, sigma, torch.zeros_like(sigma), eps, prediction="epsilon", schedule=schedule_of(policy)
    )
    want = scheduler.add_noise(x0, eps, t)
    a = scheduler.alphas_cumprod[t].double().sqrt()[:, None, None]
    scale = (a * x0.double()).abs() + (sigma[:, None, None] * eps.double()).abs()
    ulps = ((x_t.double() - want.double()).abs() / (torch.finfo(torch.float32).eps * scale)).max().item()
    assert ulps < 4, ulps
    assert torch.equal(target, eps)


def test_clean_rows_of_a_mixed_batch_see_lerobots_input_and_target():
    policy = lc.policy(lc.config(DEFAULT, do_mask_loss_for_padding=True))
    batch = lc.normalised_batch(16, seed=2)
    level = schedule_of(policy).sigma_for_timestep(torch.tensor(40), dtype=torch.float64).item()
    sigma_min = torch.tensor([0.0, level] * 8, dtype=torch.float64)
    batch = Annotations(sigma_min, by="frame", seed=3)({**batch, "index": torch.arange(16)})
    eps = torch.randn(16, HORIZON, ACTION_DIM, generator=torch.Generator().manual_seed(4))
    t = torch.tensor([10, 70] * 8)
    calls, handle = lc.record_unet(policy)
    per_sample = ambient_compute_loss(policy, batch, noise=eps, timesteps=t, reduction="per_sample")
    handle.remove()
    (x_t, t_seen, pred), clean = calls[0], sigma_min == 0
    assert torch.equal(t_seen, t)
    assert torch.equal(x_t[clean], policy.diffusion.noise_scheduler.add_noise(batch["action"], eps, t)[clean])
    mask = (~batch["action_is_pad"]).unsqueeze(-1)
    lerobot_rows = (torch.nn.functional.mse_loss(pred, eps, reduction="none") * mask).mean(dim=(1, 2))
    assert torch.equal(per_sample[clean], lerobot_rows[clean])
    assert not torch.equal(per_sample[~clean], lerobot_rows[~clean])  # the corrupt rows have ambient targets


def test_under_the_same_seed_clean_rows_get_lerobots_own_draws():
    policy = make_ambient(lc.policy(lc.config(do_mask_loss_for_padding=True)))
    batch = lc.normalised_batch(16, seed=6)
    level = schedule_of(policy).sigma_for_timestep(torch.tensor(50), dtype=torch.float64).item()
    sigma_min = torch.tensor([0.0, 0.0, level, 0.0] * 4, dtype=torch.float64)
    annotated = Annotations(sigma_min, by="frame", seed=0)({**batch, "index": torch.arange(16)})
    calls, handle = lc.record_unet(policy)
    torch.manual_seed(8)
    policy.forward(annotated)  # the patched compute_loss, global generator
    handle.remove()
    torch.manual_seed(8)
    eps = torch.randn(batch["action"].shape)
    t = torch.randint(0, 100, (16,))
    (x_t, t_seen, _), clean = calls[0], sigma_min == 0
    assert torch.equal(t_seen[clean], t[clean])
    assert torch.equal(x_t[clean], policy.diffusion.noise_scheduler.add_noise(batch["action"], eps, t)[clean])
    assert bool((t_seen[~clean] > 50).all())


def test_mask_mean_valid_is_lerobots_later_normalisation():
    policy = lc.policy(lc.config(do_mask_loss_for_padding=True))
    batch = {**lc.normalised_batch(8, seed=3), "ambient.sigma_min": torch.zeros(8)}
    eps = torch.randn(8, HORIZON, ACTION_DIM, generator=torch.Generator().manual_seed(1))
    t = torch.arange(8) * 12
    calls, handle = lc.record_unet(policy)
    got = ambient_compute_loss(policy, batch, noise=eps, timesteps=t, mask_mean="valid")
    handle.remove()
    mask = (~batch["action_is_pad"]).unsqueeze(-1)
    loss = torch.nn.functional.mse_loss(calls[0][2], eps, reduction="none")
    want = (loss * mask).sum() / (mask.sum() * ACTION_DIM)  # lerobot >= 0.5 (huggingface/lerobot#3442)
    torch.testing.assert_close(got, want, rtol=4 * torch.finfo(torch.float32).eps, atol=0)  # summation order


def test_cameras_are_stacked_as_the_policy_does():
    policy = lc.policy(lc.config(image=True, do_mask_loss_for_padding=True))
    batch = {**lc.normalised_batch(4, seed=4, image=True), "ambient.sigma_min": torch.zeros(4)}
    want, eps, t = lc.lerobot_draws(policy, batch, seed=9)
    assert torch.equal(ambient_compute_loss(policy, batch, noise=eps, timesteps=t), want)


# ----------------------------------------------------------------------------------------------
# the ambient objective on real LeRobot pieces


def test_timesteps_are_drawn_above_each_rows_level():
    policy = lc.policy(lc.config())
    schedule = schedule_of(policy)
    batch = lc.normalised_batch(64, seed=5)
    t_min = torch.tensor([-1, 20, 60, 95] * 16)  # -1: clean
    sigma_min = torch.where(t_min < 0, 0.0, schedule.sigma_for_timestep(t_min.clamp_min(0), dtype=torch.float64))
    batch = Annotations(sigma_min, by="frame", seed=0)({**batch, "index": torch.arange(64)})
    calls, handle = lc.record_unet(policy)
    for seed in range(5):
        ambient_compute_loss(policy, batch, generator=torch.Generator().manual_seed(seed))
        ambient_compute_loss(policy, batch, objective="denoising", generator=torch.Generator().manual_seed(seed))
    handle.remove()
    t = torch.stack([c[1] for c in calls])
    assert bool((t > t_min).all())
    assert set(t[:, t_min == 95].unique().tolist()) <= {96, 97, 98, 99}
    assert t[:, t_min < 0].min() < 20  # clean rows use the whole table
    # the denoising baseline noises the raw actions with LeRobot's own forward process
    eps = torch.randn(64, HORIZON, ACTION_DIM, generator=torch.Generator().manual_seed(6))
    t_fixed = torch.full((64,), 99)
    calls, handle = lc.record_unet(policy)
    ambient_compute_loss(policy, batch, objective="denoising", noise=eps, timesteps=t_fixed)
    handle.remove()
    assert torch.equal(calls[0][0], policy.diffusion.noise_scheduler.add_noise(batch["action"], eps, t_fixed))


class _Affine(torch.nn.Module):
    """Stands in for the U-Net: ``pred = c0 + c1 * x_t`` per action dimension (the Gaussian posterior mean)."""

    def __init__(self, c0, c1):
        super().__init__()
        self.c0, self.c1 = torch.nn.Parameter(c0.float()), torch.nn.Parameter(c1.float())

    def forward(self, x, timestep, global_cond=None):
        return self.c0 + self.c1 * x


@pytest.mark.parametrize("prediction", ["epsilon", "sample"])
def test_the_ambient_gradient_is_unbiased_through_lerobots_normalisation(prediction):
    """Gaussian actions, normalised by LeRobot's own preprocessor; corrupt = clean actions noised to t_min.

    At the clean posterior mean ``h*(x_t)`` the expected gradient of a loss with an unbiased target is
    0. Each component is a mean over ``n = B * horizon`` independent entries, so its standard error is
    ``2 w / (B H D) * sqrt(n Var(h* - T) E[g^2])`` with ``g = 1`` (intercept) or ``x_t`` (slope) and
    ``Var(h* - T)`` estimated by ``loss / w`` (the dimensions are identically distributed after
    normalisation). Tolerance: 4.5 standard errors per component (seeded; P(fail) < 1e-4 for 4
    components if the target were unbiased). The naive loss (the noisy chunks taken as clean data)
    misses by more than 10 standard errors, so the test has the power to see a bias.
    """
    n, t_min, t = 4096, 40, 70
    config = lc.config(prediction_type=prediction)
    policy = lc.policy(config)
    mu, sd = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 3.0])
    stats = {
        "observation.state": {"min": -torch.ones(STATE), "max": torch.ones(STATE)},
        "observation.environment_state": {"min": -torch.ones(ENV), "max": torch.ones(ENV)},
        "action": {"min": mu - 3 * sd, "max": mu + 5 * sd},
    }
    preprocessor, _ = make_diffusion_pre_post_processors(config, stats)
    g = torch.Generator().manual_seed(0)
    raw = {
        "observation.state": torch.rand(n, N_OBS, STATE, generator=g) * 2 - 1,
        "observation.environment_state": torch.rand(n, N_OBS, ENV, generator=g) * 2 - 1,
        "action": mu + sd * torch.randn(n, HORIZON, ACTION_DIM, generator=g, dtype=torch.float64).float(),
        "action_is_pad": torch.zeros(n, HORIZON, dtype=torch.bool),
        "index": torch.arange(n),
    }
    batch = preprocessor(raw)
    # the normalised law N(m, v), read off LeRobot's normaliser
    probe = preprocessor({**raw, "action": torch.stack([mu, mu + sd])[None].expand(n, 2, 2).contiguous()})["action"][0]
    m, v = probe[0].double(), (probe[1] - probe[0]).double() ** 2
    schedule = schedule_of(policy)
    s_m, s_t = (schedule.sigma_for_timestep(torch.tensor(k), dtype=torch.float64) for k in (t_min, t))
    a_t = torch.sqrt(1 - s_t**2)
    denominator = a_t**2 * v + s_t**2
    if prediction == "epsilon":  # E[eps | x_t] and E[x0 | x_t], both affine in x_t
        c1 = s_t / denominator
        c0 = -c1 * a_t * m
    else:
        c1 = a_t * v / denominator
        c0 = m - c1 * a_t * m
    ambient = Annotations(torch.full((n,), s_m.item(), dtype=torch.float64), by="frame", seed=1)(batch)
    naive = {**batch, "action": ambient["ambient.x_tmin"], "ambient.sigma_min": torch.zeros(n, dtype=torch.float64)}
    steps = torch.full((n,), t)
    noise = torch.randn(n, HORIZON, ACTION_DIM, generator=torch.Generator().manual_seed(2))
    second_moment_x_t = (a_t**2 * (v + m**2) + s_t**2).mean()

    def z_scores(b, objective, weight):
        policy.diffusion.unet = _Affine(c0, c1)
        loss = ambient_compute_loss(policy, b, objective=objective, noise=noise, timesteps=steps)
        loss.backward()
        unet = policy.diffusion.unet
        count = n * HORIZON
        scale = 2 * weight / (count * ACTION_DIM) * math.sqrt(count * loss.item() / weight)
        return torch.cat([unet.c0.grad / scale, unet.c1.grad / (scale * second_moment_x_t.sqrt())]).abs()

    w = float(al.loss_weight(s_t, s_m))  # inverse variance: 1 - s_m^2 / s_t^2
    z_ambient = z_scores(ambient, "ambient", w)
    z_naive = z_scores(naive, "denoising", 1.0)
    assert bool((z_ambient < 4.5).all()), z_ambient
    assert z_naive.max() > 10, z_naive


# ----------------------------------------------------------------------------------------------
# bad input: errors name the argument and the value


@pytest.fixture(scope="module")
def small_policy():
    with torch.random.fork_rng(devices=[]):
        return lc.policy(lc.config())


def _annotated(n=4, corrupt=True):
    batch = lc.normalised_batch(n, seed=9)
    sigma_min = torch.tensor([0.0, 0.5, 0.0, 0.5][:n] if corrupt else [0.0] * n, dtype=torch.float64)
    return Annotations(sigma_min, by="frame", seed=0)({**batch, "index": torch.arange(n)})


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda b: {"model": object()}, TypeError, "model must be a LeRobot DiffusionPolicy .* got object"),
        (lambda b: {"objective": "ambiant"}, ValueError, "unknown objective 'ambiant'"),
        (lambda b: {"mask_mean": "sum"}, ValueError, "unknown mask_mean 'sum'"),
        (lambda b: {"reduction": "none"}, ValueError, "unknown reduction 'none'"),
        (lambda b: {"weighting": "inverse"}, ValueError, "unknown weighting 'inverse'"),
        (
            lambda b: {"batch": {k: v for k, v in b.items() if k != "ambient.sigma_min"}},
            KeyError,
            "'ambient.sigma_min'",
        ),
        (
            lambda b: {"batch": {**b, "ambient.sigma_min": torch.tensor([0.0, -0.1, 0, 0])}},
            ValueError,
            r"batch\['ambient.sigma_min'\]\[1\] = -0.1",
        ),
        (
            lambda b: {"batch": {**b, "ambient.sigma_min": torch.zeros(3)}},
            ValueError,
            r"'ambient.sigma_min'\] must have shape \(4,\)",
        ),
        (
            lambda b: {"batch": {k: v for k, v in b.items() if k != "ambient.x_tmin"}},
            KeyError,
            "no 'ambient.x_tmin' but row 1 is corrupt",
        ),
        (
            lambda b: {"batch": {**b, "ambient.x_tmin": b["action"][:, :8]}},
            ValueError,
            "'ambient.x_tmin'\\] must have the shape",
        ),
        (
            lambda b: {"batch": {**b, "action": b["action"][:, :8]}},
            ValueError,
            "has horizon 8 but .* config.horizon is 16",
        ),
        (
            lambda b: {"batch": {k: v for k, v in b.items() if k != "observation.environment_state"}},
            KeyError,
            "'observation.environment_state'",
        ),
        (
            lambda b: {"timesteps": torch.tensor([100, 5, 5, 5])},
            ValueError,
            r"timesteps\[0\] = 100 is outside \[0, 99\]",
        ),
        (lambda b: {"timesteps": torch.tensor([50, 5, 60, 90])}, ValueError, r"timesteps\[1\] = 5 .* not usable"),
        (lambda b: {"timesteps": torch.tensor([1.0, 2.0, 3.0, 4.0])}, TypeError, "timesteps must be an integer tensor"),
        (
            lambda b: {"noise": torch.zeros(4, 16, 3)},
            ValueError,
            r"noise must be a tensor shaped like batch\['action'\]",
        ),
    ],
)
def test_bad_input_names_the_argument_and_the_value(small_policy, change, error, match):
    batch = _annotated()
    kwargs = {"model": small_policy, "batch": batch, **change(batch)}
    model, batch = kwargs.pop("model"), kwargs.pop("batch")
    with pytest.raises(error, match=match):
        ambient_compute_loss(model, batch, **kwargs)


def test_bad_annotations_and_patch_options(small_policy):
    with pytest.raises(ValueError, match="unknown by 'step'"):
        Annotations([0.0], by="step")
    with pytest.raises(ValueError, match=r"sigma_min\[2\] = 1.5 is not a VP level"):
        Annotations([0.0, 0.1, 1.5])
    with pytest.raises(ValueError, match=r"sigma_min\[7\] = nan"):
        Annotations({0: 0.0, 7: math.nan})
    with pytest.raises(ValueError, match="seed must be a non-negative integer or None, got -1"):
        Annotations([0.0], seed=-1)
    with pytest.raises(KeyError, match="sigma_min has no entry for episode_index 4"):
        Annotations({0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0})(lc.normalised_batch(5))
    with pytest.raises(KeyError, match="sigma_min has no entry for episode_index 1"):
        Annotations({0: 0.0, 2: 0.0, 3: 0.0, 4: 0.0})(lc.normalised_batch(5))
    with pytest.raises(KeyError, match="batch has no 'episode_index'"):
        Annotations([0.0])({"action": torch.zeros(1, 16, 2)})
    with pytest.raises(ValueError, match="unknown objective 'clean'"):
        make_ambient(small_policy, objective="clean")
    with pytest.raises(TypeError, match=r"buffer must be an ambientloss\.Buffer or None, got float"):
        make_ambient(small_policy, buffer=0.1)
    assert "compute_loss" not in vars(small_policy.diffusion)  # a failed patch leaves the policy alone
