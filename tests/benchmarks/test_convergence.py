"""The convergence rule on synthetic validation curves, and a tiny real training that stops, picks its best
checkpoint and resumes from its saved state."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks.policy import diffusion
from benchmarks.policy.convergence import Criterion, best_checkpoint, better, stopping_point, train_to_convergence
from benchmarks.policy.methods import Pools, make_draw
from benchmarks.policy.mlp import ChunkMLP, make_denoiser


def curve(success, jerk=None, every=100):
    jerk = jerk or [1.0] * len(success)
    pairs = enumerate(zip(success, jerk, strict=True))
    return [{"step": every * (i + 1), "success": s, "jerk": j} for i, (s, j) in pairs]


def test_stops_after_patience_checkpoints_without_improvement():
    c = Criterion(every=100, patience=3, max_steps=10_000)
    h = curve([0.1, 0.4, 0.7, 0.65, 0.7, 0.6, 0.9])
    assert stopping_point(h, c) == 5  # best at index 2; 3, 4 (a tie), 5 do not improve
    assert best_checkpoint(h[:6]) == 2
    assert stopping_point(h[:5], c) is None  # only two checkpoints without improvement yet
    rising = curve([0.1 * i for i in range(1, 8)])
    assert stopping_point(rising, c) is None


def test_max_steps_stops_a_rising_curve():
    c = Criterion(every=100, patience=3, max_steps=500)
    assert stopping_point(curve([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), c) == 4  # step 500


def test_jerk_breaks_ties_and_min_delta_absorbs_noise():
    h = curve([0.5, 0.5, 0.5], jerk=[3.0, 2.0, float("nan")])
    assert best_checkpoint(h) == 1  # same success, lower jerk; NaN jerk counts as infinite
    assert not better({"success": 0.52, "jerk": 5.0}, {"success": 0.5, "jerk": 1.0}, min_delta=0.03)
    assert better({"success": 0.52, "jerk": 0.5}, {"success": 0.5, "jerk": 1.0}, min_delta=0.03)
    assert better({"success": 0.54, "jerk": 5.0}, {"success": 0.5, "jerk": 1.0}, min_delta=0.03)
    c = Criterion(every=100, patience=2, max_steps=10_000, min_delta=0.03)
    assert stopping_point(curve([0.5, 0.52, 0.51]), c) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every": 0}, "every must be >= 1"),
        ({"patience": 0}, "patience must be >= 1"),
        ({"every": 500, "max_steps": 100}, "max_steps must be >= every"),
        ({"min_delta": -0.1}, r"min_delta must lie in \[0, 1\)"),
    ],
)
def test_criterion_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Criterion(**kwargs)


def test_best_checkpoint_needs_a_history():
    with pytest.raises(ValueError, match="at least one checkpoint"):
        best_checkpoint([])


def _tiny_problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    table = diffusion.schedule(100)
    pools = Pools(
        torch.rand((40, 16, 2), generator=g) * 2 - 1,
        torch.rand((40, 6), generator=g) * 2 - 1,
        torch.rand((60, 16, 2), generator=g) * 2 - 1,
        torch.rand((60, 6), generator=g) * 2 - 1,
        table,
    )
    draw = make_draw(pools, batch_size=8, use_low=True)
    torch.manual_seed(seed)
    return ChunkMLP(2, 6, horizon=16, hidden=16, depth=1, emb=8), draw, diffusion.loss_function(table)


class Scripted:
    """A validation function that returns a scripted success curve (and can fail once, as an interruption)."""

    def __init__(self, success, fail_at=None):
        self.success, self.fail_at, self.calls = success, fail_at, 0

    def __call__(self, model):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        return {"success": self.success[self.calls - 1], "jerk": 1.0, "first": float(next(model.parameters())[0, 0])}


def test_tiny_training_stops_on_the_rule_and_returns_the_best_checkpoint(one_torch_thread):
    net, draw, loss_fn = _tiny_problem()
    crit = Criterion(every=3, patience=2, max_steps=60)
    res = train_to_convergence(
        net, draw, loss_fn, Scripted([0.2, 0.6, 0.5, 0.6, 0.9]), criterion=crit, diagnostic=lambda m: 0.5
    )
    assert [h["step"] for h in res.history] == [3, 6, 9, 12]
    assert (res.best_step, res.stopped_at, res.reason) == (6, 12, "patience")
    assert all(h["heldout_loss"] == 0.5 for h in res.history)
    # the returned network is the EMA at the best checkpoint (step 6), not the last one
    assert float(next(res.model.parameters())[0, 0]) == res.history[1]["first"]
    assert res.history[1]["first"] != res.history[3]["first"]
    assert math.isfinite(res.seconds_per_step)


def test_an_interrupted_run_resumes_where_it_stopped(one_torch_thread, tmp_path):
    script = [0.1, 0.2, 0.3, 0.2, 0.2]
    crit = Criterion(every=4, patience=2, max_steps=40)
    net, draw, loss_fn = _tiny_problem()
    whole = train_to_convergence(net, draw, loss_fn, Scripted(script), criterion=crit, seed=3)
    state = tmp_path / "run.pt"
    net, draw, loss_fn = _tiny_problem()
    with pytest.raises(KeyboardInterrupt):
        train_to_convergence(net, draw, loss_fn, Scripted(script, fail_at=3), criterion=crit, seed=3, state=state)
    assert state.exists()
    net, draw, loss_fn = _tiny_problem()
    resumed = train_to_convergence(net, draw, loss_fn, Scripted(script[2:]), criterion=crit, seed=3, state=state)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in whole.history] == [4, 8, 12, 16, 20]
    assert (resumed.best_step, resumed.stopped_at) == (whole.best_step, whole.stopped_at) == (12, 20)
    for a, b in zip(resumed.model.parameters(), whole.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    # started again after it finished, the run only returns its best checkpoint
    again = train_to_convergence(*_tiny_problem(), Scripted([]), criterion=crit, seed=3, state=state)
    assert again.best_step == 12


def test_make_denoiser_builds_both_networks_with_the_chunk_shape():
    x = torch.zeros(2, 16, 2)
    for kind in ("unet", "mlp"):
        net = make_denoiser(kind, 2, 6, horizon=16, widths=(8, 16), hidden=16, depth=1)
        assert net(x, torch.tensor([0, 99]), torch.zeros(2, 6)).shape == x.shape
    with pytest.raises(ValueError, match="kind must be 'unet' or 'mlp', got 'cnn'"):
        make_denoiser("cnn", 2, 6, horizon=16)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 16, 2\)"):
        ChunkMLP(2, 6, horizon=16, hidden=8)(torch.zeros(2, 8, 2), torch.tensor([0, 1]), torch.zeros(2, 6))
    with pytest.raises(ValueError, match="hidden must be >= 1, got 0"):
        ChunkMLP(2, 6, horizon=16, hidden=0)
