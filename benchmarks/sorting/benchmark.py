"""The bin-sorting benchmark's parts of the shared driver (:mod:`benchmarks.policy.driver`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.policy.config import BaseConfig
from benchmarks.policy.driver import Benchmark, Log, SeedRun

from .experiment import METHODS, Config, Setting, annotations, build, run_method
from .protocol import BUDGET_PROBE, tune
from .report import figures, reading, summarise, table

__all__ = ["BENCHMARK", "Sorting"]


class Sorting(Benchmark):
    """Correct against wrong-bin demonstrations of pick-and-place (logic score and completion)."""

    name = "sorting"
    module = __name__
    doc = "The bin-sorting benchmark: 50 correct and 200 random-bin demonstrations."
    config = Config
    frozen = Path(__file__).with_name("protocol.json")
    rows = METHODS
    #: the three rows the targets compare, on 100 test tasks per seed (under 10 minutes on 2 cores)
    quick: ClassVar[Mapping[str, Any]] = {"n_test": 100}

    def tune(self, cfg: BaseConfig, *, cache: Path | None, log: Log, tiny: bool = False) -> dict[str, Any]:
        assert isinstance(cfg, Config)
        if tiny:
            return tune(cfg, sweep=(5, 20), levels=(10,), eps=(0.1,), log=log)
        return {**tune(cfg, log=log), "budget_probe": BUDGET_PROBE}

    def quick_rows(self, protocol: Any) -> tuple[str, ...]:
        return ("clean", "cotrain", "omni_sweep")

    def build(self, layout: int | None, cfg: BaseConfig, seed: int, cache: Path | None) -> Setting:
        assert isinstance(cfg, Config)
        return build(layout, cfg, seed)

    def run_row(self, ctx: SeedRun, row: str) -> dict[str, Any]:
        assert isinstance(ctx.cfg, Config)
        t0 = time.perf_counter()
        r = run_method(ctx.setting, row, ctx.cfg, ctx.seed, "test", cache=ctx.cache,
                       n_traces=ctx.cfg.n_traces if ctx.first else 0)
        ctx.run.setdefault("seconds", {})[row] = time.perf_counter() - t0
        ctx.run.update(annotations(ctx.cache))
        return r

    def brief(self, r: dict[str, Any]) -> dict[str, float]:
        return {k: r[k] for k in ("logic", "completion")}

    def report(self, result: dict[str, Any], out: Path) -> dict[str, Any]:
        summ = summarise(result["layouts"])
        print(table(summ, result["config"]))
        lines = reading(summ, result["protocol"])
        print("\n".join(lines))
        paths = figures(result["layouts"], summ, out)
        print(f"figures: {', '.join(map(str, paths))}")
        return {"summary": summ, "reading": lines}


BENCHMARK = Sorting()
