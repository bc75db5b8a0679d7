"""The pushing benchmark's parts of the shared driver (:mod:`benchmarks.policy.driver`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmarks.policy.config import REPORTED_TIMESTEPS, BaseConfig
from benchmarks.policy.driver import Benchmark, Log, SeedRun, layout_of
from benchmarks.policy.io import write_json

from . import report
from .env import make_layout
from .experiment import (
    VARIANTS,
    Annotator,
    Config,
    Setting,
    brief,
    build,
    dataset_shapes,
    evaluate,
    level_sigma,
    train_variant,
)
from .protocol import tune

__all__ = ["BENCHMARK", "Push"]


class Push(Benchmark):
    """Real against sim demonstrations of pushing a block (success in ``REAL``)."""

    name = "push"
    module = __name__
    doc = "The pushing (sim-to-real) benchmark: 50 real and 2,000 sim demonstrations."
    config = Config
    frozen = Path(__file__).with_name("protocol.json")
    rows = VARIANTS
    quick: ClassVar[Mapping[str, Any]] = {"n_test": 100}
    quick_jobs = 2
    cache = Path(".push-cache")

    def tune(self, cfg: BaseConfig, *, cache: Path | None, log: Log, tiny: bool = False) -> dict[str, Any]:
        assert isinstance(cfg, Config)
        return tune(cfg, cache=cache, log=log, **({"steps_candidates": (2, 3)} if tiny else {}))

    def build(self, layout: int | None, cfg: BaseConfig, seed: int, cache: Path | None) -> Setting:
        assert isinstance(cfg, Config)
        return build(layout, cfg, seed, cache)

    def seed_record(self, setting: Setting) -> dict[str, Any]:
        return {"data": dataset_shapes(setting)}

    def run_row(self, ctx: SeedRun, row: str) -> dict[str, Any]:
        s, cfg, seed = ctx.setting, ctx.cfg, ctx.seed
        assert isinstance(cfg, Config)
        method, loss = row.split(":")
        sm = None
        if method == "ambient":
            if "annotator" not in ctx.cache:  # trained once per seed
                ann = ctx.cache["annotator"] = Annotator(s, cfg.classifier_input, seed=seed,
                                                         steps=cfg.classifier_steps)
                ctx.run["classifier_accuracy"] = ann.accuracy(REPORTED_TIMESTEPS)
                ctx.log(f"classifier ({cfg.classifier_input}) seed {seed}: {ctx.run['classifier_accuracy']}")
            sm = ctx.cache["annotator"].sigma_min(ctx.per_row[row]["eps"])
            ctx.run.setdefault("sigma_min_timestep_histogram", {})[row] = np.bincount(
                np.asarray(s.pools.table.timestep_for_sigma(sm)), minlength=100).tolist()
        elif method == "ambient_level":
            sm = level_sigma(s, ctx.per_row[row]["level"])
        return evaluate(train_variant(s, method, loss, cfg, seed, sigma_min=sm), s, "test", cfg, seed)

    def brief(self, r: dict[str, Any]) -> dict[str, float]:
        return brief(r)

    def save(self, obj: Any, path: Path) -> None:
        """JSON without the executed traces."""
        write_json(obj, path, drop={"traces"})

    def report(self, result: dict[str, Any], out: Path) -> dict[str, Any]:
        chosen = result["protocol"].get("protocol_variant")
        cfg = result["config"]
        for key, runs in result["layouts"].items():
            summ = report.rows(runs)
            print(f"\n## push {key}: success in REAL on {cfg['n_test']} test tasks ({len(runs)} seeds, "
                  f"{cfg['n_clean']} real + {cfg['n_corrupt']} sim demonstrations)\n")
            print(report.table(summ))
            if chosen in summ:
                print("\n" + report.reading(summ, runs, chosen))
            report.figures(result, out, make_layout(layout_of(key)), key)
        return {}


BENCHMARK = Push()
