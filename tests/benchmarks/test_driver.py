"""The benchmark driver every benchmark shares: one config with the former names, resumed test runs that
skip what is done and give the same numbers, and the report stage on the committed results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.maze.benchmark import BENCHMARK as MAZE
from benchmarks.policy.config import BaseConfig
from benchmarks.policy.driver import Benchmark, SeedRun, normalise, run_test
from benchmarks.policy.io import jsonable
from benchmarks.push.benchmark import BENCHMARK as PUSH
from benchmarks.sorting.benchmark import BENCHMARK as SORTING

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "docs" / "assets"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_committed_protocols_load_with_their_former_names():
    maze, per_row = MAZE.config_of(json.loads(MAZE.frozen.read_text()))
    assert (maze.n_clean, maze.n_corrupt, maze.corrupt_stride, maze.batch_size) == (100, 5000, 4, 256)
    assert per_row["ambient_level:ambient"]["level"] == 45
    push, _ = PUSH.config_of(json.loads(PUSH.frozen.read_text()))
    assert (push.n_clean, push.n_corrupt, push.corrupt_stride, push.steps) == (50, 2000, 4, 1600)
    sorting, _ = SORTING.config_of(json.loads(SORTING.frozen.read_text()))
    assert (sorting.n_clean, sorting.n_corrupt, sorting.low_rule, sorting.omni_t) == (50, 200, "random", 5)
    assert sorting.widths == (16, 32)


def test_config_rejects_unknown_fields_and_bad_assignments():
    with pytest.raises(ValueError, match="unknown BaseConfig field 'n_lo'"):
        BaseConfig.load({"n_lo": 3})
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        BaseConfig().parse(["steps"])
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        BaseConfig().parse(["stepz=3"])
    assert BaseConfig().parse(["n_low=7"]).n_corrupt == 7


class Toy(Benchmark):
    """Rows whose value is a closed form of the seed, layout and row; every call is recorded."""

    name = "toy"

    def __init__(self) -> None:
        self.calls: list[tuple[int | None, int, str]] = []

    def build(self, layout: int | None, cfg: BaseConfig, seed: int, cache: Path | None) -> Any:
        return (layout or 0, seed)

    def run_row(self, ctx: SeedRun, row: str) -> dict[str, Any]:
        layout, seed = ctx.setting
        self.calls.append((layout, seed, row))
        ctx.run["seen"] = ctx.run.get("seen", 0) + 1
        return {"value": float(100 * layout + 10 * seed + len(row))}


def test_resume_runs_only_the_missing_rows(tmp_path):
    proto = {"config": BaseConfig.tiny().as_dict()}
    partial = tmp_path / "results.partial.json"
    toy = Toy()
    run_test(toy, proto, [None, 1], [0, 1], ("a",), cache=None, log=lambda _: None, partial=partial)
    assert len(toy.calls) == 4
    toy.calls.clear()
    resumed = run_test(toy, proto, [None, 1], [0, 1], ("bb", "a"), cache=None, log=lambda _: None, partial=partial)
    assert sorted(toy.calls) == [(0, 0, "bb"), (0, 1, "bb"), (1, 0, "bb"), (1, 1, "bb")]
    fresh = run_test(Toy(), proto, [None, 1], [0, 1], ("bb", "a"), cache=None, log=lambda _: None)
    assert resumed["layouts"]["seed 1"][1]["variants"] == {"bb": {"value": 112.0}, "a": {"value": 111.0}}
    assert json.dumps(jsonable(fresh["layouts"])) == json.dumps(jsonable(resumed["layouts"]))
    toy.calls.clear()  # another protocol: nothing is reused
    run_test(toy, {**proto, "x": 1}, [None], [0], ("a",), cache=None, log=lambda _: None, partial=partial)
    assert toy.calls == [(0, 0, "a")]


def _numbers(result: dict[str, Any]) -> str:
    runs = {k: [{n: v for n, v in r.items() if n != "seconds"} for r in rs] for k, rs in result["layouts"].items()}
    return json.dumps(jsonable(runs), sort_keys=True)


def test_resumed_rows_give_the_numbers_of_one_run(tmp_path):
    # each row draws from its own seeded generators, so a row's numbers do not depend on the rows run before
    # it: the ambient row run first and the clean row added on resume equal both run at once (compared exactly)
    proto = {"config": SORTING.config.tiny().as_dict()}
    partial = tmp_path / "results.partial.json"
    quiet = {"cache": None, "log": lambda _: None}
    run_test(SORTING, proto, [None], [0], ("ambient",), partial=partial, **quiet)
    resumed = run_test(SORTING, proto, [None], [0], ("clean", "ambient"), partial=partial, **quiet)
    once = run_test(SORTING, proto, [None], [0], ("clean", "ambient"), **quiet)
    assert list(resumed["layouts"]["default"][0]["variants"]) == ["clean", "ambient"]
    assert _numbers(resumed) == _numbers(once)


@pytest.mark.parametrize(
    ("bench", "asset", "line", "on_page"),
    [
        (MAZE, "maze-closed-results.json",
         "| clean only | 3 | 68.0 ± 4.0 [58.1, 77.9] | 9.83 ± 2.80 | 1.00x | 0.97 |", True),
        (PUSH, "push-results.json", "| real only | 18.0 ± 7.2 [0.1, 35.9] | 0.193 ± 0.094 |", True),
        (SORTING, "sorting-results.json",
         "| Ambient-Omni, `sigma_max` by sweep (0.105) | 38.2 ± 12.2 [7.8, 68.5] | 38.2 ± 12.2 [7.8, 68.5] | 100.0 ± "
         "0.0 [100.0, 100.0] |", True),
        (SORTING, "sorting-4000-results.json", "| clean only | 79.2 ± 6.6 [", False),  # the page: no intervals
    ],
)
def test_report_stage_regenerates_the_committed_tables(bench, asset, line, on_page, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from benchmarks.policy import cli

    assert cli.main(bench, ["report", "--inputs", str(ASSETS / asset), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert line in out
    assert (line in (ROOT / "docs" / "results.md").read_text()) is on_page
    assert list(tmp_path.rglob("*.png"))


def test_normalise_reads_every_committed_shape():
    for bench, asset in ((MAZE, "maze-closed-results.json"), (PUSH, "push-results.json"),
                         (SORTING, "sorting-results.json"), (SORTING, "sorting-4000-results.json")):
        for _, result in normalise(bench, json.loads((ASSETS / asset).read_text())):
            assert result["layouts"]
            for runs in result["layouts"].values():
                assert all(run["variants"] for run in runs)
            bench.config.load(result["config"])
