"""The command line, the demo's conclusions, and import hygiene."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ambientloss.cli import main
from ambientloss.demo import DemoConfig, run_demo


def test_demo_runs_and_ambient_wins_above_sigma_min(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "| sigma | Bayes error | clean only | naive mixing | ambient |" in out
    rows = run_demo(DemoConfig())
    sigma_min = 0.6 / np.sqrt(1 + 0.36)
    for r in rows:
        if r["sigma"] > sigma_min:
            assert r["ambient"] < r["clean_only"] / 5, r
            assert r["ambient"] < r["naive"] / 2, r
        else:
            assert r["ambient"] == r["clean_only"]


def test_ambient_error_shrinks_with_more_corrupt_data_naive_does_not():
    """Ambient is unbiased (its error falls with data); naive mixing keeps a bias floor."""
    small = run_demo(DemoConfig(n_corrupt=512, levels=(0.8,)))[0]
    large = run_demo(DemoConfig(n_corrupt=8192, levels=(0.8,)))[0]
    assert large["ambient"] < small["ambient"] / 4
    assert large["naive"] > small["naive"] / 2


def test_bad_cli_arguments(capsys):
    import pytest

    with pytest.raises(SystemExit) as info:
        main(["demo", "--n-clean", "0"])
    assert info.value.code == 2
    assert "--n-clean must be a positive integer, got 0" in capsys.readouterr().err
    assert main([]) == 2


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "ambientloss", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("ambientloss ")


def test_core_never_imports_a_framework():
    code = (
        "import sys, ambientloss, ambientloss.adapters, ambientloss.adapters.numpy; "
        "import numpy as np; ambientloss.ambient_pair(np.zeros(3), 0.5, 0.1, np.ones(3)); "
        "bad = [m for m in ('torch', 'jax', 'jaxlib', 'scipy', 'diffusers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_package_ships_no_benchmark_code():
    """The maze and the other effect benchmarks live in benchmarks/ of the repository, not in the wheel."""
    import importlib.util

    import ambientloss

    assert importlib.util.find_spec("ambientloss.maze") is None
    root = Path(ambientloss.__file__).parent
    assert not [p for p in root.rglob("*.py") if "maze" in p.name or "benchmark" in p.name]
    code = "import argparse, ambientloss.cli as c; c.build_parser().parse_args(['demo', 'maze'])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 2  # no such demo


def test_demo_table_sums_and_reads_its_own_numbers(capsys):
    """The summed rows are the sums of the per-level rows; the reading quotes the table's numbers."""
    from ambientloss.demo import METHODS, format_table, reading, summary, times

    cfg = DemoConfig()
    rows = run_demo(cfg)
    sigma_min = cfg.tau / np.sqrt(1 + cfg.tau**2)
    sums = summary(rows, cfg)
    for k in METHODS:
        above = [r[k] for r in rows if r["sigma"] > sigma_min]
        below = [r[k] for r in rows if r["sigma"] <= sigma_min]
        assert sums["usable"][k] == pytest.approx(sum(above), rel=1e-12)
        assert sums["below"][k] == pytest.approx(sum(below), rel=1e-12)
        assert sums["all"][k] == pytest.approx(sum(above) + sum(below), rel=1e-12)
    lines = reading(rows, cfg)
    assert len(lines) == 2
    up = sums["usable"]
    assert f"is {times(up['ambient'], up['clean_only'])} clean only's ({up['clean_only']:.2e})" in lines[0]
    assert f"{times(up['ambient'], up['naive'])} naive mixing's ({up['naive']:.2e})" in lines[0]
    assert ("naive mixing is lower there" in lines[1]) == (sums["below"]["naive"] < sums["below"]["clean_only"])
    table = format_table(rows, cfg)
    assert "| sum, all levels | | " in table
    assert table.endswith(lines[1])
    assert main(["demo"]) == 0
    assert lines[0] in capsys.readouterr().out
