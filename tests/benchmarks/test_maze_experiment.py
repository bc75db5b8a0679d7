"""The closed-loop maze benchmark: episode mechanics exactly, and every stage of a tiny run in seconds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.maze.closed_loop import DT, MazeEpisodes, squared_jerk
from benchmarks.maze.data import SPEED
from benchmarks.maze.env import Maze
from benchmarks.maze.protocol import JERK_CAP, select
from benchmarks.policy.rollout import rollout

WALL = Maze(np.array([[0.45, 0.0, 0.55, 0.6]]), name="wall")


def test_episodes_move_clip_collide_and_succeed():
    starts = np.array([[0.1, 0.8], [0.1, 0.3], [0.8, 0.8]])
    goals = np.array([[0.14, 0.8], [0.9, 0.3], [0.8, 0.1]])
    env = MazeEpisodes(WALL, starts, goals, max_steps=5, tolerance=0.03)
    env.step(np.array([[0.12, 0.8], [0.44, 0.3], [0.8, 0.8]]))
    np.testing.assert_allclose(env.pos[0], [0.12, 0.8])  # within the speed limit: exact
    np.testing.assert_allclose(env.pos[1], [0.1 + 1.5 * SPEED, 0.3])  # clipped to 1.5 * SPEED
    assert env.success[0]
    assert env.done[0]
    before = env.pos.copy()
    env.step(np.array([[0.5, 0.5], [0.5, 0.3], [0.8, 0.79]]))
    np.testing.assert_array_equal(env.pos[0], before[0])  # a finished episode ignores its action
    for _ in range(20):
        env.step(np.array([[0.5, 0.5], [0.9, 0.3], [0.8, 0.79]]))
    m = env.metrics()
    assert not m["success"][1]  # walked into the wall
    assert m["collided"][1] or m["steps"][1] == 5
    assert m["steps"][2] == 5
    assert not m["success"][2]
    assert env.done.all()
    with pytest.raises(ValueError, match=r"actions must have shape \(3, 2\)"):
        env.step(np.zeros((2, 2)))


def test_squared_jerk_is_exact_on_polynomials():
    t = np.arange(12)[:, None] * DT
    assert squared_jerk(np.concatenate([t, 2 * t], axis=1)) == pytest.approx(0.0, abs=1e-9)
    assert squared_jerk(np.concatenate([t**3, 0 * t], axis=1)) == pytest.approx(36.0, rel=1e-9)  # jerk 6
    assert squared_jerk(np.zeros((3, 2))) == 0.0


def test_rollout_executes_n_exec_actions_per_chunk():
    env = MazeEpisodes(WALL, np.array([[0.1, 0.8]]), np.array([[0.4, 0.8]]), max_steps=40)
    calls = []

    def policy(obs):
        calls.append(obs.copy())
        cur = (obs[:, 2:4] + 1) / 2
        return cur[:, None] + np.arange(1, 17)[None, :, None] * np.array([SPEED, 0.0])

    m = rollout(env, policy, n_exec=8)
    assert m["success"][0]
    assert m["steps"][0] == 14  # 0.3 / 0.02 = 15 steps, arrival within 0.03 after 14
    assert len(calls) == 2  # 8 + 6 steps
    with pytest.raises(ValueError, match="n_exec must be >= 1"):
        rollout(env, policy, n_exec=0)


def test_selection_rule_keeps_the_jerk_cap():
    cands = {
        "a": {"success": 0.9, "jerk": JERK_CAP * 1.01},
        "b": {"success": 0.7, "jerk": 1.0},
        "c": {"success": 0.6, "jerk": 0.5},
    }
    assert select(cands, clean_jerk=1.0) == "b"
    assert select({"a": cands["a"]}, clean_jerk=0.1) == "a"  # none within the cap: the lowest jerk


def test_tiny_run_writes_a_table_json_and_figures(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from benchmarks.maze.__main__ import main

    assert main(["tiny", "--out", str(tmp_path), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "| clean only |" in out
    assert "co-training" in out
    result = json.loads((tmp_path / "results.json").read_text())
    runs = result["layouts"]["default"]
    assert set(runs[0]["variants"]) == {
        "clean:ambient",
        "cotrain:ambient",
        "ambient:ambient",
        "ambient:denoise",
        "ambient_level:ambient",
        "ambient_level:denoise",
        "ambient_traj:ambient",
    }
    assert result["protocol"]["protocol_variant"] in runs[0]["variants"]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "maze-default-success-jerk.png",
        "maze-default-trajectories.png",
    ]


def _evaluation(jerks):
    ok = [j is not None for j in jerks]
    own = [j for j in jerks if j is not None]
    return {"success": sum(ok) / len(ok), "jerk": sum(own) / len(own), "length": 1.0, "jerk_each": jerks}


def test_rows_compare_jerk_on_the_queries_every_row_solves():
    from benchmarks.maze import report

    runs = [
        {"variants": {"clean:ambient": _evaluation([1.0, 2.0, None, 4.0]),
                      "cotrain:ambient": _evaluation([10.0, None, 30.0, 40.0])}},
        {"variants": {"clean:ambient": _evaluation([3.0, 5.0, 7.0]),
                      "cotrain:ambient": _evaluation([None, 50.0, 70.0])}},
    ]
    summ = report.rows(runs)
    # seed 0: queries 0 and 3 are solved by both rows; seed 1: queries 1 and 2
    assert summ["clean:ambient"]["jerk_common"]["mean"] == pytest.approx((2.5 + 6.0) / 2)
    assert summ["cotrain:ambient"]["jerk_common"]["mean"] == pytest.approx((25.0 + 60.0) / 2)
    assert summ["clean:ambient"]["jerk"]["mean"] == pytest.approx((7 / 3 + 5.0) / 2)  # own successes
    assert summ["clean:ambient"]["common"]["mean"] == 2
    text = report.table(summ)
    assert "squared jerk, queries every row solves" in text
    assert "squared jerk, own successes" in text
    assert f"| {85 / 8.5:.2f}x |" in text
    assert "at 10.00x its squared jerk (on the queries every row solves)" in report.reading(summ, "cotrain:ambient")
    del runs[1]["variants"]["clean:ambient"]["jerk_each"]  # results without per-query outcomes: own successes only
    assert "jerk_common" not in report.rows(runs)["clean:ambient"]
    assert "not compared on common queries" in report.table(report.rows(runs))
