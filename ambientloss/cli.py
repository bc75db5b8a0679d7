"""Command-line entry point: ``ambientloss`` (also ``python -m ambientloss``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from . import __version__


def _demo(args: argparse.Namespace) -> int:
    from .demo import DemoConfig, format_table, run_demo

    cfg = DemoConfig(dim=args.dim, n_clean=args.n_clean, n_corrupt=args.n_corrupt, tau=args.tau, seed=args.seed)
    start = time.perf_counter()
    rows = run_demo(cfg)
    print(format_table(rows, cfg))
    print(f"\n(ran in {time.perf_counter() - start:.1f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per subcommand."""
    parser = argparse.ArgumentParser(prog="ambientloss", description="Exact ambient-diffusion targets and losses.")
    parser.add_argument("--version", action="version", version=f"ambientloss {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="Gaussian experiment: clean-only vs naive mixing vs ambient training of a linear denoiser",
        description="Train a linear denoiser on few clean and many corrupt Gaussian samples three ways and "
        "print its error against the closed-form optimum per noise level.",
    )
    demo.add_argument("--dim", type=int, default=8, help="data dimension (default 8)")
    demo.add_argument("--n-clean", type=int, default=32, help="number of clean samples (default 32)")
    demo.add_argument("--n-corrupt", type=int, default=4096, help="number of corrupt samples (default 4096)")
    demo.add_argument("--tau", type=float, default=0.6, help="std of the corruption noise (default 0.6)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    for name in ("dim", "n_clean", "n_corrupt"):
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if getattr(args, "tau", 1.0) <= 0:
        parser.error(f"--tau must be positive, got {args.tau}")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
