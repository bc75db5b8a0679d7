"""Cost of the ambient training step relative to the plain denoising step, without the network.

Three step functions run on the same inputs, interleaved repetition by repetition so that machine
noise hits all of them alike:

``plain``
    ``x_t = add_noise(x0, sigma, noise)``; ``loss = squared_error(pred, noise)`` (epsilon target).
``pair``
    ``levels = Levels(sigma, sigma_min)``, built once per step and passed to both calls (the
    intended usage: the levels are checked once, with one host read, and their coefficients shared);
    ``x_t, target = ambient_pair(x_tmin, levels, noise, prediction="epsilon")``;
    ``loss = squared_error(pred, target, weight=loss_weight(levels, prediction="epsilon"))``.
``renoise``
    ``levels = Levels(sigma, sigma_min)``; ``x_t = renoise(x_tmin, levels, noise)``;
    ``target = ambient_target(x_t, x_tmin, levels, prediction="epsilon")``; same loss.

Every step returns ``(x_t, loss)``, so nothing is dead code under ``torch.compile`` or ``jax.jit``.
``pred`` is a fixed array standing in for the network output. The report gives median times, the
ratio ambient / plain of the medians, peak memory and its ratio, then a markdown table.

Run ``python benchmarks/speed/bench_targets.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import math
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import ambientloss as al

SIZES: dict[str, tuple[int, ...]] = {
    "action": (256, 16, 7),  # a batch of action chunks: B x horizon x action dim
    "image": (64, 3, 64, 64),  # a batch of 64x64 RGB images
    "wide": (4096, 1024),  # a large flat batch, bandwidth bound
}
BACKENDS = ("numpy", "torch", "torch.compile", "jax.jit")
_BACKEND_ALIASES = {"compile": "torch.compile", "jax": "jax.jit", "eager": "torch"}
VARIANTS = ("plain", "pair", "renoise")

#: memory traffic of the ambient step over the plain one when fully fused (six arrays against five)
FLOOR = 6 / 5
GOAL_COMPILED = 1.3
GOAL_EAGER = 2.0

Step = Callable[..., Any]


# --------------------------------------------------------------------------- the steps


def make_steps(xp: Any | None) -> dict[str, Step]:
    """The three step functions, with ``xp`` passed to every core call (``None`` infers it)."""

    def plain(x0: Any, noise: Any, pred: Any, sigma: Any, sigma_min: Any) -> tuple[Any, Any]:
        x_t = al.add_noise(x0, sigma, noise, xp=xp)
        return x_t, al.squared_error(pred, noise, xp=xp)

    def pair(x_tmin: Any, noise: Any, pred: Any, sigma: Any, sigma_min: Any) -> tuple[Any, Any]:
        levels = al.Levels(sigma, sigma_min, xp=xp)
        x_t, target = al.ambient_pair(x_tmin, levels, noise, prediction="epsilon", xp=xp)
        weight = al.loss_weight(levels, prediction="epsilon")
        return x_t, al.squared_error(pred, target, weight=weight, xp=xp)

    def renoise(x_tmin: Any, noise: Any, pred: Any, sigma: Any, sigma_min: Any) -> tuple[Any, Any]:
        levels = al.Levels(sigma, sigma_min, xp=xp)
        x_t = al.renoise(x_tmin, levels, noise, xp=xp)
        target = al.ambient_target(x_t, x_tmin, levels, prediction="epsilon", xp=xp)
        weight = al.loss_weight(levels, prediction="epsilon")
        return x_t, al.squared_error(pred, target, weight=weight, xp=xp)

    return {"plain": plain, "pair": pair, "renoise": renoise}


def make_inputs(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, ...]:
    """float32 ``(x_tmin, noise, pred, sigma, sigma_min)``; half the samples clean (``sigma_min = 0``)."""
    rng = np.random.default_rng(seed)
    batch = shape[0]
    x = rng.standard_normal(shape, dtype=np.float32)
    noise = rng.standard_normal(shape, dtype=np.float32)
    pred = rng.standard_normal(shape, dtype=np.float32)
    sigma = rng.uniform(0.05, 0.95, size=batch).astype(np.float32)
    corrupt = rng.permutation(batch) < batch // 2
    sigma_min = np.where(corrupt, sigma * rng.uniform(0.1, 0.9, size=batch), 0.0).astype(np.float32)
    assert np.all(sigma > sigma_min)
    return x, noise, pred, sigma, sigma_min


# --------------------------------------------------------------------------- backends


@dataclass
class Prepared:
    """Step functions of one backend at one size, ready to be timed."""

    steps: dict[str, Step]
    args: tuple[Any, ...]
    sync: Callable[[Any], None]
    memory: Callable[[str], float | None]  # variant -> peak bytes, or None when unavailable


@dataclass
class Row:
    """One line of the report: a backend configuration at one size."""

    label: str
    kind: str  # "eager" or "compiled": selects the goal
    memory_measure: str
    size: str
    shape: tuple[int, ...]
    inner: int = 1
    times: dict[str, list[float]] = field(default_factory=dict)
    peak: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None

    def median(self, variant: str) -> float:
        return statistics.median(self.times[variant])

    def ratio(self, variant: str) -> float:
        return self.median(variant) / self.median("plain")

    def mem_ratio(self, variant: str) -> float | None:
        a, b = self.peak.get(variant), self.peak.get("plain")
        return a / b if a is not None and b else None

    @property
    def goal(self) -> float:
        return GOAL_COMPILED if self.kind == "compiled" else GOAL_EAGER


def _no_sync(out: Any) -> None:
    return None


def _tracemalloc_peak(steps: dict[str, Step], args: tuple[Any, ...]) -> Callable[[str], float | None]:
    def measure(variant: str) -> float | None:
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            out = steps[variant](*args)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        del out
        return float(peak)

    return measure


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the profiler's start / stop notices, which its native code writes straight to fd 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _torch_profiler_peak(steps: dict[str, Step], args: tuple[Any, ...]) -> Callable[[str], float | None]:
    """Peak of the running sum of CPU allocations and frees recorded by ``torch.profiler``."""
    from torch.profiler import ProfilerActivity, profile

    def measure(variant: str) -> float | None:
        gc.collect()
        with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            out = steps[variant](*args)
            del out
        results = getattr(prof.profiler, "kineto_results", None) if prof.profiler is not None else None
        if results is None:
            return None
        events = sorted((e.start_ns(), e.nbytes()) for e in results.events() if e.name() == "[memory]")
        current = peak = 0
        for _, nbytes in events:
            current += nbytes
            peak = max(peak, current)
        return float(peak)

    return measure


def prepare_numpy(shape: tuple[int, ...], explicit: bool) -> Prepared:
    import array_api_compat.numpy as xp

    args = make_inputs(shape)
    steps = make_steps(xp if explicit else None)
    return Prepared(steps, args, _no_sync, _tracemalloc_peak(steps, args))


def _torch_args(shape: tuple[int, ...]) -> tuple[Any, ...]:
    import torch

    return tuple(torch.from_numpy(a.copy()) for a in make_inputs(shape))


def prepare_torch(shape: tuple[int, ...], explicit: bool) -> Prepared:
    import array_api_compat.torch as xp

    args = _torch_args(shape)
    steps = make_steps(xp if explicit else None)
    return Prepared(steps, args, _no_sync, _torch_profiler_peak(steps, args))


def prepare_torch_compile(shape: tuple[int, ...], explicit: bool) -> Prepared:
    import array_api_compat.torch as xp
    import torch

    args = _torch_args(shape)
    steps = {name: torch.compile(fn, dynamic=False) for name, fn in make_steps(xp).items()}
    return Prepared(steps, args, _no_sync, _torch_profiler_peak(steps, args))


def prepare_jax(shape: tuple[int, ...], explicit: bool) -> Prepared:
    import jax
    import jax.numpy as jnp

    args = tuple(jnp.asarray(a) for a in make_inputs(shape))
    steps = {name: jax.jit(fn) for name, fn in make_steps(jnp).items()}

    def sync(out: Any) -> None:
        jax.block_until_ready(out)

    def memory(variant: str) -> float | None:
        try:
            stats = steps[variant].lower(*args).compile().memory_analysis()
        except Exception:  # memory_analysis is optional on some platforms
            return None
        if stats is None:
            return None
        return float(stats.temp_size_in_bytes + stats.output_size_in_bytes - stats.alias_size_in_bytes)

    return Prepared(steps, args, sync, memory)


@dataclass(frozen=True)
class Config:
    label: str
    backend: str  # the --backends name that selects it
    kind: str
    module: str  # import needed
    prepare: Callable[[tuple[int, ...], bool], Prepared]
    explicit: bool
    memory_measure: str


_TRACEMALLOC = "tracemalloc peak"
_PROFILER = "torch.profiler CPU alloc peak"
_XLA = "XLA memory_analysis temp+output"
CONFIGS = (
    Config("numpy", "numpy", "eager", "numpy", prepare_numpy, False, _TRACEMALLOC),
    Config("numpy xp=", "numpy", "eager", "numpy", prepare_numpy, True, _TRACEMALLOC),
    Config("torch eager", "torch", "eager", "torch", prepare_torch, False, _PROFILER),
    Config("torch eager xp=", "torch", "eager", "torch", prepare_torch, True, _PROFILER),
    Config("torch.compile", "torch.compile", "compiled", "torch", prepare_torch_compile, True, _PROFILER),
    Config("jax.jit", "jax.jit", "compiled", "jax", prepare_jax, True, _XLA),
)


# --------------------------------------------------------------------------- measurement


#: ``wall``: elapsed time; ``cpu``: CPU time of every thread of this process, which other processes on a
#: shared machine barely disturb (it misses time spent waiting, so prefer ``wall`` on a quiet machine)
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def _run(fn: Step, args: tuple[Any, ...], sync: Callable[[Any], None], n: int, clock: Callable[[], float]) -> float:
    start = clock()
    for _ in range(n):
        sync(fn(*args))
    return clock() - start


def measure(
    prep: Prepared, row: Row, repeats: int, warmup: int, min_sample_s: float, clock: Callable[[], float]
) -> None:
    """Warm up, calibrate the calls per sample on the plain step, then time the variants interleaved."""
    for _ in range(warmup):
        for variant in VARIANTS:
            prep.sync(prep.steps[variant](*prep.args))
    single = min(_run(prep.steps["plain"], prep.args, prep.sync, 1, time.perf_counter) for _ in range(3))
    row.inner = max(1, math.ceil(min_sample_s / max(single, 1e-9)))
    row.times = {v: [] for v in VARIANTS}
    for r in range(repeats):
        shift = r % len(VARIANTS)  # rotate the order so no variant always runs first
        for variant in VARIANTS[shift:] + VARIANTS[:shift]:
            elapsed = _run(prep.steps[variant], prep.args, prep.sync, row.inner, clock)
            row.times[variant].append(elapsed / row.inner)
    for variant in VARIANTS:
        row.peak[variant] = prep.memory(variant)


# --------------------------------------------------------------------------- report


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def _mib(nbytes: float | None) -> str:
    return "n/a" if nbytes is None else f"{nbytes / 2**20:.2f}"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _verdict(ratio: float, goal: float) -> str:
    return "ok" if ratio <= goal else "MISS"


def table(rows: Sequence[Row]) -> str:
    head = (
        "| backend | size | plain ms | pair ms | renoise ms | pair/plain | renoise/plain | goal | "
        "peak plain MiB | peak pair MiB | peak renoise MiB | mem pair/plain | mem renoise/plain | memory measure |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        size = f"{row.size} {'x'.join(map(str, row.shape))}"
        if row.error is not None:
            lines.append(f"| {row.label} | {size} | error: {row.error} |" + " |" * 12)
            continue
        p, r = row.ratio("pair"), row.ratio("renoise")
        lines.append(
            f"| {row.label} | {size} | {_ms(row.median('plain'))} | {_ms(row.median('pair'))} | "
            f"{_ms(row.median('renoise'))} | {p:.2f} {_verdict(p, row.goal)} | {r:.2f} {_verdict(r, row.goal)} | "
            f"<= {row.goal:.1f} | {_mib(row.peak.get('plain'))} | {_mib(row.peak.get('pair'))} | "
            f"{_mib(row.peak.get('renoise'))} | {_x(row.mem_ratio('pair'))} | {_x(row.mem_ratio('renoise'))} | "
            f"{row.memory_measure} |"
        )
    return "\n".join(lines)


def _describe(row: Row) -> str:
    if row.error is not None:
        return f"{row.label:16s} {row.size:7s} error: {row.error}"
    parts = [f"{row.label:16s} {row.size:7s} ({row.inner} calls/sample)"]
    for v in VARIANTS:
        parts.append(f"{v} {_ms(row.median(v))} ms")
    parts.append(f"pair/plain {row.ratio('pair'):.2f}, renoise/plain {row.ratio('renoise'):.2f} (goal <= {row.goal})")
    return "  ".join(parts)


# --------------------------------------------------------------------------- command line


def _parse_sizes(text: str) -> list[tuple[str, tuple[int, ...]]]:
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        if item in SIZES:
            out.append((item, SIZES[item]))
            continue
        try:
            shape = tuple(int(n) for n in item.lower().split("x"))
        except ValueError:
            msg = f"unknown size {item!r}; use {', '.join(SIZES)} or a shape like 32x16x7"
            raise argparse.ArgumentTypeError(msg) from None
        out.append((item, shape))
    return out


def _parse_backends(text: str) -> list[str]:
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        name = _BACKEND_ALIASES.get(item, item)
        if name not in BACKENDS:
            raise argparse.ArgumentTypeError(f"unknown backend {item!r}; valid: {', '.join(BACKENDS)}")
        out.append(name)
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=_parse_sizes,
        default=_parse_sizes(",".join(SIZES)),
        help="comma-separated names ("
        + ", ".join(f"{k}={'x'.join(map(str, v))}" for k, v in SIZES.items())
        + ") or shapes like 32x16x7; default: all three",
    )
    parser.add_argument(
        "--backends",
        type=_parse_backends,
        default=list(BACKENDS),
        help=f"comma-separated subset of {', '.join(BACKENDS)}; default: all installed",
    )
    parser.add_argument("--repeats", type=int, default=31, help="interleaved samples per step (default 31)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per step before timing (default 3)")
    parser.add_argument(
        "--min-sample-ms", type=float, default=5.0, help="calls per sample are raised until one sample lasts this long"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1, stable on a shared machine; 0 keeps torch's default)",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall: elapsed time (default); cpu: process CPU time, steadier on a machine shared with other jobs",
    )
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1 warmup, 1 call per sample (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.min_sample_ms = 3, 1, 0.0
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def _progress(items: list[Any]) -> Iterable[Any]:
    if importlib.util.find_spec("tqdm") is None:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="bench", file=sys.stderr, leave=False)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configs = []
    for config in CONFIGS:
        if config.backend not in args.backends:
            continue
        if importlib.util.find_spec(config.module) is None:
            print(f"skipping {config.label}: {config.module} is not installed")
            continue
        configs.append(config)
    print(
        f"ambientloss {al.__version__}: ambient step / plain step without the network, float32, medians of "
        f"{args.repeats} interleaved samples, {args.clock} clock"
    )
    print(
        f"floor {FLOOR:.1f} (six arrays of memory traffic against five); goals <= {GOAL_COMPILED} under "
        f"torch.compile and jax.jit, <= {GOAL_EAGER} eager"
    )
    versions = [f"numpy {np.__version__}"]
    if any(c.module == "torch" for c in configs):
        import torch

        if args.threads > 0:
            torch.set_num_threads(args.threads)
        versions.append(f"torch {torch.__version__} ({torch.get_num_threads()} intra-op threads)")
    if any(c.module == "jax" for c in configs):
        import jax

        versions.append(f"jax {jax.__version__} ({jax.devices()[0].platform})")
    print(", ".join(versions))
    rows: list[Row] = []
    tasks = [(c, s) for c in configs for s in args.sizes]
    for config, (size, shape) in _progress(tasks):
        row = Row(config.label, config.kind, config.memory_measure, size, shape)
        try:
            prep = config.prepare(shape, config.explicit)
            measure(prep, row, args.repeats, args.warmup, args.min_sample_ms / 1e3, CLOCKS[args.clock])
        except Exception as exc:  # report and continue with the other configurations
            row.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        rows.append(row)
        print(_describe(row), flush=True)
        gc.collect()
    print()
    print(table(rows))
    return 1 if any(row.error is not None for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
