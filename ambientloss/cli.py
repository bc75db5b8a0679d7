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


def _load_callable(spec: str) -> object:
    """Import ``MODULE:FUNCTION`` (``FUNCTION`` may be dotted); the current directory is importable."""
    import importlib
    import os

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        msg = f"expected MODULE:FUNCTION, got {spec!r}"
        raise ValueError(msg)
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: object = importlib.import_module(module_name)
    except Exception as exc:
        msg = f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
        raise ValueError(msg) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            msg = f"module {module_name!r} has no attribute {attr!r}"
            raise ValueError(msg) from None
    if not callable(obj):
        msg = f"{spec!r} is not callable"
        raise ValueError(msg)
    return obj


def _verify(args: argparse.Namespace) -> int:
    try:
        fn = _load_callable(args.target)
    except ValueError as exc:
        print(f"ambientloss verify: error: {exc}", file=sys.stderr)
        return 2
    from .testing.check import check_target_fn

    try:
        report = check_target_fn(
            fn,  # type: ignore[arg-type]
            prediction=args.prediction,
            schedule=args.schedule,
            max_examples=args.max_examples,
            seed=args.seed,
            timeout=args.timeout,
        )
    except ImportError as exc:
        print(f"ambientloss verify: error: {exc}", file=sys.stderr)
        return 2
    print(report)
    return 0 if report.passed else 1


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
    from .targets import PREDICTIONS

    verify = sub.add_parser(
        "verify",
        help="check an ambient-target implementation MODULE:FUNCTION against exact oracles",
        description="Property-based check of fn(x_t, x_tmin, sigma, sigma_min) (NumPy, PyTorch or JAX): "
        "unbiasedness on Gaussian data, reduction at sigma_min = 0, finiteness at the edges, float32 "
        "accuracy near sigma_min, and shape and dtype. Exit status 0 when every property holds, 1 when "
        "one fails, 2 on usage errors.",
    )
    verify.add_argument("target", metavar="MODULE:FUNCTION", help="the function to check, e.g. mypkg.losses:target")
    verify.add_argument(
        "--prediction", default="x0", choices=list(PREDICTIONS), help="what the target predicts (default x0)"
    )
    verify.add_argument("--schedule", default="vp", choices=["vp", "ve", "flow"], help="noise schedule (default vp)")
    verify.add_argument("--max-examples", type=int, default=100, help="Hypothesis examples per property (default 100)")
    verify.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    verify.add_argument("--timeout", type=float, default=5.0, help="seconds one call may take (default 5)")
    verify.set_defaults(func=_verify)
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
    if getattr(args, "max_examples", 1) < 1:
        parser.error(f"--max-examples must be a positive integer, got {args.max_examples}")
    if not getattr(args, "timeout", 1.0) > 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    if getattr(args, "tau", 1.0) <= 0:
        parser.error(f"--tau must be positive, got {args.tau}")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
