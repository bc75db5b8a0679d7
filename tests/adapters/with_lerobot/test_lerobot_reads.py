"""Host reads of one LeRobot training step: the annotations and the levels are read once each, at most.

A clean batch at LeRobot's own draws reads the host once (the annotations, and which rows take a truncated
timestep); a mixed batch once more (its one ``Levels``); with the caller's timesteps and checks off, never.
"""

from __future__ import annotations

import pytest

lerobot = pytest.importorskip("lerobot")

import lerobot_common as lc  # noqa: E402
import torch  # noqa: E402
from host_reads import count_host_reads  # noqa: E402

import ambientloss as al  # noqa: E402
from ambientloss.adapters.lerobot import Annotations, ambient_compute_loss  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # one torch thread, the global generator restored


@pytest.fixture(scope="module")
def policy():
    with torch.random.fork_rng(devices=[]):
        return lc.policy(lc.config())


def _batch(corrupt):
    n = 8
    sigma_min = torch.tensor([0.0, 0.5] * (n // 2) if corrupt else [0.0] * n, dtype=torch.float64)
    return Annotations(sigma_min, by="frame", seed=0)({**lc.normalised_batch(n, seed=3), "index": torch.arange(n)})


def _reads(policy, batch, enabled, **kwargs):
    ambient_compute_loss(policy, batch, generator=torch.Generator().manual_seed(0), **kwargs)  # first-call work
    with al.checks(enabled), count_host_reads(torch) as reads:
        loss = ambient_compute_loss(policy, batch, generator=torch.Generator().manual_seed(0), **kwargs)
    assert bool(torch.isfinite(loss))
    return reads[0], loss


@pytest.mark.parametrize("objective", ["ambient", "denoising"])
@pytest.mark.parametrize(("corrupt", "on", "off"), [(False, 1, 1), (True, 2, 1)], ids=["clean", "mixed"])
def test_a_training_step_reads_the_annotations_and_the_levels_once(policy, objective, corrupt, on, off):
    batch = _batch(corrupt)
    reads_on, loss_on = _reads(policy, batch, True, objective=objective)
    reads_off, loss_off = _reads(policy, batch, False, objective=objective)
    assert (reads_on, reads_off) == (on, off)
    assert torch.equal(loss_on, loss_off)  # the checks read values; they change none


def test_given_timesteps_with_checks_off_read_nothing(policy):
    batch = _batch(corrupt=True)
    t = torch.tensor([10, 90, 20, 95, 30, 92, 40, 97])  # every row's level above its sigma_min
    reads, loss = _reads(policy, batch, False, timesteps=t)
    assert reads == 0
    assert torch.equal(loss, _reads(policy, batch, True, timesteps=t)[1])
