"""Motion-planning reproduction: does ambient training keep the smoothness of few clean trajectories
while gaining from many jerky ones?

A 2-D maze (:mod:`~ambientloss.maze.env`), a smooth near-optimal planner and plain RRT
(:mod:`~ambientloss.maze.planners`), a conditional diffusion policy over whole trajectories
(:mod:`~ambientloss.maze.policy`, PyTorch), the training methods (:mod:`~ambientloss.maze.methods`),
metrics (:mod:`~ambientloss.maze.metrics`), the experiment driver (:mod:`~ambientloss.maze.experiment`)
and its outputs (:mod:`~ambientloss.maze.report`). Importing this package imports neither PyTorch
nor matplotlib; :func:`run_demo` needs both (``pip install "ambientloss[demo]"``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

__all__ = ["DEMO_OPTIONS", "add_demo_arguments", "run_demo", "run_demo_from_args"]

#: argparse options of ``ambientloss demo maze``: ``(flags, keyword arguments of add_argument)``
DEMO_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--out",), {"default": "ambientloss-maze-demo", "help": "output folder (default ambientloss-maze-demo)"}),
    (("--seed",), {"type": int, "default": 0, "help": "random seed (default 0)"}),
    (("--full",), {"action": "store_true", "help": "full configuration (all methods, 2 layouts, 3 seeds; long)"}),
    (("--no-progress",), {"action": "store_true", "help": "no progress bar"}),
]


def add_demo_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add :data:`DEMO_OPTIONS` to ``parser``."""
    for flags, kwargs in DEMO_OPTIONS:
        parser.add_argument(*flags, **kwargs)
    return parser


def _require(figures: bool) -> None:
    if importlib.util.find_spec("torch") is None:
        msg = 'the maze demo needs PyTorch: pip install "ambientloss[torch]" (or "ambientloss[demo]" with matplotlib)'
        raise ImportError(msg)
    if figures and importlib.util.find_spec("matplotlib") is None:
        msg = 'the maze demo draws its figures with matplotlib: pip install "ambientloss[demo]"'
        raise ImportError(msg)


def run_demo(
    out_dir: str | Path, *, quick: bool = True, seed: int = 0, progress: bool = True, config: Any = None
) -> dict[str, Any]:
    """Run the motion-planning experiment and write ``results.md``, ``results.json`` and PNG figures.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the outputs (created if needed).
    quick : bool
        The reduced configuration (default maze, one seed, four methods, a few minutes on two CPU
        cores) instead of the full one (two layouts, three seeds, five methods).
    seed : int
        First seed; the full configuration runs ``seed, seed + 1, seed + 2``.
    progress : bool
        Show a progress bar (tqdm) on stderr.
    config : ExperimentConfig, optional
        Overrides ``quick`` and ``seed`` with a configuration of your own.

    Returns
    -------
    dict
        ``table`` (markdown, with a header line), ``rows`` (the summary), ``paths`` (written files),
        ``seconds`` and ``out_dir``.

    Raises
    ------
    ImportError
        When PyTorch or matplotlib is missing, naming the extra to install.
    """
    from .experiment import ExperimentConfig, run_experiment
    from .report import write_outputs

    _require(figures=True)
    if config is None:
        config = ExperimentConfig.quick(seeds=(seed,)) if quick else ExperimentConfig(seeds=(seed, seed + 1, seed + 2))
    result = run_experiment(config, progress=progress)
    written = write_outputs(result, out_dir)
    return {**written, "seconds": result["seconds"], "out_dir": str(out_dir)}


def run_demo_from_args(args: argparse.Namespace) -> int:
    """Run :func:`run_demo` with parsed :data:`DEMO_OPTIONS`, print the table and the output folder."""
    try:
        result = run_demo(args.out, quick=not args.full, seed=args.seed, progress=not args.no_progress)
    except ImportError as exc:
        print(f"ambientloss demo maze: error: {exc}", file=sys.stderr)
        return 2
    print(result["table"])
    print(f"\nOutputs in {result['out_dir']}/ (results.md, results.json, *.png); ran in {result['seconds']:.0f} s")
    return 0
