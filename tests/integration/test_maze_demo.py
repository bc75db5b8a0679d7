"""The maze demo end to end at tiny scale: data, classifier, annotation, training, evaluation, outputs."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ambientloss.maze import DEMO_OPTIONS, add_demo_arguments, run_demo

HAS_DEMO_DEPS = all(importlib.util.find_spec(m) is not None for m in ("torch", "matplotlib"))


@pytest.fixture
def torch_rng_restored():
    """The experiment seeds torch's global generator (``torch.manual_seed``): restore it afterwards."""
    import torch

    with torch.random.fork_rng(devices=[]):
        yield


def test_import_does_not_load_torch_or_matplotlib():
    code = (
        "import sys, ambientloss, ambientloss.maze, ambientloss.maze.env, ambientloss.maze.planners, "
        "ambientloss.maze.metrics, ambientloss.maze.data, ambientloss.maze.report, ambientloss.maze.experiment; "
        "print(sorted(m for m in ('torch', 'matplotlib', 'tqdm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_missing_torch_names_the_extra(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(ImportError, match=r'pip install "ambientloss\[torch\]"'):
        run_demo(tmp_path)


def test_options_parse():
    parser = add_demo_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--out", "x", "--seed", "3", "--full", "--no-progress"])
    assert (args.out, args.seed, args.full, args.no_progress) == ("x", 3, True, True)
    assert len(DEMO_OPTIONS) == 4


@pytest.mark.skipif(not HAS_DEMO_DEPS, reason="needs torch and matplotlib")
@pytest.mark.usefixtures("torch_rng_restored")
def test_tiny_demo_writes_the_outputs(tmp_path):
    from ambientloss.maze.experiment import ExperimentConfig
    from ambientloss.maze.report import LABELS

    cfg = ExperimentConfig.tiny(layouts=(None, 2))
    result = run_demo(tmp_path, config=cfg, progress=False)
    files = {p.name for p in tmp_path.iterdir()}
    assert {"results.md", "results.json", "annotation.png", "trajectories_0.png", "trajectories_1.png"} <= files
    for name in ("annotation.png", "trajectories_0.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((tmp_path / "results.json").read_text())
    assert set(record) == {"config", "seconds", "machine", "summary", "runs"}
    assert len(record["runs"]) == 2
    assert {r["layout"] for r in record["runs"]} == {"default", "seed 2"}
    methods = cfg.methods
    for run in record["runs"]:
        assert set(run["methods"]) == set(methods)
        for rec in run["methods"].values():
            assert 0 <= rec["success"] <= 1
            assert rec["jerk"] >= 0
            assert rec["rel_length"] > 0
            assert rec["samples"] == cfg.n_test * cfg.samples_per_query
        sweep = run["methods"]["ambient_sweep"]["sweep"]
        assert len(sweep) == len(cfg.sweep)
        assert sum(r["chosen"] for r in sweep) == 1
        q = run["annotation"]["quantiles"]
        assert 0 < q["min"] <= q["median"] <= q["max"] <= 1
        assert run["data"]["rrt"]["jerk"] > run["data"]["smooth"]["jerk"] >= 0
    rows = [r for r in record["summary"] if r["method"] in methods]
    assert len(rows) == 2 * len(methods)
    table = (tmp_path / "results.md").read_text()
    for method in methods:
        assert f"| {LABELS[method]} |" in table
    assert result["table"].strip() == table.strip()


@pytest.mark.skipif(not HAS_DEMO_DEPS, reason="needs torch and matplotlib")
@pytest.mark.usefixtures("torch_rng_restored")
def test_tiny_demo_is_deterministic(tmp_path):
    import torch

    from ambientloss.maze.experiment import ExperimentConfig, run_experiment

    cfg = ExperimentConfig.tiny(methods=("cotrain", "ambient"))

    def once():
        # the annotation classifier is initialised from torch's global generator, which the experiment
        # does not seed (the policies it does): start both runs from the same state, whatever ran before
        torch.manual_seed(1234)
        return run_experiment(cfg, progress=False)["runs"][0]

    a, b = once(), once()
    for method in cfg.methods:
        assert a["methods"][method]["paths"].tolist() == b["methods"][method]["paths"].tolist()
    assert a["annotation"]["sigma_min"].tolist() == b["annotation"]["sigma_min"].tolist()


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"methods": ("clean", "naive")}, "methods must be distinct names"),
        ({"methods": ("clean", "clean")}, "methods must be distinct names"),
        ({"seeds": ()}, "seeds and layouts must not be empty"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"n_rrt": 2.5}, "n_rrt must be a positive integer"),
        ({"n_waypoints": 3}, "n_waypoints must be >= 4"),
        ({"clean_fraction": 1.0}, "clean_fraction must lie in"),
        ({"classifier_eps": 0.5}, "classifier_eps in"),
        ({"sweep": (0.5, 1.2)}, "sweep levels and sigma_max"),
        ({"sigma_max": 0.0}, "sweep levels and sigma_max"),
    ],
)
def test_config_rejects_bad_values(changes, match):
    from ambientloss.maze.experiment import ExperimentConfig

    with pytest.raises(ValueError, match=match):
        ExperimentConfig(**changes)


BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "motion_planning.py"


@pytest.mark.skipif(not HAS_DEMO_DEPS or not BENCH.exists(), reason="needs torch, matplotlib and benchmarks/")
def test_benchmark_script_runs_a_small_configuration(tmp_path):
    args = "--layouts default 3 --seeds 0 --methods clean ambient_sweep --n-clean 10 --n-rrt 20 --n-test 3"
    args += " --samples-per-query 2 --steps 4 --batch-size 8 --width 16 --sweep 0.5 0.9 --no-progress"
    out = subprocess.run(
        [sys.executable, str(BENCH), *args.split(), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "| seed 3 | ambient (swept sigma_min) |" in out.stdout
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["config"]["sweep"] == [0.5, 0.9]
    assert record["config"]["layouts"] == [None, 3]
    assert (tmp_path / "trajectories_1.png").exists()
    bad = subprocess.run([sys.executable, str(BENCH), "--steps", "0"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "--steps must be a positive integer" in bad.stderr


def test_cli_says_which_extra_is_missing(monkeypatch, tmp_path, capsys):
    from ambientloss.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    assert main(["demo", "maze", "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert 'pip install "ambientloss[torch]"' in capsys.readouterr().err
