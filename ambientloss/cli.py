"""Command-line entry point: ``ambientloss`` (also ``python -m ambientloss``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from . import __version__


def _demo(args: argparse.Namespace) -> int:
    from .demo import DemoConfig, format_table, run_demo

    cfg = DemoConfig(dim=args.dim, n_clean=args.n_clean, n_corrupt=args.n_corrupt, tau=args.tau, seed=args.seed)
    start = time.perf_counter()
    rows = run_demo(cfg)
    print(format_table(rows, cfg))
    print(f"\n(ran in {time.perf_counter() - start:.1f} s)")
    return 0


def _load_object(spec: str, what: str = "FUNCTION") -> object:
    """Import ``MODULE:ATTR`` (``ATTR`` may be dotted); the current directory is importable."""
    import importlib
    import os

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        msg = f"expected MODULE:{what}, got {spec!r}"
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
    return obj


def _load_callable(spec: str) -> object:
    """Import ``MODULE:FUNCTION`` and check that it is callable."""
    obj = _load_object(spec)
    if not callable(obj):
        msg = f"{spec!r} is not callable"
        raise ValueError(msg)
    return obj


def _load_schedule(spec: str) -> object:
    """A schedule name, or ``MODULE:ATTR`` naming an :class:`ambientloss.Schedule` object."""
    from .core.schedules import Schedule
    from .testing.oracle_schedules import NAMES

    if spec in NAMES:
        return spec
    if ":" not in spec:
        msg = f"unknown schedule {spec!r}; give one of {', '.join(NAMES)} or MODULE:ATTR naming a Schedule object"
        raise ValueError(msg)
    obj = _load_object(spec, "SCHEDULE")
    if not isinstance(obj, Schedule):
        msg = f"{spec!r} is a {type(obj).__name__}, not an ambientloss Schedule (Custom, Discrete, ...)"
        raise ValueError(msg)
    return obj


def _verify(args: argparse.Namespace) -> int:
    try:
        fn = _load_callable(args.target)
        schedule = _load_schedule(args.schedule)
    except ValueError as exc:
        print(f"ambientloss verify: error: {exc}", file=sys.stderr)
        return 2
    from .testing.check import check_target_fn

    try:
        report = check_target_fn(
            fn,  # type: ignore[arg-type]
            prediction=args.prediction,
            schedule=schedule,
            max_examples=args.max_examples,
            seed=args.seed,
            timeout=args.timeout,
        )
    except ImportError as exc:
        print(f"ambientloss verify: error: {exc}", file=sys.stderr)
        return 2
    print(report)
    return 0 if (report.passed_strict if args.strict else report.passed) else 1


def _fallback(value: str) -> str | float:
    """``--fallback``: ``largest``, ``inf`` or a number."""
    if value in ("largest", "inf"):
        return value
    try:
        return float(value)
    except ValueError:
        msg = f"expected 'largest', 'inf' or a number, got {value!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _pool(value: str) -> str | float:
    """``--pool``: a pool name or a quantile in [0, 1]."""
    from .annotation import POOLS

    if value in POOLS:
        return value
    try:
        q = float(value)
    except ValueError:
        q = -1.0
    if not 0.0 <= q <= 1.0:
        msg = f"expected one of {', '.join(POOLS)} or a quantile in [0, 1], got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return q


def _span(value: str) -> int | str:
    """``--ema-span``: a positive integer, or ``none`` to switch a preset's smoothing off."""
    if value == "none":
        return value
    try:
        span = int(value)
    except ValueError:
        span = 0
    if span < 1:
        msg = f"expected a positive integer or 'none', got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return span


def _load_npy(path: str, name: str, *, labels: bool = False) -> Any:
    """One floating array from ``path`` (``labels``: also integers, booleans or strings); never unpickles."""
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        msg = f"{name} file {path!r} does not exist"
    except IsADirectoryError:
        msg = f"{name} file {path!r} is a directory"
    except (ValueError, OSError, EOFError) as exc:  # not .npy, truncated, or Python objects (never unpickled)
        detail = "" if "pickle" in str(exc) else f" ({exc})"
        msg = f"{name} file {path!r} is not a readable .npy array of numbers{detail}"
    else:
        if isinstance(arr, np.ndarray) and (
            np.issubdtype(arr.dtype, np.floating) or (labels and arr.dtype.kind in "iubU")
        ):
            return arr
        if not isinstance(arr, np.ndarray):
            arr.close()  # an .npz archive holds an open file
        kind = f"dtype {arr.dtype}" if isinstance(arr, np.ndarray) else "an .npz archive"
        what = "array of labels (integers or strings)" if labels else "floating-point array"
        msg = f"{name} file {path!r} must hold one {what}, got {kind}"
    raise ValueError(msg)


def _annotate(args: argparse.Namespace) -> int:
    import os
    import warnings

    import numpy as np

    from .annotation import SELECTION_PRESETS, AllFallbackWarning, select_sigma_min
    from .annotation._files import atomic_write, npy_bytes
    from .core.conversions import convert_level
    from .core.schedules import get_schedule

    options = dict(SELECTION_PRESETS[args.preset]) if args.preset else {}
    given = {"probability": args.probability, "rule": args.rule, "eps": args.eps}
    given |= {"ema_span": args.ema_span, "fallback": args.fallback}
    if args.ema_span is not None:  # replaces a preset's smoothing, given in either unit
        options.pop("ema_fraction", None)
    options |= {key: value for key, value in given.items() if value is not None}
    if options.get("ema_span") == "none":
        options["ema_span"] = None
    try:
        for key in ("probability", "eps"):
            if key not in options:
                msg = f"--{key} is required (no --preset given that sets it)"
                raise ValueError(msg)
        units, to_units = get_schedule(args.units), get_schedule(args.to_units or args.units)
        probs, grid = _load_npy(args.trajectory, "trajectory"), _load_npy(args.grid, "grid")
        outside = ~((grid >= units.lower) & (grid <= units.upper))
        if grid.ndim == 1 and np.any(outside):
            i = int(np.argmax(outside))
            msg = (
                f"grid value {float(grid[i])!r} at index {i} is outside the domain "
                f"{units.domain_text} of the {units.name!r} schedule; is --units right?"
            )
            raise ValueError(msg)
        if args.groups is not None:
            options |= {"groups": _load_npy(args.groups, "groups", labels=True), "pool": args.pool or "max"}
        elif args.pool is not None:
            msg = "--pool pools the samples of each group: pass --groups GROUPS.npy"
            raise ValueError(msg)
        with warnings.catch_warnings(record=True) as caught:  # printed below as the command's own warning
            warnings.simplefilter("always", AllFallbackWarning)
            sigma_min = np.asarray(select_sigma_min(probs, grid, **options))
        took_fallback = _took_fallback(probs, grid, options)
        if to_units.name != units.name:  # a fallback of inf ("never used") stays inf in every schedule
            finite = np.isfinite(sigma_min)
            converted = convert_level(np.where(finite, sigma_min, 0.0), source=units, target=to_units)
            sigma_min = np.where(finite, converted, sigma_min)
        folder = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(folder):
            msg = f"cannot write {args.output!r}: folder {folder!r} does not exist"
            raise ValueError(msg)
        atomic_write(args.output, npy_bytes(sigma_min))
    except (ValueError, TypeError, OSError) as exc:
        print(f"ambientloss annotate: error: {exc}", file=sys.stderr)
        return 2
    finite = sigma_min[np.isfinite(sigma_min)]
    summary = f": min {finite.min():.6g}, median {np.median(finite):.6g}, max {finite.max():.6g}" if finite.size else ""
    print(f"wrote {sigma_min.size} sigma_min values in {to_units.name!r} units to {args.output}{summary}")
    n_fallback = int(took_fallback.sum())
    print(f"{n_fallback} of {sigma_min.size} samples never met the criterion on the grid and took the fallback")
    for w in caught:
        print(f"ambientloss annotate: warning: {w.message}", file=sys.stderr)
    if args.report is None:
        return 0
    try:
        paths = _write_report(args, sigma_min, to_units, took_fallback)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        print(f"ambientloss annotate: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote the annotation report to {', '.join(str(p) for p in paths.values())}")
    return 0


_BASES = ("lognormal", "uniform_vp", "logit_normal")


def _load_sources(path: str, n: int) -> Any:
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        detail = "" if "pickle" in str(exc) else f" ({exc})"
        msg = f"sources file {path!r} is not a readable .npy array of labels{detail}"
        raise ValueError(msg) from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuU" or arr.shape != (n,):
        got = f"shape {arr.shape}, dtype {arr.dtype}" if isinstance(arr, np.ndarray) else "an .npz archive"
        msg = f"sources file {path!r} must hold ({n},) integer or string labels, one per sample; got {got}"
        raise ValueError(msg)
    return arr


def _write_report(args: argparse.Namespace, sigma_min: Any, units: Any, took_fallback: Any) -> dict[str, Any]:
    from .annotation import ClassifierQuality, annotation_report
    from .sampling import LogitNormal, LogNormal, UniformVP

    quality = None
    if args.quality is not None:
        try:
            with open(args.quality) as f:
                quality = ClassifierQuality.from_json(f.read())
        except OSError as exc:
            msg = f"cannot read the classifier quality {args.quality!r}: {exc.strerror}"
            raise ValueError(msg) from None
    sources = None if args.sources is None else _load_sources(args.sources, sigma_min.shape[0])
    base = {"lognormal": LogNormal, "uniform_vp": UniformVP, "logit_normal": LogitNormal}[args.base]()
    report = annotation_report(
        sigma_min, sources=sources, schedule=units, base=base, quality=quality, took_fallback=took_fallback
    )
    return report.write(args.report)


def _took_fallback(probs: Any, grid: Any, options: dict[str, Any]) -> Any:
    """Which samples took the fallback: those whose level changes when the fallback does (one more selection)."""
    import warnings

    import numpy as np

    from .annotation import select_sigma_min

    with warnings.catch_warnings():  # already reported by the first selection
        warnings.simplefilter("ignore")
        marked = np.asarray(select_sigma_min(probs, grid, **{**options, "fallback": "inf"}))
    return np.isinf(marked)


def _add_annotate(sub: argparse._SubParsersAction) -> None:
    from .annotation import SELECTION_PRESETS

    annotate = sub.add_parser(
        "annotate",
        help="per-sample sigma_min from a saved classifier probability trajectory",
        description="Read a classifier probability trajectory TRAJ.npy of shape (N, G) or (N, G, draws), "
        "evaluated on the increasing noise levels GRID.npy of shape (G,), apply a selection rule and write "
        "one sigma_min per sample to OUT.npy. Exit status 0 on success, 2 on usage errors or bad input.",
    )
    annotate.add_argument("trajectory", metavar="TRAJ.npy", help="probabilities in [0, 1], shape (N, G[, draws])")
    annotate.add_argument("grid", metavar="GRID.npy", help="strictly increasing noise levels, shape (G,)")
    annotate.add_argument("-o", "--output", metavar="OUT.npy", required=True, help="where to write sigma_min (N,)")
    annotate.add_argument(
        "--probability",
        choices=["clean", "corrupt"],
        help="what the trajectory holds: P(clean) or P(corrupt) of each (corrupt) sample; required unless "
        "--preset sets it",
    )
    annotate.add_argument(
        "--rule",
        choices=["first", "monotone"],
        help="'first': the first level where the classifier is confused (Ambient-o); 'monotone' (default): "
        "the smallest level from which it stays confused at every larger level",
    )
    annotate.add_argument(
        "--eps",
        type=float,
        help="confusion threshold: a level qualifies when P(clean) > 1/2 - eps; required unless --preset sets it",
    )
    annotate.add_argument(
        "--ema-span",
        type=_span,
        help="smooth the draw-averaged trajectory along the grid with an EMA of this span in grid steps (pandas' "
        "span, adjust=False; at most the grid's length); 'none' (the default) switches smoothing off; either "
        "replaces a preset's smoothing (ambient_o: 1/64 of the grid's length)",
    )
    annotate.add_argument(
        "--fallback",
        type=_fallback,
        help="sigma_min of a sample that never qualifies: 'largest' grid level (default), 'inf' or a number",
    )
    annotate.add_argument(
        "--preset",
        choices=sorted(SELECTION_PRESETS),
        help="published settings (other options override them): "
        + "; ".join(f"{name}: {kw}" for name, kw in sorted(SELECTION_PRESETS.items())),
    )
    annotate.add_argument(
        "--groups",
        metavar="GROUPS.npy",
        help="one group label per sample, shape (N,) (a demonstration, a source; integers or strings): every "
        "sample of a group gets one sigma_min, pooled by --pool",
    )
    annotate.add_argument(
        "--pool",
        type=_pool,
        help="how a group's samples make its level: 'max' (default, conservative: no sample's level drops), "
        "'median', a quantile in [0, 1], or 'mean_trajectory' (the rule on the group's mean trajectory)",
    )
    annotate.add_argument(
        "--units", default="vp", help="schedule of GRID: vp (default, s in [0, 1]), ve (EDM sigma) or flow (t)"
    )
    annotate.add_argument(
        "--to-units", help="convert the result to this schedule through the schedule-free level b/a (default: --units)"
    )
    annotate.add_argument(
        "--report",
        metavar="DIR",
        help="also write the annotation report to DIR: report.md (table), report.png (figure) and report.json "
        "(needs matplotlib for the figure)",
    )
    annotate.add_argument(
        "--sources", metavar="SOURCES.npy", help="the report's per-sample source labels, integers or strings, (N,)"
    )
    annotate.add_argument(
        "--quality",
        metavar="QUALITY.json",
        help="held-out classifier quality for the report (ClassifierQuality.to_json, e.g. of fit_classifier's)",
    )
    annotate.add_argument(
        "--base",
        choices=_BASES,
        default="lognormal",
        help="the report's base distribution of training levels, for each source's admissible mass: lognormal "
        "(EDM's, default), uniform_vp or logit_normal, with default parameters",
    )
    annotate.set_defaults(func=_annotate)


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
    from .core.targets import PREDICTIONS

    verify = sub.add_parser(
        "verify",
        help="check an ambient-target implementation MODULE:FUNCTION against exact oracles",
        description="Property-based check of fn(x_t, x_tmin, sigma, sigma_min) (NumPy, PyTorch or JAX): "
        "unbiasedness on Gaussian data, reduction at sigma_min = 0, finiteness at the edges, float32 "
        "accuracy near sigma_min, and shape and dtype. Findings (NaN at sigma == sigma_min, which training "
        "must never draw) are listed first. Exit status 0 when every property holds, 1 when one fails (or, "
        "with --strict, when there is a finding), 2 on usage errors.",
    )
    verify.add_argument("target", metavar="MODULE:FUNCTION", help="the function to check, e.g. mypkg.losses:target")
    verify.add_argument(
        "--prediction", default="x0", choices=list(PREDICTIONS), help="what the target predicts (default x0)"
    )
    verify.add_argument(
        "--schedule",
        default="vp",
        metavar="SCHEDULE",
        help="noise schedule: vp, ve (edm), flow (rectified_flow), or MODULE:ATTR naming the ambientloss Schedule "
        "object the function uses, e.g. a Custom or Discrete one (default vp)",
    )
    verify.add_argument("--max-examples", type=int, default=100, help="Hypothesis examples per property (default 100)")
    verify.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    verify.add_argument("--timeout", type=float, default=5.0, help="seconds one call may take (default 5)")
    verify.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on a finding too, e.g. NaN at sigma == sigma_min, not only on a failed property",
    )
    verify.set_defaults(func=_verify)
    _add_annotate(sub)
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
