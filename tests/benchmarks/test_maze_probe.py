"""The convergence probes' ambient rows at a tiny size: levels per method, the cached classifier, weighted rows."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from benchmarks.maze.experiment import Config, build, per_demonstration  # noqa: E402
from benchmarks.maze.probe_levels import frozen_choices, levels_for  # noqa: E402
from benchmarks.maze.probe_report import common_jerk  # noqa: E402
from benchmarks.policy import diffusion  # noqa: E402
from benchmarks.policy.methods import make_draw  # noqa: E402
from benchmarks.policy.mlp import ChunkMLP  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return Config.tiny(), build(None, Config.tiny(), 0, None)


def test_frozen_choices_are_the_protocols():
    assert frozen_choices() == {"eps": 0.05, "level": 45}


@pytest.mark.parametrize("method", ["ambient_level", "ambient_chunk", "ambient_demo"])
def test_hard_levels_of_each_method(one_torch_thread, tiny, tmp_path, method):
    cfg, s = tiny
    n = len(s.pools.xl)
    sm, w, rec = levels_for(method, s, design="default", seed=0, cache=tmp_path, level=45, eps=0.05, cfg=cfg)
    assert w is None
    assert sm.shape == (n,)
    if method == "ambient_level":
        assert torch.equal(sm, torch.full((n,), float(s.pools.table.sigmas[45])))
        return
    saved = torch.load(next((tmp_path / "classifier").glob("*.pt")), weights_only=False)
    chunk = saved["sigma_min"]
    # the cached classifier's levels are the chunk row's, and the demonstration row pools them per RRT demo
    assert torch.equal(sm, chunk if method == "ambient_chunk" else per_demonstration(s, chunk))
    for g in set(s.groups.tolist()):
        rows = torch.as_tensor(s.groups == g)
        if method == "ambient_demo":
            assert torch.all(sm[rows] == chunk[rows].max())
    assert set(rec["classifier_accuracy"]) == {0, 5, 10, 20, 40}


def test_classifier_is_trained_once_and_reloaded(one_torch_thread, tiny, tmp_path):
    cfg, s = tiny
    a, _, _ = levels_for("ambient_chunk", s, design="d", seed=0, cache=tmp_path, level=45, eps=0.05, cfg=cfg)
    f = next((tmp_path / "classifier").glob("*.pt"))
    stamp = f.stat().st_mtime_ns
    b, _, _ = levels_for("ambient_demo", s, design="d", seed=0, cache=tmp_path, level=45, eps=0.05, cfg=cfg)
    assert f.stat().st_mtime_ns == stamp
    assert torch.equal(b, per_demonstration(s, a))


def test_weighted_rows_carry_their_weight_and_scale_the_loss(one_torch_thread, tiny):
    _, s = tiny
    n = len(s.pools.xl)
    sm = torch.full((n,), float(s.pools.table.sigmas[45]))
    draw = make_draw(s.pools, batch_size=64, use_low=True, sigma_min=sm, weight=torch.full((n,), 2.0))
    b = draw(torch.Generator().manual_seed(0))
    low = b.sigma_min > 0
    assert low.any()
    assert (~low).any()
    assert torch.equal(b.weight, torch.where(low, 2.0, 1.0))
    with pytest.raises(ValueError, match=rf"weight must have shape \({n},\)"):
        make_draw(s.pools, batch_size=4, use_low=True, weight=torch.ones(n + 1))
    torch.manual_seed(0)
    net = ChunkMLP(2, 6, horizon=16, hidden=16, depth=1)
    loss_fn = diffusion.loss_function(s.pools.table)

    def loss(weight):
        m = copy.deepcopy(net)
        opt = torch.optim.SGD(m.parameters(), lr=0.0)
        g = torch.Generator().manual_seed(1)
        return float(diffusion.step(m, copy.deepcopy(m), opt, loss_fn, b._replace(weight=weight), g, 0.9).detach())

    plain = loss(None)
    # every row has the same number of entries: the per-row means' mean is the plain mean, and weights scale it
    assert loss(torch.ones(64)) == pytest.approx(plain, rel=1e-6)
    assert loss(torch.full((64,), 3.0)) == pytest.approx(3 * plain, rel=1e-6)


def test_common_jerk_uses_only_queries_every_run_solves():
    a = {"name": "a", "best": {"per_query": {"success": [True, True, True], "jerk": [1.0, 3.0, 9.0]}}}
    b = {"name": "b", "best": {"per_query": {"success": [False, True, True], "jerk": [2.0, 4.0, 5.0]}}}
    assert common_jerk([a, b]) == ({"a": 6.0, "b": 4.5}, 2)


def test_convergence_section_records_the_gate_from_runs_of_the_frozen_budget(tmp_path):
    import json

    from benchmarks.maze.convergence_protocol import BUDGET, record

    def run(method, ok, widths=(16, 32)):
        per_query = {"success": ok, "jerk": [float(i + 1) for i in range(len(ok))]}
        best = {"success": sum(ok) / len(ok), "success_in": 0.5, "success_out": 0.5, "jerk": 1.0, "collided": 0.0}
        curve = [{"step": 500, "success": best["success"], "jerk": 1.0, "heldout_loss": 0.1}]
        return {
            "name": f"lower-{method}",
            "design": "lower",
            "method": method,
            "net": {"kind": "unet", "widths": list(widths)},
            "criterion": BUDGET["criterion"],
            "best": {**best, "per_query": per_query},
            "best_step": 500,
            "stopped_at": 500,
            "reason": "patience",
            "curve": curve,
        }

    (tmp_path / "runs").mkdir()
    for name, r in {
        "a-s0": run("clean", [True, False, False, False, True]),
        "b-s0": run("cotrain", [True, True, False, True, True]),
        "c-s0": run("ambient_level", [False] * 5, widths=(32, 64)),  # another budget: not part of the record
    }.items():
        (tmp_path / "runs" / f"{name}.json").write_text(json.dumps(r))
    protocol = tmp_path / "protocol.json"
    protocol.write_text(json.dumps({"config": {"steps": 2000}}))
    sec = record(protocol, tmp_path / "runs")
    assert set(sec["rows"]) == {"clean", "cotrain"}
    assert sec["regime_gate"] == {"clean": 0.4, "cotrain": 0.8, "margin": 0.1, "holds": True}
    assert sec["common_n"] == 2
    assert sec["rows"]["clean"]["jerk_common"] == 3.0  # queries 0 and 4: jerk 1 and 5
    assert not sec["rows"]["clean"]["interim"]  # stopped by patience
    assert json.loads(protocol.read_text())["config"] == {"steps": 2000}


def test_soft_rows_take_the_dataset_level_and_the_odds_at_their_frozen_x_m(one_torch_thread, tiny, tmp_path):
    from ambientloss import frozen_x_tmin

    cfg, s = tiny
    n = len(s.pools.xl)
    sm, w, rec = levels_for("ambient_soft", s, design="d", seed=3, cache=tmp_path, level=30, eps=0.05, cfg=cfg)
    level = float(s.pools.table.sigmas[30])
    assert torch.equal(sm, torch.full((n,), level))
    saved = torch.load(next((tmp_path / "classifier").glob("*.pt")), weights_only=False)
    p = saved["p_corrupt"][30]  # kept beside the classifier: chunks x levels asked for
    x_m = frozen_x_tmin(s.pools.xl, torch.arange(n), sm, seed=3, schedule=s.pools.table)
    torch.testing.assert_close(p, saved["model"].probability(x_m, sm, probability="corrupt"))
    torch.testing.assert_close(w.double(), ((1 - p.double()) / p.double()).float().double())
    assert rec["level"] == 30
    assert rec["weight"]["min"] <= rec["weight"]["median"] <= rec["weight"]["max"]
