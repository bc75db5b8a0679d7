"""The maze's parts of the shared driver (:mod:`benchmarks.policy.driver`): data, rows, tables and figures."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmarks.policy.classifier import balanced_accuracy, fit, sigma_min_of
from benchmarks.policy.config import REPORTED_TIMESTEPS, BaseConfig
from benchmarks.policy.driver import Benchmark, Log, SeedRun, layout_of
from benchmarks.policy.io import write_json

from . import report
from .env import make_maze
from .experiment import VARIANTS, Config, Setting, build, evaluate, level_sigma, per_demonstration, train_variant
from .protocol import tune, tune_pooled

__all__ = ["BENCHMARK", "Maze"]


class Maze(Benchmark):
    """Smooth against plain-RRT demonstrations in a 2-D maze (success and squared jerk of executed paths)."""

    name = "maze"
    module = __name__
    doc = "The closed-loop maze benchmark: 100 smooth and 5,000 plain-RRT demonstrations."
    config = Config
    frozen = Path(__file__).with_name("protocol.json")
    rows = VARIANTS
    tiny_rows = (*VARIANTS, "ambient_traj:ambient")
    quick: ClassVar[Mapping[str, Any]] = {"n_test": 100, "steps": 1200}  # 2 seeds of 3 rows in <= 10 min on 2 cores
    threads = 2
    cache = Path(".maze-cache")
    extra_stages = ("tune-pooled",)

    def tune(self, cfg: BaseConfig, *, cache: Path | None, log: Log, tiny: bool = False) -> dict[str, Any]:
        assert isinstance(cfg, Config)
        return tune(cfg, cache=cache, log=log)

    def refine(self, stage: str, protocol: dict[str, Any], *, cache: Path | None, log: Log) -> dict[str, Any]:
        if stage != "tune-pooled":
            return super().refine(stage, protocol, cache=cache, log=log)
        return tune_pooled(protocol, cache=cache, log=log)

    def build(self, layout: int | None, cfg: BaseConfig, seed: int, cache: Path | None) -> Setting:
        assert isinstance(cfg, Config)
        return build(layout, cfg, seed, cache)

    def seed_record(self, setting: Setting) -> dict[str, Any]:
        return {"data_jerk": setting.data_jerk}

    def run_row(self, ctx: SeedRun, row: str) -> dict[str, Any]:
        s, cfg, seed = ctx.setting, ctx.cfg, ctx.seed
        assert isinstance(cfg, Config)
        method, loss = row.split(":")
        sm = None
        if method in ("ambient", "ambient_traj"):
            if "classifier" not in ctx.cache:  # trained once per seed
                clf = ctx.cache["classifier"] = fit(s.pools, seed=seed, steps=cfg.classifier_steps)
                ctx.run["classifier_accuracy"] = {
                    t: balanced_accuracy(clf, s.pools, t, n=2000, seed=seed + 1) for t in REPORTED_TIMESTEPS
                }
            sm = sigma_min_of(ctx.cache["classifier"], s.pools, eps=ctx.per_row[row]["eps"], seed=seed)
            if method == "ambient_traj":
                sm = per_demonstration(s, sm)
            timesteps = np.asarray(s.pools.table.timestep_for_sigma(sm)).tolist()[:2000]
            ctx.run.setdefault("sigma_min_timesteps", {})[row] = timesteps
        elif method == "ambient_level":
            sm = level_sigma(s, ctx.per_row[row]["level"], len(s.pools.xl))
        return evaluate(train_variant(s, method, loss, cfg, seed, sigma_min=sm), s, "test", cfg, seed)

    def brief(self, r: dict[str, Any]) -> dict[str, float]:
        return {k: r[k] for k in ("success", "jerk", "length")}

    def save(self, obj: Any, path: Path) -> None:
        """JSON with the first ``n_traces`` executed paths of each evaluation (for figures), rounded."""
        write_json(obj, path, head={"paths": Config.n_traces})

    def report(self, result: dict[str, Any], out: Path) -> dict[str, Any]:
        chosen = result["protocol"].get("protocol_variant")
        cfg = result["config"]
        for key, runs in result["layouts"].items():
            summ = report.rows(runs)
            print(f"\n## maze {key} ({len(runs)} seeds, {cfg['n_clean']} smooth + {cfg['n_corrupt']} RRT)\n")
            data = [r["data_jerk"]["smooth"] for r in runs if "data_jerk" in r]
            print(report.table(summ, float(sum(data) / len(data)) if data else None))
            if chosen in summ and "clean:ambient" in summ and "cotrain:ambient" in summ:
                print("\n" + report.reading(summ, chosen))
            report.figures(result, out, make_maze(layout_of(key)), key)
        return {}


BENCHMARK = Maze()
