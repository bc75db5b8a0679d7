"""The skeleton every closed-loop benchmark runs through: a plug-in supplies the parts, the driver the rest.

A benchmark subclasses :class:`Benchmark` with its environment and data (:meth:`~Benchmark.build`), one row
of its table trained and evaluated (:meth:`~Benchmark.run_row`), its validation sweep
(:meth:`~Benchmark.tune`) and its tables and figures (:meth:`~Benchmark.report`). :func:`run_test` runs
rows x layouts x seeds on the test split and saves the result after every finished row, so a rerun with
the same protocol and settings skips what is done; :mod:`benchmarks.policy.cli` is the command line.

A result (JSON) is ``{"benchmark", "protocol", "config", "rows", "layouts": {key: [run, ...]}}`` with one
``run = {"seed": s, "variants": {row: evaluation}, ...}`` per seed (``...``: what the benchmark records once
per seed). :func:`normalise` reads the results written before the driver in this shape.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch

from .config import BaseConfig
from .io import jsonable, stamped_log, write_json

__all__ = ["Benchmark", "SeedRun", "layout_key", "merge", "normalise", "run_seed", "run_test"]

Log = Callable[[str], object]


def layout_key(layout: int | None) -> str:
    """``"default"`` for the default layout, else ``"seed N"``."""
    return "default" if layout is None else f"seed {layout}"


def layout_of(key: str) -> int | None:
    """Inverse of :func:`layout_key`."""
    return None if key == "default" else int(key.split()[-1])


@dataclass
class SeedRun:
    """What one row of one seed sees: the setting, the frozen settings, and the seed's shared state."""

    setting: Any
    cfg: BaseConfig
    per_row: dict[str, Any]
    seed: int
    first: bool  #: the first seed of the run (figures draw on its traces)
    run: dict[str, Any]  #: the seed's record; a row may add what it computes once per seed
    cache: dict[str, Any] = field(default_factory=dict)  #: e.g. a classifier trained once per seed
    log: Log = print


class Benchmark:
    """The parts one benchmark supplies (override every method that raises)."""

    name: str = ""
    module: str = ""  #: the module that holds the instance as ``BENCHMARK`` (for worker processes)
    doc: str = ""  #: the command line's description
    config: type[BaseConfig] = BaseConfig
    frozen: Path = Path()  #: the committed protocol
    rows: tuple[str, ...] = ()  #: the rows of the test run
    tiny_rows: tuple[str, ...] | None = None  #: the rows of the tiny run (default: ``rows``)
    quick: Mapping[str, Any] = {}  #: settings the quick run changes
    quick_jobs: int = 1  #: seeds side by side in the quick run
    threads: int = 1
    cache: Path | None = None  #: where planned or recorded demonstrations are kept
    extra_stages: tuple[str, ...] = ()  #: stages that refine a tuned protocol (:meth:`refine`)

    def tune(self, cfg: BaseConfig, *, cache: Path | None, log: Log, tiny: bool = False) -> dict[str, Any]:
        """The validation sweep: the protocol (JSON-ready) with ``"config"`` the frozen settings."""
        raise NotImplementedError

    def refine(self, stage: str, protocol: dict[str, Any], *, cache: Path | None, log: Log) -> dict[str, Any]:
        """The extra stage ``stage`` on a tuned protocol."""
        raise ValueError(f"{self.name} has no stage {stage!r}")

    def config_of(self, protocol: Mapping[str, Any], **changes: Any) -> tuple[BaseConfig, dict[str, Any]]:
        """The frozen settings of ``protocol`` with ``changes``, and the per-row settings it chose."""
        cfg = self.config.load(protocol.get("config", {})).replace(**changes)
        per_row = {k: v for k, v in protocol.get("validation", {}).items() if ":" in k}
        return cfg, per_row

    def quick_rows(self, protocol: Mapping[str, Any]) -> tuple[str, ...]:
        """The rows of the quick run: clean only, co-training and the protocol's variant."""
        return ("clean:ambient", "cotrain:ambient", protocol["protocol_variant"])

    def build(self, layout: int | None, cfg: BaseConfig, seed: int, cache: Path | None) -> Any:
        """One layout's data and evaluation tasks for one seed."""
        raise NotImplementedError

    def seed_record(self, setting: Any) -> dict[str, Any]:
        """What each seed's run records about its data."""
        return {}

    def run_row(self, ctx: SeedRun, row: str) -> dict[str, Any]:
        """Train the policy of ``row`` and evaluate it on the test split."""
        raise NotImplementedError

    def brief(self, r: Mapping[str, Any]) -> dict[str, float]:
        """The headline numbers of one evaluation (for the progress log)."""
        return {k: v for k, v in r.items() if isinstance(v, float)}

    def save(self, obj: Any, path: Path) -> None:
        """Write a protocol or result as JSON."""
        write_json(obj, path)

    def report(self, result: dict[str, Any], out: Path) -> dict[str, Any]:
        """Print the tables and the reading, write the figures to ``out``; returns keys to add to the result."""
        raise NotImplementedError

    def header(self, cfg: BaseConfig) -> dict[str, Any]:
        """Keys every result of this benchmark carries beside ``config``."""
        return {}


def run_seed(bench: Benchmark, layout: int | None, cfg: BaseConfig, per_row: dict[str, Any], seed: int,
             rows: tuple[str, ...], *, first: bool, cache: Path | None, run: dict[str, Any] | None = None,
             log: Log | None = None, keep: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
    """The ``rows`` of one seed not yet in ``run`` (``keep(run)`` after each); returns ``run``.

    Every row draws from its own seeded generators, so a row's numbers do not depend on which rows ran
    before it in the same process (the resumed and the worker runs rely on it).
    """
    if log is None:  # a worker process: one torch thread, its own log
        torch.set_num_threads(1)
        log = stamped_log()
    run = {"seed": seed, "variants": {}} if run is None else run
    todo = [r for r in rows if r not in run["variants"]]
    if not todo:
        return run
    s = bench.build(layout, cfg, seed, cache)
    run.update(bench.seed_record(s))
    ctx = SeedRun(s, cfg, per_row, seed, first, run, log=log)
    for row in todo:
        r = bench.run_row(ctx, row)
        run["variants"][row] = r
        log(f"test {row} {layout_key(layout)} seed {seed}: "
            + ", ".join(f"{k}={v:.3f}" for k, v in bench.brief(r).items()))
        if keep is not None:
            keep(run)
    return run


def _same(a: Any, b: Any) -> bool:
    return json.dumps(jsonable(a), sort_keys=True) == json.dumps(jsonable(b), sort_keys=True)


def run_test(bench: Benchmark, protocol: dict[str, Any], layouts: list[int | None], seeds: list[int],
             rows: tuple[str, ...], *, cache: Path | None, log: Log = print, partial: Path | None = None,
             jobs: int = 1, **changes: Any) -> dict[str, Any]:
    """The test run: ``rows`` on ``layouts`` x ``seeds`` with the protocol's frozen settings and ``changes``.

    The result is saved to ``partial`` after every finished row (``jobs == 1``) or seed (``jobs > 1``:
    that many seeds at once in worker processes of one thread each); a rerun with the same protocol,
    settings and ``partial`` runs only what is missing. Numbers do not depend on ``jobs`` or on resuming.
    """
    cfg, per_row = bench.config_of(protocol, **changes)
    result: dict[str, Any] = {"benchmark": bench.name, "protocol": protocol, "config": cfg.as_dict(),
                              **bench.header(cfg), "rows": list(rows), "layouts": {}}
    done: dict[tuple[str, int], dict[str, Any]] = {}
    if partial is not None and partial.exists():
        old = json.loads(partial.read_text())
        if _same(old.get("protocol"), protocol) and _same(old.get("config"), result["config"]):
            done = {(k, r["seed"]): r for k, runs in old["layouts"].items() for r in runs}
            log(f"resuming from {partial}: {sum(len(r['variants']) for r in done.values())} rows done")
    runs = {(layout_key(lay), seed): done.get((layout_key(lay), seed), {"seed": seed, "variants": {}})
            for lay in layouts for seed in seeds}

    def keep(*_: object) -> None:
        for lay in layouts:
            key = layout_key(lay)
            result["layouts"][key] = [
                {**r, "variants": {n: r["variants"][n] for n in rows if n in r["variants"]}}
                for seed in seeds if (r := runs[(key, seed)])["variants"]]
        if partial is not None:
            bench.save(result, partial)

    pairs = [(lay, seed) for lay in layouts for seed in seeds]
    if jobs <= 1:
        for lay, seed in pairs:
            run_seed(bench, lay, cfg, per_row, seed, rows, first=seed == seeds[0], cache=cache,
                     run=runs[(layout_key(lay), seed)], log=log, keep=keep)
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            futures = {(lay, seed): pool.submit(_worker, bench.module, lay, cfg, per_row, seed, rows,
                                                seed == seeds[0], cache, runs[(layout_key(lay), seed)])
                       for lay, seed in pairs}
            for (lay, seed), future in futures.items():
                runs[(layout_key(lay), seed)] = future.result()
                keep()
    keep()
    return result


def _worker(module: str, layout: int | None, cfg: BaseConfig, per_row: dict[str, Any], seed: int,
            rows: tuple[str, ...], first: bool, cache: Path | None, run: dict[str, Any] | None) -> dict[str, Any]:
    bench = importlib.import_module(module).BENCHMARK
    return run_seed(bench, layout, cfg, per_row, seed, rows, first=first, cache=cache, run=run)


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from runs of different rows on the same layouts and seeds (the first one's protocol)."""
    out = {**results[0], "layouts": {}}
    out["seconds"] = sum(r.get("seconds", 0.0) for r in results)
    for r in results:
        for key, runs in r["layouts"].items():
            mine = out["layouts"].setdefault(key, [])
            mine.extend({"variants": {}} for _ in range(len(runs) - len(mine)))
            for m, run in zip(mine, runs, strict=False):
                m["variants"].update(run["variants"])
                m.update({k: v for k, v in run.items() if k != "variants"})
    return out


def normalise(bench: Benchmark, d: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(label, result)`` pairs in the driver's shape from a results file, former shapes included:
    several results under labels (``{"100 smooth": result, ...}``), results keyed by layout
    (``{"default": {"config", "runs": [...]}, "1": ...}``), ``runs`` beside ``layouts`` and rows under
    ``methods``, and the counts ``n_low`` / ``n_sim`` / ``n_real`` beside the protocol."""
    if "layouts" not in d and "runs" not in d:
        values = list(d.values())
        if values and all(isinstance(v, dict) and "layouts" in v for v in values):
            return [(label, r) for k, v in d.items() for label, r in [(k, normalise(bench, v)[0][1])]]
        if values and all(isinstance(v, dict) and isinstance(v.get("runs"), list) for v in values):
            d = {"config": values[0].get("config", {}),
                 "layouts": {layout_key(None if k == "default" else int(k)): v["runs"] for k, v in d.items()}}
    d = dict(d)
    if isinstance(d.get("runs"), dict):
        d["layouts"] = d.pop("runs")
    d["layouts"] = {k: [{("variants" if key == "methods" else key): v for key, v in run.items()} for run in runs]
                    for k, runs in d["layouts"].items()}
    d.setdefault("protocol", {})
    fields = {**d["protocol"].get("config", {}), **d.get("config", {})}
    fields.update({k: d[k] for k in ("n_clean", "n_low", "n_sim", "n_real", "n_test") if k in d})
    cfg = bench.config.load(fields)
    d["config"] = cfg.as_dict()
    return [("", {**d, **bench.header(cfg)})]
