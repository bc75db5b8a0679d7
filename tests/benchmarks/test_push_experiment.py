"""Pushing experiment: chunk encoding, the joint classifier's input handling, and every stage at the tiny size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from benchmarks.policy.driver import run_test
from benchmarks.policy.io import jsonable
from benchmarks.push import data, env, experiment, joint, protocol, report
from benchmarks.push.__main__ import main
from benchmarks.push.benchmark import BENCHMARK
from benchmarks.push.expert import expert_demos, replay

LAYOUT = env.make_layout(None)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _demos(n=2, dynamics=env.REAL, seed=0):
    return expert_demos(LAYOUT, n, np.random.default_rng(seed), dynamics)


def test_chunk_shapes_range_and_padding():
    demos = _demos()
    obs, x = data.chunks(demos)
    total = sum(len(a) for _, a in demos)
    assert obs.shape == (total, 8)
    assert x.shape == (total, data.HORIZON, 2)
    assert np.abs(obs).max() <= 1
    assert np.abs(x).max() <= 1
    # the expert's chunks fit the scale without clipping
    assert np.abs(x).max() < 0.95
    last = x[len(demos[0][1]) - 1]
    np.testing.assert_allclose(last, np.broadcast_to(last[0], last.shape))
    o, a = demos[0]
    np.testing.assert_allclose(x[5, 0] * data.SCALE + o[5, :2], a[5], atol=1e-6)
    np.testing.assert_allclose(x[5, 3] * data.SCALE + o[5, :2], a[8], atol=1e-6)
    assert len(data.chunks(demos, stride=4)[0]) == sum(len(range(0, len(a), 4)) for _, a in demos)


def test_decode_inverts_encode():
    o, a = _demos(1)[0]
    future = np.minimum(np.arange(3, 3 + data.HORIZON), len(a) - 1)
    chunk = data.encode(a[future][None], o[3:4, :2])
    np.testing.assert_allclose(data.decode(chunk, data.normalise_obs(o[3:4])), a[future][None], atol=1e-12)


def test_decoded_chunks_replay_the_demo():
    (o, a), = _demos(1, seed=3)
    obs, x = data.chunks([(o, a)])
    first = data.decode(x[:, :1].astype(np.float64), obs.astype(np.float64))[:, 0]
    np.testing.assert_allclose(first, a, atol=1e-6)


def test_replayed_real_demo_succeeds():
    rng = np.random.default_rng(4)
    tasks = env.sample_tasks(LAYOUT, 1, rng)
    from benchmarks.push.expert import expert_episode

    _, a = expert_episode(LAYOUT, tasks, rng, env.REAL)
    assert replay(LAYOUT, tasks, env.REAL, [a]).metrics()["success"][0]


def test_joint_classifier_recovers_the_observation():
    cfg = experiment.Config.tiny()
    s = experiment.build(None, cfg, 0)
    model = joint.fit(s.pools, seed=0, steps=2)
    seen = []
    original = model.forward

    def spy(x_t, sigma):
        seen.append(x_t[:, 0, 2:].clone())
        return original(x_t, sigma)

    model.forward = spy
    sm = joint.sigma_min_of(model, s.pools, eps=0.1, seed=0, n_draws=2)
    assert sm.shape == (len(s.pools.xl),)
    assert torch.isfinite(sm).all()
    obs_rows = {tuple(np.round(r, 4)) for r in s.pools.ol.numpy()}
    seen_rows = {tuple(np.round(r, 4)) for r in torch.cat(seen).numpy()}
    assert seen_rows <= obs_rows


def test_prior_correction_removes_observation_only_odds():
    model = joint.NoiseConditionalClassifier((4, 3), positive="corrupt", pooling="conv", hidden=8)
    torch.nn.init.zeros_(model.head[0].weight)
    # a logit that depends on the observation only gives P = 1/2 after the correction
    model.head[0].bias.data.fill_(3.0)
    p = joint.probability(model, torch.randn(5, 4, 2), torch.randn(5, 1), torch.full((5,), 0.3), 0.99)
    np.testing.assert_allclose(p.numpy(), 0.5, atol=1e-6)


def test_select_prefers_success_then_distance_then_order():
    c = {"a": {"success": 0.5, "final_distance": 0.2}, "b": {"success": 0.5, "final_distance": 0.1},
         "c": {"success": 0.5, "final_distance": 0.1}}
    assert protocol.select(c) == "b"


def test_tiny_stages_end_to_end(tmp_path, capsys):
    assert main(["tiny", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "real only" in out
    assert "co-training" in out
    assert "Target" in out
    result = json.loads((tmp_path / "results.json").read_text())
    runs = result["layouts"]["default"]
    assert set(runs[0]["variants"]) == set(experiment.VARIANTS)
    assert result["protocol"]["config"]["classifier_input"] in protocol.INPUTS
    assert (tmp_path / "push-default-traces.png").exists()
    assert (tmp_path / "push-default-success.png").exists()
    summ = report.rows(runs)
    assert 0 <= summ["clean:ambient"]["success"]["mean"] <= 100


def test_seeds_in_worker_processes_give_the_same_numbers():
    # Every seed draws from its own generators and runs with one torch thread, so running the seeds side
    # by side in worker processes (the quick mode) changes nothing: equal results, compared exactly.
    proto = protocol.tune(experiment.Config.tiny(), cache=None, log=lambda _: None, steps_candidates=(2,))
    rows = experiment.VARIANTS
    one = run_test(BENCHMARK, proto, [None], [0, 1], rows, cache=None, log=lambda _: None)
    two = run_test(BENCHMARK, proto, [None], [0, 1], rows, cache=None, log=lambda _: None, jobs=2)
    assert [r["seed"] for r in two["layouts"]["default"]] == [0, 1]
    assert json.dumps(jsonable(one), sort_keys=True) == json.dumps(jsonable(two), sort_keys=True)
