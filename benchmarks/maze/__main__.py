"""Command line of the maze benchmark (run from a checkout: ``python -m benchmarks.maze ...``).

python -m benchmarks.maze tune  --out runs/maze            # validation sweep -> runs/maze/protocol.json
python -m benchmarks.maze final --protocol benchmarks/maze/protocol.json --layouts default 1 --seeds 0 1 2
python -m benchmarks.maze quick                            # 2 seeds, default layout, <= 10 min on 2 cores
python -m benchmarks.maze final --layouts 7 --seeds 0 1 2  # any layout seed
python -m benchmarks.maze tiny                             # every stage in seconds (a smoke run)
python -m benchmarks.maze report --inputs a/results.json b/results.json --out merged   # rows run apart
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks.policy.io import stamped_log

from . import report
from .env import make_maze
from .experiment import VARIANTS, Config
from .protocol import final, save, tune, tune_pooled

FROZEN = Path(__file__).with_name("protocol.json")
QUICK = {"n_test": 100, "steps": 1200}  # 2 seeds of 3 rows in <= 10 min on 2 cores
QUICK_VARIANTS = (("clean", "ambient"), ("cotrain", "ambient"))


def _layout(text: str) -> int | None:
    return None if text == "default" else int(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.maze", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("stage", choices=["tune", "tune-pooled", "final", "quick", "tiny", "report"])
    p.add_argument("--inputs", nargs="+", type=Path, default=[], help="report: results.json files to merge")
    p.add_argument(
        "--protocol", type=Path, default=FROZEN, help="frozen protocol (default benchmarks/maze/protocol.json)"
    )
    p.add_argument("--layouts", nargs="+", default=["default"], help="'default' and/or layout seeds")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--n-clean", type=int, default=None, help="smooth demonstrations (protocol: 100)")
    p.add_argument("--out", type=Path, default=Path("maze-results"))
    p.add_argument("--cache", type=Path, default=Path(".maze-cache"), help="planned demonstrations are kept here")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variants", nargs="+", default=None, help="method:loss rows to run (default: all six)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log = stamped_log(t0)
    if a.stage == "tune":
        protocol = tune(Config(), cache=a.cache, log=log)
        save(protocol, a.out / "protocol.json")
        print(json.dumps({k: protocol[k] for k in ("protocol_variant", "classifier_accuracy")}, indent=1))
        return 0
    if a.stage == "tune-pooled":
        protocol = tune_pooled(json.loads(a.protocol.read_text()), cache=a.cache, log=log)
        save(protocol, a.out / "protocol.json")
        print(json.dumps({"protocol_variant": protocol["protocol_variant"]}))
        return 0
    if a.stage == "report":
        return _report(merge([json.loads(f.read_text()) for f in a.inputs]), a.out)
    if a.stage == "tiny":
        cfg = Config.tiny()
        protocol = tune_pooled(tune(cfg, cache=None, log=log), cache=None, log=log)
        result = final(protocol, [None], [0], cache=None, log=log, variants=(*VARIANTS, ("ambient_traj", "ambient")))
    else:
        protocol = json.loads(a.protocol.read_text())
        changes = {} if a.n_clean is None else {"n_clean": a.n_clean}
        layouts = [_layout(x) for x in a.layouts]
        seeds = a.seeds
        variants = VARIANTS if a.variants is None else tuple(tuple(v.split(":")) for v in a.variants)
        if a.stage == "quick":
            layouts, seeds, changes = [None], [0, 1], {**changes, **QUICK}
            variants = (*QUICK_VARIANTS, *(tuple(protocol["protocol_variant"].split(":")),))
        result = final(protocol, layouts, seeds, cache=a.cache, variants=variants, log=log, **changes)
    result["seconds"] = time.perf_counter() - t0
    return _report(result, a.out)


def merge(results: list[dict]) -> dict:
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


def _report(result: dict, out: Path) -> int:
    save(result, out / "results.json")
    chosen = result["protocol"]["protocol_variant"]
    for key, runs in result["layouts"].items():
        summ = report.rows(runs)
        print(f"\n## maze {key} ({len(runs)} seeds, {result['n_clean']} smooth + {result['n_low']} RRT)\n")
        data = [r["data_jerk"]["smooth"] for r in runs if "data_jerk" in r]
        print(report.table(summ, float(sum(data) / len(data)) if data else None))
        if chosen in summ and "clean:ambient" in summ and "cotrain:ambient" in summ:
            print("\n" + report.reading(summ, chosen))
        report.figures(result, out, make_maze(None if key == "default" else int(key.split()[1])), key)
    print(f"\nRan in {result['seconds']:.0f} s; outputs in {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
