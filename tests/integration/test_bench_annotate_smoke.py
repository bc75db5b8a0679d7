"""The annotation benchmark runs end to end at a tiny size and reports its ratios (timings are not checked)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "speed" / "bench_annotate.py"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/ is not part of this checkout")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_quick_benchmark_reports_costs_and_agreement(backend):
    if backend == "torch" and importlib.util.find_spec("torch") is None:
        pytest.skip("torch not installed")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--backend", backend],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert {"full grid", "adaptive", "ratio full / adaptive"} <= set(rows), out
    per_sample = [float(rows[k].split("|")[2]) for k in ("full grid", "adaptive")]
    assert per_sample[0] == 256 * 4  # --quick: 256 levels x 4 draws
    assert per_sample[1] <= 4 * (1 + 8)  # bisection: at most one top probe and log2(256) halvings
    match = re.search(r"step trajectories (\d+)/16, identical on (\d+)/(\d+)", out)
    assert match, out
    assert match.group(2) == match.group(3)
