"""Bin-sorting experiment: data rows, encoding, annotation bounds and every stage at the tiny configuration."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from ambientloss import usable
from benchmarks.sorting import data, env, experiment, expert, protocol, windows
from benchmarks.sorting.__main__ import main

LAYOUT = env.make_layout(None)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _demos(n=3, rule="correct", seed=0):
    return expert.expert_demos(LAYOUT, n, np.random.default_rng(seed), rule=rule)


def test_chunk_shapes_and_padding():
    demos = _demos()
    obs, x = data.chunks(demos)
    total = sum(len(a) for _, a in demos)
    assert obs.shape == (total, data.OBS_FEATURES)
    assert x.shape == (total, data.HORIZON, 3)
    assert np.abs(obs).max() <= 1
    assert np.abs(x).max() <= 1 + 1e-6
    assert set(np.unique(x[..., 2])) <= {-1.0, 1.0}
    # the last row of a demo repeats its last action over the whole chunk
    last = x[len(demos[0][1]) - 1]
    np.testing.assert_allclose(last, np.broadcast_to(last[0], last.shape))
    # row t starts with action t, relative to the gripper at t
    o, a = demos[0]
    np.testing.assert_allclose(x[5, 0, :2] * data.SCALE + o[5, :2], a[5, :2], atol=1e-6)
    obs2, _ = data.chunks(demos, stride=4)
    assert len(obs2) == sum(len(range(0, len(a), 4)) for _, a in demos)


def test_decode_inverts_encode():
    o, a = _demos(1)[0]
    future = np.minimum(np.arange(data.HORIZON), len(a) - 1)
    chunk = data.encode(a[future][None], o[:1, :2])
    np.testing.assert_allclose(data.decode(chunk, data.normalise_obs(o[:1])), a[future][None], atol=1e-12)


def test_decoded_demo_chunks_replay_the_demo():
    demos = _demos(2)
    _, x = data.chunks(demos)
    first = np.cumsum([0] + [len(a) for _, a in demos])[:-1]
    e = env.BatchEnv(
        LAYOUT,
        env.Tasks(
            np.stack([o[0, :2] for o, _ in demos]),
            np.stack([o[0, 5:7] for o, _ in demos]),
            np.array([int(o[0, 7] > 0) for o, _ in demos]),
        ),
    )
    while not e.done.all():
        rows = first + np.minimum(e.steps, [len(a) - 1 for _, a in demos])
        e.step(data.decode(x[rows, :1].astype(np.float64), data.normalise_obs(e.observe()))[:, 0])
    assert e.metrics()["logic"].all()


def test_window_views_and_table():
    x = torch.as_tensor(data.chunks(_demos())[1])
    w = windows.windows(x, 4)
    assert w.shape == (len(x), data.HORIZON - 3, 4, 3)
    assert torch.all(w[:, :, 0, :2] == 0)
    table = windows.level_table(x, (2, 4, 8, 16))
    assert list(table.values()) == sorted(table.values())
    assert all(0 < v < 1 for v in table.values())


@pytest.fixture(scope="module")
def tiny_setting():
    cfg = experiment.Config.tiny()
    return cfg, experiment.build(None, cfg, 0)


def test_omni_rows_usable_exactly_below_sigma_max(tiny_setting):
    cfg, s = tiny_setting
    lo, hi = experiment.sigma_bounds(s, "omni_sweep", dataclasses.replace(cfg, omni_t=10), 0)
    sig = s.pools.table.sigmas
    n = len(lo)
    for t, expected in ((9, True), (10, False), (99, False)):
        ok = usable(torch.full((n,), float(sig[t])), lo, hi, schedule=s.pools.table)
        assert bool(ok.all()) is expected
        assert bool(ok.any()) is expected


def test_every_method_tiny(tiny_setting):
    cfg, s = tiny_setting
    r = experiment.run_seed(s, cfg, 0, "val", n_traces=2)
    assert set(r["variants"]) == set(experiment.METHODS)
    for v in r["variants"].values():
        assert 0 <= v["logic"] <= v["completion"] <= 1
    assert len(r["variants"]["clean"]["traces"]) == 2
    assert "table" in r["window"]


def test_tune_and_cli_tiny(tmp_path):
    cfg = experiment.Config.tiny()
    proto = protocol.tune(cfg, sweep=(5, 20), levels=(10,), eps=(0.1,), log=lambda s: None)
    assert proto["config"]["omni_t"] in (5, 20)
    path = tmp_path / "protocol.json"
    path.write_text(json.dumps(proto))
    assert protocol.load(path, cfg).omni_t == proto["config"]["omni_t"]
    assert main(["tiny", "--rows", "clean", "cotrain", "omni_sweep", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    assert set(result["summary"]["default"]) == {"clean", "cotrain", "omni_sweep"}
    assert (tmp_path / "traces.png").exists()
    assert (tmp_path / "logic_vs_completion.png").exists()
