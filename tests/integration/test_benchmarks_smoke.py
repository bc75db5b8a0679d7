"""The benchmark script runs end to end on the smallest size and prints its table (no timing is checked)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "speed" / "bench_targets.py"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/ is not part of this checkout")


def test_quick_benchmark_prints_a_table():
    backends = "numpy,torch" if importlib.util.find_spec("torch") is not None else "numpy"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--sizes", "action", "--backends", backends],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("| backend | size |") for line in lines), result.stdout
    rows = [line for line in lines if line.startswith("| numpy ")]
    assert rows, result.stdout
    assert all("error" not in row for row in rows)
    if "torch" in backends:
        assert any(line.startswith("| torch eager ") for line in lines), result.stdout
