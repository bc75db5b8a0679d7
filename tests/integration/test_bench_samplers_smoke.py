"""The sampler benchmark runs end to end at a tiny size and prints its table (no timing is checked)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "speed" / "bench_samplers.py"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="benchmarks/ is not part of this checkout")


def test_quick_sampler_benchmark_prints_a_table():
    backends = ["numpy"] + [name for name in ("torch", "sampler") if importlib.util.find_spec("torch") is not None]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--n", "500", "--batch", "32", "--backends", ",".join(backends)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("| backend | preset |") for line in lines), result.stdout
    for backend in backends:
        rows = [line for line in lines if line.startswith(f"| {backend} |")]
        assert len(rows) == 2, result.stdout  # one row per default preset
        assert all(("ok" in row or "MISS" in row) for row in rows)
