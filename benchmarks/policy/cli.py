"""The command line every closed-loop benchmark shares: ``python -m benchmarks.<name> STAGE [options]``.

Stages:

- ``tune``: the validation sweep on the default layout, seed 0 -> ``OUT/protocol.json`` (copy it over
  ``benchmarks/<name>/protocol.json`` to freeze it);
- ``final``: the test run of the frozen protocol, every row on ``--layouts`` x ``--seeds``; every finished
  row is saved to ``OUT/results.partial.json`` and a rerun skips it (``--fresh`` starts over);
- ``quick``: clean only, co-training and the protocol's variant on 2 seeds of the default layout, in
  minutes, a smoke-level budget;
- ``tiny``: every stage at seconds-sized settings (the test suite runs it);
- ``report``: the tables and figures again from results files (``--inputs``; several are merged row by row);
- any stage of the benchmark's own that refines a tuned protocol (the maze's ``tune-pooled``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from .driver import Benchmark, merge, normalise, run_test
from .io import stamped_log

__all__ = ["main"]


def _layout(text: str) -> int | None:
    return None if text == "default" else int(text)


def parser(bench: Benchmark) -> argparse.ArgumentParser:
    """The argument parser of ``bench``'s command line."""
    p = argparse.ArgumentParser(prog=f"python -m benchmarks.{bench.name}", description=bench.doc + "\n" + __doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=["tune", *bench.extra_stages, "final", "quick", "tiny", "report"])
    p.add_argument("--protocol", type=Path, default=bench.frozen, help=f"frozen protocol (default {bench.frozen})")
    p.add_argument("--layouts", nargs="+", default=["default", "1"], help="'default' and/or layout seeds")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="training seeds (default 0 1 2; quick: 0 1)")
    p.add_argument("--rows", nargs="+", default=None, help=f"rows to run (default: {' '.join(bench.rows)})")
    p.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE", help="settings changed from the protocol")
    p.add_argument("--out", type=Path, default=Path("results") / bench.name)
    p.add_argument("--cache", type=Path, default=bench.cache, help="demonstrations are kept here")
    p.add_argument("--threads", type=int, default=None, help=f"torch threads (default {bench.threads}; tiny: 1)")
    p.add_argument("--jobs", type=int, default=None,
                   help=f"seeds at once in worker processes of one thread each (default: {bench.quick_jobs} for "
                        "quick, else 1)")
    p.add_argument("--fresh", action="store_true", help="final: ignore the saved rows of an earlier run")
    p.add_argument("--inputs", nargs="+", type=Path, default=[], help="report: results files to merge")
    return p


def main(bench: Benchmark, argv: list[str] | None = None) -> int:
    """Run one stage of ``bench`` (see the module docstring); returns the exit status."""
    a = parser(bench).parse_args(argv)
    torch.set_num_threads(a.threads or (1 if a.stage == "tiny" else bench.threads))
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log = stamped_log(t0)
    if a.stage == "report":
        if not a.inputs:
            raise SystemExit("report needs --inputs")
        found = [pair for f in a.inputs for pair in normalise(bench, json.loads(f.read_text()))]
        results = [("", merge([r for _, r in found]))] if len(a.inputs) > 1 else found
        for label, result in results:
            out = a.out / label.replace(" ", "-") if label else a.out
            out.mkdir(parents=True, exist_ok=True)
            print(f"\n# {label}" if label else "")
            _report(bench, result, out)
        return 0
    if a.stage == "tune":
        protocol = bench.tune(bench.config().parse(a.set), cache=a.cache, log=log)
        protocol["seconds"] = time.perf_counter() - t0
        bench.save(protocol, a.out / "protocol.json")
        print(json.dumps({k: protocol.get(k) for k in ("protocol_variant", "config")}, indent=1))
        return 0
    if a.stage in bench.extra_stages:
        protocol = bench.refine(a.stage, json.loads(a.protocol.read_text()), cache=a.cache, log=log)
        bench.save(protocol, a.out / "protocol.json")
        print(json.dumps({"protocol_variant": protocol.get("protocol_variant")}))
        return 0
    changes: dict[str, Any] = {}
    layouts, seeds, jobs = [_layout(x) for x in a.layouts], a.seeds or [0, 1, 2], a.jobs or 1
    if a.stage == "tiny":
        cfg = bench.config.tiny().parse(a.set)
        protocol = bench.tune(cfg, cache=None, log=log, tiny=True)
        for stage in bench.extra_stages:
            protocol = bench.refine(stage, protocol, cache=None, log=log)
        layouts, seeds, rows, cache = [None], a.seeds or [0], bench.tiny_rows or bench.rows, None
    else:
        protocol = json.loads(a.protocol.read_text())
        changes = bench.config_of(protocol)[0].parse(a.set).as_dict()
        rows, cache = bench.rows, a.cache
        if a.stage == "quick":
            layouts, seeds, rows = [None], a.seeds or [0, 1], bench.quick_rows(protocol)
            changes.update(bench.quick)
            jobs = a.jobs or bench.quick_jobs
    partial = a.out / "results.partial.json"
    if a.fresh and partial.exists():
        partial.unlink()
    result = run_test(bench, protocol, layouts, seeds, tuple(a.rows or rows), cache=cache, log=log,
                      partial=partial, jobs=jobs, **changes)
    result["seconds"] = time.perf_counter() - t0
    _report(bench, result, a.out)
    partial.unlink(missing_ok=True)
    print(f"\nRan in {result['seconds']:.0f} s; outputs in {a.out}/")
    return 0


def _report(bench: Benchmark, result: dict[str, Any], out: Path) -> None:
    result.update(bench.report(result, out))
    bench.save(result, out / "results.json")
