"""Command line of the bin-sorting benchmark.

``python -m benchmarks.sorting --tune`` chooses the tuned settings on validation tasks of the default layout
and writes ``benchmarks/sorting/protocol.json``; ``--quick`` (2 seeds, default layout, clean only,
co-training and Ambient-Omni by sweep on 100 test tasks), ``--full`` (3 seeds, the default layout and
``--layout N``, every method) and ``--tiny`` (a smoke run) then read it, evaluate on test tasks and write
``results.json`` and the figures to ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.policy.io import jsonable

from .experiment import Config, build, run_seed
from .protocol import load, tune
from .report import figures, reading, summarise, table

PROTOCOL = Path(__file__).with_name("protocol.json")
SWEEP = (5, 10, 20, 30, 45)  #: Ambient-Omni sigma_max candidates (training timesteps)
LEVELS = (40,)  #: dataset-level sigma_min candidates (training timesteps)
EPS = (0.1,)  #: chunk-classifier margins
#: --quick: the three rows the issue's targets compare, on 100 test tasks per seed (under 10 minutes on 2 cores)
QUICK: dict[str, Any] = {"methods": ("clean", "cotrain", "omni_sweep"), "n_test": 100}
#: clean only on 100 validation tasks (default layout, seed 0) while choosing width, batch and steps for the budget
BUDGET_PROBE = [
    {"widths": [32, 64], "batch_size": 256, "steps": 1500, "obs": 9, "logic": 0.27, "seconds": 147},
    {"widths": [32, 64], "batch_size": 128, "steps": 1500, "obs": 9, "logic": 0.23, "seconds": 79},
    {"widths": [32, 64], "batch_size": 128, "steps": 1500, "obs": 11, "logic": 0.13, "seconds": 103},
    {"widths": [16, 32], "batch_size": 128, "steps": 1500, "obs": 11, "logic": 0.15, "seconds": 41},
    {"widths": [16, 32], "batch_size": 128, "steps": 3000, "obs": 11, "logic": 0.53, "seconds": 125},
    {"widths": [16, 32], "batch_size": 64, "steps": 3000, "obs": 11, "logic": 0.21, "seconds": 98},
]



def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sorting", description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group(required=True)
    for m in ("tune", "quick", "full", "tiny"):
        mode.add_argument(f"--{m}", action="store_true")
    p.add_argument("--layout", type=int, default=1, help="the seeded layout of --full (default 1)")
    p.add_argument("--seeds", type=int, nargs="+", help="training seeds (default: 0 1 for --quick, 0 1 2 for --full)")
    p.add_argument("--out", type=Path, default=Path("results/sorting"))
    p.add_argument("--protocol", type=Path, default=PROTOCOL)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    if a.tune:
        proto = tune(Config(), sweep=SWEEP, levels=LEVELS, eps=EPS, log=lambda s: print(s, flush=True))
        proto["budget_probe"] = BUDGET_PROBE
        proto["seconds"] = time.perf_counter() - t0
        a.protocol.write_text(json.dumps(jsonable(proto), indent=1) + "\n")
        print(f"protocol -> {a.protocol}: {proto['config']}, sigma_max {proto['sigma_max']:.3f}, "
              f"harmless up to {proto['harmless_sigma_max']}; {proto['seconds']:.0f} s")
        return 0

    if a.tiny:
        cfg, proto = Config.tiny(), {}
    else:
        cfg, proto = load(a.protocol), json.loads(a.protocol.read_text())
    if a.quick:
        cfg = dataclasses.replace(cfg, **QUICK)
    seeds = a.seeds or ([0, 1, 2] if a.full else [0, 1] if a.quick else [0])
    layouts: dict[str, int | None] = {"default": None}
    if a.full:
        layouts[f"seed {a.layout}"] = a.layout
    runs: dict[str, list[dict[str, Any]]] = {}
    for name, lay in layouts.items():
        runs[name] = []
        for seed in seeds:
            s = build(lay, cfg, seed)
            r = run_seed(s, cfg, seed, "test", n_traces=40 if seed == seeds[0] else 0)
            runs[name].append(r)
            cells = ", ".join(f"{m} {100 * v['logic']:.0f}/{100 * v['completion']:.0f}"
                              for m, v in r["methods"].items())
            print(f"[{name} seed {seed}] logic/completion: {cells}  ({sum(r['seconds'].values()):.0f} s)", flush=True)
    summ = summarise(runs, cfg.methods)
    print(table(summ))
    lines = reading(summ, proto)
    print("\n".join(lines))
    paths = figures(runs, summ, layouts, a.out)
    result = {"config": dataclasses.asdict(cfg), "protocol": proto, "seeds": seeds, "layouts": layouts,
              "summary": summ, "reading": lines, "runs": runs, "seconds": time.perf_counter() - t0}
    (a.out / "results.json").write_text(json.dumps(jsonable(result)) + "\n")
    print(f"wrote {a.out / 'results.json'}, {', '.join(map(str, paths))}; {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
