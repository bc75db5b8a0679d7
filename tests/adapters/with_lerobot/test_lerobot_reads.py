"""Host reads and random streams of one LeRobot training step.

With checks on, a step reads the host once (the annotations, the timesteps' usability and a missing
trusted chunk, in one ``tolist``), whether the batch is clean or mixed; with checks off, never. The
corrupt rows' uniforms come from the patch's own generator, one per row: LeRobot's global stream moves
as under its own loss, and a seed fixes the ambient draws.
"""

from __future__ import annotations

import pytest

lerobot = pytest.importorskip("lerobot")

import lerobot_common as lc  # noqa: E402
import torch  # noqa: E402
from host_reads import count_host_reads  # noqa: E402

import ambientloss as al  # noqa: E402
from ambientloss.adapters.lerobot import Annotations, ambient_compute_loss, make_ambient  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # one torch thread, the global generator restored


@pytest.fixture(scope="module")
def policy():
    with torch.random.fork_rng(devices=[]):
        return lc.policy(lc.config())


def _batch(corrupt, seed=0):
    n = 8
    sigma_min = torch.tensor([0.0, 0.5] * (n // 2) if corrupt else [0.0] * n, dtype=torch.float64)
    batch = {**lc.normalised_batch(n, seed=3), "index": torch.arange(n)}
    return Annotations(sigma_min, by="frame", seed=seed)(batch)


def _reads(policy, batch, enabled, **kwargs):
    ambient_compute_loss(policy, batch, generator=torch.Generator().manual_seed(0), **kwargs)  # first-call work
    with al.checks(enabled), count_host_reads(torch) as reads:
        loss = ambient_compute_loss(policy, batch, generator=torch.Generator().manual_seed(0), **kwargs)
    assert bool(torch.isfinite(loss))
    return reads[0], loss


@pytest.mark.parametrize("objective", ["ambient", "denoising"])
@pytest.mark.parametrize("corrupt", [False, True], ids=["clean", "mixed"])
def test_a_step_reads_once_with_checks_and_never_without(policy, objective, corrupt):
    batch = _batch(corrupt)
    reads_on, loss_on = _reads(policy, batch, True, objective=objective)
    reads_off, loss_off = _reads(policy, batch, False, objective=objective)
    assert (reads_on, reads_off) == (1, 0)
    assert torch.equal(loss_on, loss_off)  # the checks read values; they change none


@pytest.mark.parametrize("corrupt", [False, True], ids=["clean", "mixed"])
def test_a_patched_policys_step_reads_once_with_checks_and_never_without(corrupt):
    with torch.random.fork_rng(devices=[]):
        patched = make_ambient(lc.policy(lc.config()), seed=0)
    batch = _batch(corrupt)
    patched.forward(batch)  # first-call work: the policy's table
    counts = []
    for enabled in (True, False):
        with al.checks(enabled), count_host_reads(torch) as reads:
            loss, _ = patched.forward(batch)
        assert bool(torch.isfinite(loss))
        counts.append(reads[0])
    assert counts == [1, 0]


def test_a_missing_trusted_chunk_is_checked_by_the_same_read(policy):
    batch = _batch(corrupt=True)
    del batch["ambient.x_tmin"]
    ambient_compute_loss(policy, _batch(corrupt=False), generator=torch.Generator().manual_seed(0))
    with count_host_reads(torch) as reads, pytest.raises(KeyError, match=r"no 'ambient.x_tmin' but row 1 is corrupt"):
        ambient_compute_loss(policy, batch, generator=torch.Generator().manual_seed(0))
    assert reads[0] >= 1  # the step's read found it, then the message reads the row
    with al.checks(False), count_host_reads(torch) as reads:
        loss = ambient_compute_loss(policy, batch, generator=torch.Generator().manual_seed(0))
    assert reads[0] == 0
    assert bool(torch.isnan(loss))  # unchecked: the corrupt rows' missing chunk is NaN, never a finite loss


def test_given_timesteps_read_once_with_checks_and_never_without(policy):
    batch = _batch(corrupt=True)
    t = torch.tensor([10, 90, 20, 95, 30, 92, 40, 97])  # every row's level above its sigma_min
    reads_off, loss = _reads(policy, batch, False, timesteps=t)
    reads_on, loss_on = _reads(policy, batch, True, timesteps=t)
    assert (reads_on, reads_off) == (1, 0)
    assert torch.equal(loss, loss_on)


@pytest.mark.parametrize("corrupt", [False, True], ids=["clean", "mixed"])
def test_a_patched_step_moves_the_global_stream_as_lerobots_own_loss(corrupt):
    # LeRobot's compute_loss draws randn(action.shape) then randint(0, N, (B,)) from the global
    # generator; the patched loss draws exactly those from it, and the corrupt rows' uniforms from its own.
    with torch.random.fork_rng(devices=[]):
        policy = lc.policy(lc.config())
    batch = _batch(corrupt)
    torch.manual_seed(11)
    policy.forward(batch)
    want = torch.get_rng_state()
    make_ambient(policy, seed=5)
    torch.manual_seed(11)
    policy.forward(batch)
    assert torch.equal(torch.get_rng_state(), want)


def _unet_timesteps(policy, batch, steps):
    calls, handle = lc.record_unet(policy)
    for step in range(steps):
        torch.manual_seed(step)  # LeRobot's draws the same in every run
        policy.forward(batch)
    handle.remove()
    return torch.stack([c[1] for c in calls])


def test_the_seed_fixes_the_ambient_draws_and_only_them():
    with torch.random.fork_rng(devices=[]):
        policy = lc.policy(lc.config())
    batch = _batch(corrupt=True)
    corrupt = batch["ambient.sigma_min"] > 0
    runs = {}
    for seed in (1, 1, 2):
        make_ambient(policy, seed=seed)
        runs.setdefault(seed, []).append(_unet_timesteps(policy, batch, steps=4))
    assert torch.equal(runs[1][0], runs[1][1])  # the same seed: the same timesteps, step after step
    assert torch.equal(runs[1][0][:, ~corrupt], runs[2][0][:, ~corrupt])  # clean rows: LeRobot's draws
    # another seed, other corrupt rows' timesteps: 16 draws among the 51 timesteps above 0.5 (N = 100)
    # all equal by chance has probability 51^-16
    assert not torch.equal(runs[1][0][:, corrupt], runs[2][0][:, corrupt])


def test_the_default_seed_follows_the_global_generator_without_drawing_from_it():
    with torch.random.fork_rng(devices=[]):
        policy = lc.policy(lc.config())
    batch = _batch(corrupt=True)
    seen = []
    for seed in (4, 4, 9):
        torch.manual_seed(seed)
        state = torch.get_rng_state()
        make_ambient(policy)
        assert torch.equal(torch.get_rng_state(), state)  # nothing drawn
        seen.append(policy.diffusion.compute_loss.draws.seed)
        seen_t = _unet_timesteps(policy, batch, steps=2)
        seen.append(seen_t)
    assert seen[0] == seen[2]  # the same global seed: the same seed and the same draws
    assert torch.equal(seen[1], seen[3])
    assert seen[4] != seen[0]


def test_a_bad_seed_is_refused(policy):
    with pytest.raises(ValueError, match=r"seed must be a non-negative int or None, got -1"):
        make_ambient(policy, seed=-1)
