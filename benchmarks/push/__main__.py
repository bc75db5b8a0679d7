"""Command line of the pushing (sim-to-real) benchmark (run from a checkout: ``python -m benchmarks.push ...``).

    python -m benchmarks.push tune  --out runs/push            # validation sweep -> runs/push/protocol.json
    python -m benchmarks.push final --layouts default 1 --seeds 0 1 2 --out runs/push
    python -m benchmarks.push quick                            # 2 seeds side by side, default layout, 3 methods
    python -m benchmarks.push tiny                             # every stage in seconds (a smoke run)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks.policy.io import stamped_log

from . import report
from .env import make_layout
from .experiment import VARIANTS, Config
from .protocol import final, save, tune

FROZEN = Path(__file__).with_name("protocol.json")
QUICK = {"n_test": 100}
QUICK_VARIANTS = (("clean", "ambient"), ("cotrain", "ambient"))


def _layout(text: str) -> int | None:
    return None if text == "default" else int(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.push", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=["tune", "final", "quick", "tiny"])
    p.add_argument("--protocol", type=Path, default=FROZEN,
                   help="frozen protocol (default benchmarks/push/protocol.json)")
    p.add_argument("--layouts", nargs="+", default=["default"], help="'default' and/or layout seeds")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=Path("push-results"))
    p.add_argument("--cache", type=Path, default=Path(".push-cache"), help="recorded demonstrations are kept here")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=None,
                   help="seeds run at once in worker processes of one thread each (default: 2 for quick, else 1)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log = stamped_log(t0)
    if a.stage == "tune":
        protocol = tune(Config(), cache=a.cache, log=log)
        protocol["seconds"] = time.perf_counter() - t0
        save(protocol, a.out / "protocol.json")
        print(json.dumps({k: protocol[k] for k in ("protocol_variant", "classifier_score", "config")}, indent=1))
        return 0
    if a.stage == "tiny":
        protocol = tune(Config.tiny(), cache=None, log=log, steps_candidates=(2, 3))
        result = final(protocol, [None], [0], cache=None, log=log)
    else:
        protocol = json.loads(a.protocol.read_text())
        layouts, seeds, changes, variants = [_layout(x) for x in a.layouts], a.seeds, {}, VARIANTS
        if a.stage == "quick":
            layouts, seeds, changes = [None], [0, 1], QUICK
            variants = (*QUICK_VARIANTS, tuple(protocol["protocol_variant"].split(":")))
        jobs = a.jobs if a.jobs is not None else 2 if a.stage == "quick" else 1
        result = final(protocol, layouts, seeds, cache=a.cache, variants=variants, log=log,
                       partial=a.out / "results.partial.json", jobs=jobs, **changes)
    result["seconds"] = time.perf_counter() - t0
    save(result, a.out / "results.json")
    chosen = result["protocol"]["protocol_variant"]
    for key, runs in result["layouts"].items():
        summ = report.rows(runs)
        print(f"\n## push {key}: success in REAL on {result['n_test']} test tasks ({len(runs)} seeds, "
              f"{result['n_real']} real + {result['n_sim']} sim demonstrations)\n")
        print(report.table(summ))
        if chosen in summ:
            print("\n" + report.reading(summ, runs, chosen))
        report.figures(result, a.out, make_layout(None if key == "default" else int(key.split()[1])), key)
    print(f"\nRan in {result['seconds']:.0f} s; outputs in {a.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
