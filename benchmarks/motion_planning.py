"""Motion-planning benchmark: clean-only vs co-training vs ambient diffusion policies in a 2-D maze.

Runs :func:`ambientloss.maze.experiment.run_experiment` with the full configuration by default (all
methods, the default maze and one seeded layout, 3 seeds, 100 smooth + 5000 RRT trajectories) and
writes ``results.md``, ``results.json`` and PNG figures to ``--out``. Every option of
:class:`~ambientloss.maze.experiment.ExperimentConfig` that matters for the budget is a flag.

Examples::

    python benchmarks/motion_planning.py                                   # full configuration
    python benchmarks/motion_planning.py --layouts default 1 4 --seeds 0 1 2 --steps 12000
    python benchmarks/motion_planning.py --n-rrt 2000 --methods clean cotrain ambient --out /tmp/maze
    python benchmarks/motion_planning.py --quick                           # the demo's reduced configuration
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields, replace

from ambientloss.maze.experiment import METHODS, ExperimentConfig, run_experiment
from ambientloss.maze.report import write_outputs


def _layout(text: str) -> int | None:
    return None if text == "default" else int(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="maze-benchmark", help="output folder (default maze-benchmark)")
    p.add_argument("--quick", action="store_true", help="start from the reduced configuration of the demo")
    p.add_argument("--layouts", nargs="+", type=_layout, help="'default' and/or integer layout seeds")
    p.add_argument("--seeds", nargs="+", type=int, help="training / data seeds (default 0 1 2)")
    p.add_argument("--methods", nargs="+", choices=METHODS, help="methods to run (default all)")
    p.add_argument("--n-clean", type=int, help="smooth trajectories (default 100)")
    p.add_argument("--n-rrt", type=int, help="RRT trajectories (default 5000)")
    p.add_argument("--n-test", type=int, help="held-out queries (default 100)")
    p.add_argument("--samples-per-query", type=int, help="samples per held-out query (default 4)")
    p.add_argument("--steps", type=int, help="training steps per model: the budget (default 6000)")
    p.add_argument("--batch-size", type=int, help="batch size (default 256)")
    p.add_argument("--width", type=int, help="hidden width of the policy network (default 256)")
    p.add_argument("--classifier-steps", type=int, help="classifier training steps (default 1500)")
    p.add_argument("--classifier-eps", type=float, help="annotation threshold eps (default 0.05)")
    p.add_argument("--clean-fraction", type=float, help="share of clean rows per batch (default 0.5)")
    p.add_argument("--sweep", nargs="+", type=float, help="candidate dataset-level sigma_min (VP levels)")
    p.add_argument("--sigma-max", type=float, help="sigma_max of ambient_omni (VP level, default 0.1)")
    p.add_argument("--threads", type=int, help="torch threads (default 1; 0 keeps torch's default)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = ExperimentConfig.quick() if args.quick else ExperimentConfig()
    changes = {}
    for f in fields(ExperimentConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            changes[f.name] = tuple(value) if isinstance(value, list) else value
    if changes.get("threads") == 0:
        changes["threads"] = None
    for name in ("n_clean", "n_rrt", "n_test", "samples_per_query", "steps", "batch_size", "width"):
        if name in changes and changes[name] < 1:
            print(f"--{name.replace('_', '-')} must be a positive integer", file=sys.stderr)
            return 2
    cfg = replace(cfg, **changes)
    result = run_experiment(cfg, progress=not args.no_progress)
    written = write_outputs(result, args.out, figures=not args.no_figures)
    print(written["table"])
    print(f"\nOutputs in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
