"""Training LeRobot's Diffusion Policy ambiently (lerobot 0.4.4): preprocessor, ``policy.forward``,
``select_action``, the annotation tables, and saving and reloading a patched policy.

Skipped without LeRobot (it runs in its own venv, ``.ci/lerobot.sh``); nothing is downloaded.
"""

from __future__ import annotations

import math

import pytest

lerobot = pytest.importorskip("lerobot")

import lerobot_common as lc  # noqa: E402
import torch  # noqa: E402
from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy  # noqa: E402
from lerobot.policies.diffusion.processor_diffusion import make_diffusion_pre_post_processors  # noqa: E402
from lerobot_common import ACTION_DIM, ENV, HORIZON, N_OBS, SMALL, STATE  # noqa: E402

import ambientloss as al  # noqa: E402
from ambientloss.adapters.lerobot import Annotations, ambient_compute_loss, make_ambient, schedule_of  # noqa: E402
from ambientloss.adapters.torch import truncated_timesteps  # noqa: E402
from ambientloss.sampling import DiscreteTimesteps  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # one torch thread, the global generator restored

# ----------------------------------------------------------------------------------------------
# training with LeRobot's preprocessor, policy.forward and select_action

EPISODES, FRAMES, BAD = 12, 40, range(4, 12)
STATS = {
    "observation.state": {"min": -torch.ones(STATE), "max": torch.ones(STATE)},
    "observation.environment_state": {"min": -torch.ones(ENV), "max": torch.ones(ENV)},
    "action": {"min": -torch.full((ACTION_DIM,), 1.5), "max": torch.full((ACTION_DIM,), 1.5)},
}


def _raw_frames(index):
    """Frames of a toy dataset, as LeRobot's dataloader yields them: circles, jittery in the bad episodes."""
    episode, k = index // FRAMES, index % FRAMES
    phase = 0.7 * episode.double()
    steps = k[:, None] + torch.arange(1 - N_OBS, 1 - N_OBS + HORIZON)[None, :]
    is_pad = (steps < 0) | (steps >= FRAMES)
    steps = steps.clamp(0, FRAMES - 1)  # copy-padding at the episode ends
    angle = phase[:, None] + 0.2 * steps
    action = torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
    jitter = torch.sin(37.0 * angle[..., None] + torch.arange(2)) * 0.3
    action = action + jitter * torch.tensor([e in BAD for e in episode.tolist()])[:, None, None]
    obs_steps = (k[:, None] + torch.arange(1 - N_OBS, 1)[None, :]).clamp(0, FRAMES - 1)
    obs_angle = phase[:, None] + 0.2 * obs_steps
    state = torch.stack([torch.cos(obs_angle), torch.sin(obs_angle), 0 * obs_angle, 0 * obs_angle + 1], dim=-1)
    env = torch.cat([state, state[..., :2] * 0.5], dim=-1)
    return {
        "observation.state": state.float(),
        "observation.environment_state": env.float(),
        "action": action.float(),
        "action_is_pad": is_pad,
        "index": index,
        "episode_index": episode,
    }


@pytest.fixture(scope="module")
def trained():
    """A small policy trained 60 steps on 4 clean and 8 jittery episodes, through the patched forward."""
    with torch.random.fork_rng(devices=[]):
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        config = lc.config(SMALL, do_mask_loss_for_padding=True, num_inference_steps=10)
        policy = lc.policy(config)
        preprocessor, postprocessor = make_diffusion_pre_post_processors(config, STATS)
        bad_episodes = BAD
        make_ambient(policy)  # policy.forward(batch) now returns the ambient loss
        t_min = torch.tensor(30)  # the bad episodes are trusted from timestep 30 up
        level = schedule_of(policy).sigma_for_timestep(t_min, dtype=torch.float64).item()
        annotate = Annotations({e: level if e in bad_episodes else 0.0 for e in range(EPISODES)}, by="episode", seed=0)
        evaluation = annotate(preprocessor(_raw_frames(torch.arange(0, EPISODES * FRAMES, 5))))
        g = torch.Generator().manual_seed(0)
        eval_noise = torch.randn(evaluation["action"].shape, generator=g)
        base = DiscreteTimesteps(schedule_of(policy))
        eval_t = truncated_timesteps(evaluation["ambient.sigma_min"], base=base, generator=g)

        def evaluate():
            with torch.no_grad():
                return ambient_compute_loss(policy, evaluation, noise=eval_noise, timesteps=eval_t).item()

        optimizer = torch.optim.AdamW(policy.get_optim_params(), lr=2e-3)
        torch.manual_seed(1)
        losses, start = [], evaluate()
        for _ in range(60):
            batch = preprocessor(_raw_frames(torch.randint(0, EPISODES * FRAMES, (32,))))
            batch = annotate(batch)  # after the preprocessor: it drops unknown keys, x_tmin needs normalised actions
            loss, _ = policy.forward(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        torch.set_num_threads(before)
        yield policy, preprocessor, postprocessor, start, evaluate(), losses


def test_a_few_training_steps_lower_the_loss(trained):
    _, _, _, start, end, losses = trained
    assert all(math.isfinite(v) for v in losses)
    assert end < 0.6 * start, (start, end)


def test_select_action_after_training(trained):
    policy, preprocessor, postprocessor, *_ = trained
    policy.eval()
    policy.reset()
    frames = _raw_frames(torch.tensor([3]))
    obs = {k: frames[k][:, -1] for k in ("observation.state", "observation.environment_state")}
    torch.manual_seed(0)
    actions = [postprocessor(policy.select_action(preprocessor(dict(obs)))) for _ in range(3)]
    for action in actions:
        assert action.shape == (1, ACTION_DIM)
        assert bool(torch.isfinite(action).all())
        assert bool((action.abs() <= 1.5 + 1e-5).all())  # clip_sample: inside the normalisation range
    policy.train()


# ----------------------------------------------------------------------------------------------
# annotations


def test_annotations_look_up_episodes_or_frames_and_freeze_x_tmin():
    batch = lc.normalised_batch(6, seed=7)
    per_episode = Annotations([0.0, 0.3, 0.0, 0.6, 0.0], [0.0, 0.2, 0.0, 0.0, 0.0], by="episode", seed=11)
    out = per_episode(batch)
    assert "ambient.sigma_min" not in batch  # the input is not modified
    assert out["ambient.sigma_min"].tolist() == [0.0, 0.3, 0.0, 0.6, 0.0, 0.0]
    assert out["ambient.sigma_max"].tolist() == [0.0, 0.2, 0.0, 0.0, 0.0, 0.0]
    clean = out["ambient.sigma_min"] == 0
    assert torch.equal(out["ambient.x_tmin"][clean], batch["action"][clean])
    # frozen: keyed by the frame index, whatever the batch order
    reordered = per_episode({k: v.flip(0) for k, v in batch.items()})
    assert torch.equal(reordered["ambient.x_tmin"].flip(0), out["ambient.x_tmin"])
    want = al.frozen_x_tmin(batch["action"], batch["index"], out["ambient.sigma_min"], seed=11)
    assert torch.equal(out["ambient.x_tmin"], want)
    per_frame = Annotations(torch.linspace(0, 0.5, 64), by="frame")
    assert torch.equal(per_frame(batch)["ambient.sigma_min"], torch.linspace(0, 0.5, 64).double()[batch["index"]])
    assert "ambient.x_tmin" not in per_frame(batch)


def test_sigma_max_rows_below_their_window_train_as_clean():
    policy = lc.policy(lc.config())
    schedule = schedule_of(policy)
    level = lambda k: schedule.sigma_for_timestep(torch.tensor(k), dtype=torch.float64).item()  # noqa: E731
    batch = Annotations([level(60)] * 5, [level(10)] * 5, by="episode", seed=0)(lc.normalised_batch(8, seed=8))
    eps = torch.randn(8, HORIZON, ACTION_DIM, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([3, 80, 5, 90, 9, 70, 0, 99])  # below the window -> clean; above t_min -> ambient
    calls, handle = lc.record_unet(policy)
    ambient_compute_loss(policy, batch, noise=eps, timesteps=t)
    handle.remove()
    low = t < 10
    assert torch.equal(calls[0][0][low], policy.diffusion.noise_scheduler.add_noise(batch["action"], eps, t)[low])
    with pytest.raises(ValueError, match=r"timesteps\[0\] = 30 .* not usable"):
        ambient_compute_loss(policy, batch, noise=eps, timesteps=torch.full((8,), 30))


# ----------------------------------------------------------------------------------------------
# saving and reloading


def test_save_pretrained_keeps_the_weights_and_reloading_takes_one_call(tmp_path):
    """``save_pretrained`` writes LeRobot's files only; ``make_ambient(from_pretrained(path), ...)`` resumes."""
    policy = make_ambient(lc.policy(lc.config(SMALL, do_mask_loss_for_padding=True)), mask_mean="valid", seed=7)
    level = schedule_of(policy).sigma_for_timestep(torch.tensor(40), dtype=torch.float64).item()
    batch = Annotations([0.0, level, 0.0, level, 0.0], by="episode", seed=0)(lc.normalised_batch(10, seed=12))
    optimizer = torch.optim.AdamW(policy.get_optim_params(), lr=1e-3)
    loss, _ = policy.forward(batch)  # one step: the saved weights are not the initial ones
    loss.backward()
    optimizer.step()
    make_ambient(policy, mask_mean="valid", seed=7)  # patched again: its generator starts from the seed again
    torch.manual_seed(3)
    want, _ = policy.forward(batch)

    policy.save_pretrained(tmp_path / "checkpoint")
    reloaded = DiffusionPolicy.from_pretrained(tmp_path / "checkpoint")
    reloaded.train()
    state, saved = policy.state_dict(), reloaded.state_dict()
    assert state.keys() == saved.keys()
    assert all(torch.equal(state[k], saved[k]) for k in state)
    # the patch is not saved: the reloaded policy computes LeRobot's own loss (the ambient keys ignored)
    assert "compute_loss" not in vars(reloaded.diffusion)
    torch.manual_seed(3)
    plain, _ = reloaded.forward(batch)
    del policy.diffusion.compute_loss
    torch.manual_seed(3)
    assert torch.equal(plain, policy.forward(batch)[0])
    # the documented reload call, with the options of the first: the same ambient loss bit for bit
    make_ambient(reloaded, mask_mean="valid", seed=7)
    torch.manual_seed(3)
    again, _ = reloaded.forward(batch)
    assert torch.equal(again, want)
    assert not torch.equal(again, plain)
