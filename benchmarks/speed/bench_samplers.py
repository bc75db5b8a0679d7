"""Throughput of the level samplers against drawing unconstrained levels, measured side by side.

Three ways to produce a batch of ``(index, sigma)`` pairs over ``N`` annotated samples:

``plain``
    uniform indices and unconstrained levels ``draw_sigma(u, base=base)``: what training without
    annotations does (the reference).
``data_first``
    uniform indices, then each level from the base law truncated to the sample's usable set
    (:func:`ambientloss.sampling.sample_truncated`).
``sigma_first``
    the level from the base law, then a usable sample, with source weights 1 : 1
    (:class:`ambientloss.sampling.sigma_first.SigmaFirst`).

Backends: ``numpy`` (a ``numpy.random.Generator``), ``torch`` (eager, ``torch.rand``), ``jax``
(each variant under ``jax.jit`` from a key, ``block_until_ready``), and ``sampler``: one epoch of
the PyTorch samplers of :mod:`ambientloss.adapters.torch_data` (``N`` pairs as Python tuples)
against a plain sampler that yields a permutation with unconstrained levels.

Annotations: half the samples clean, the other half corrupt with ``sigma_min`` spread over the base
law, a fifth of those with a low-noise branch (two intervals), two sources (clean, corrupt). The
repetitions interleave the variants in a rotating order; the report gives median times and the
throughput ratio ``plain / variant`` (the slowdown; goal <= 2).

Run ``python benchmarks/speed/bench_samplers.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ambientloss.sampling import draw_sigma, sample_truncated
from ambientloss.sampling.presets import get_preset
from ambientloss.sampling.sigma_first import SigmaFirst

VARIANTS = ("plain", "data_first", "sigma_first")
GOAL = 2.0


def annotations(n: int, preset: Any, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sigma_min, sigma_max, source)``: half clean, corrupt levels at base quantiles 0.05..0.8."""
    rng = np.random.default_rng(seed)
    corrupt = np.arange(n) % 2 == 1
    levels = np.asarray(preset.base.icdf(rng.uniform(0.05, 0.8, n)), dtype=np.float64)
    m = np.where(corrupt, levels, 0.0)
    low = corrupt & (rng.random(n) < 0.2)
    top = np.where(low, np.asarray(preset.base.icdf(rng.uniform(0.01, 0.04, n)), dtype=np.float64), 0.0)
    return m, top, corrupt.astype(np.int64)


def numpy_steps(n: int, batch: int, preset: Any) -> dict[str, Callable[[], Any]]:
    m, top, src = annotations(n, preset)
    base, buffer = preset.base, preset.buffer
    plan = SigmaFirst(m, top, src, base=base, buffer=buffer, weights=[1, 1], empty="renormalize")
    rng = np.random.default_rng(1)

    def plain() -> Any:
        return rng.integers(0, n, batch), draw_sigma(rng.random(batch), base=base)

    def data_first() -> Any:
        idx = rng.integers(0, n, batch)
        return idx, sample_truncated(rng.random(batch), m[idx], top[idx], base=base, buffer=buffer)

    def sigma_first() -> Any:
        return plan.draw(rng, batch)

    return {"plain": plain, "data_first": data_first, "sigma_first": sigma_first}


def torch_steps(n: int, batch: int, preset: Any) -> dict[str, Callable[[], Any]]:
    import array_api_compat.torch as txp
    import torch

    m_np, top_np, src = annotations(n, preset)
    m, top = torch.from_numpy(m_np), torch.from_numpy(top_np)
    base, buffer = preset.base, preset.buffer
    plan = SigmaFirst(m, top, torch.from_numpy(src), base=base, buffer=buffer, weights=[1, 1], empty="renormalize")
    gen = torch.Generator().manual_seed(1)

    def rand(*shape: int) -> Any:
        return torch.rand(*shape, generator=gen, dtype=torch.float64)

    def plain() -> Any:
        return torch.randint(0, n, (batch,), generator=gen), draw_sigma(rand(batch), base=base, xp=txp)

    def data_first() -> Any:
        idx = torch.randint(0, n, (batch,), generator=gen)
        return idx, sample_truncated(rand(batch), m[idx], top[idx], base=base, buffer=buffer, xp=txp)

    def sigma_first() -> Any:
        return plan(rand(batch, 3))

    return {"plain": plain, "data_first": data_first, "sigma_first": sigma_first}


def jax_steps(n: int, batch: int, preset: Any) -> dict[str, Callable[[], Any]]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    m_np, top_np, src = annotations(n, preset)
    m, top = jnp.asarray(m_np), jnp.asarray(top_np)
    base, buffer = preset.base, preset.buffer
    plan = SigmaFirst(m, top, jnp.asarray(src), base=base, buffer=buffer, weights=[1, 1], empty="renormalize")

    @jax.jit
    def plain(key: Any) -> Any:
        k1, k2 = jax.random.split(key)
        u = jax.random.uniform(k2, (batch,), jnp.float64)
        return jax.random.randint(k1, (batch,), 0, n), draw_sigma(u, base=base, xp=jnp)

    @jax.jit
    def data_first(key: Any) -> Any:
        k1, k2 = jax.random.split(key)
        idx = jax.random.randint(k1, (batch,), 0, n)
        u = jax.random.uniform(k2, (batch,), jnp.float64)
        return idx, sample_truncated(u, m[idx], top[idx], base=base, buffer=buffer, xp=jnp)

    @jax.jit
    def sigma_first(key: Any) -> Any:
        return tuple(plan(jax.random.uniform(key, (batch, 3), jnp.float64)))

    keys = iter(jax.random.split(jax.random.key(1), 1_000_000))

    def run(fn: Callable[[Any], Any]) -> Callable[[], Any]:
        return lambda: jax.block_until_ready(fn(next(keys)))

    return {"plain": run(plain), "data_first": run(data_first), "sigma_first": run(sigma_first)}


def sampler_steps(n: int, batch: int, preset: Any) -> dict[str, Callable[[], Any]]:
    from ambientloss.adapters.torch_data import DataFirstSampler, SigmaFirstSampler

    m, top, src = annotations(n, preset)
    base, buffer = preset.base, preset.buffer
    df = DataFirstSampler(m, top, base=base, buffer=buffer, seed=0, num_replicas=1, rank=0)
    sf = SigmaFirstSampler(
        m, top, src, base=base, buffer=buffer, weights=[1, 1], empty="renormalize", seed=0, num_replicas=1, rank=0
    )
    epoch = iter(range(1_000_000))

    def plain() -> Any:  # a per-epoch permutation with unconstrained levels, yielded as tuples
        rng = np.random.Generator(np.random.Philox(key=[0, next(epoch)]))
        index, sigma = rng.permutation(n), draw_sigma(rng.random(n), base=base)
        return list(zip(index.tolist(), np.asarray(sigma).tolist(), strict=True))

    def one_epoch(sampler: Any) -> Callable[[], Any]:
        def run() -> Any:
            sampler.set_epoch(next(epoch))
            return list(sampler)

        return run

    return {"plain": plain, "data_first": one_epoch(df), "sigma_first": one_epoch(sf)}


BACKENDS: dict[str, tuple[Callable[..., dict[str, Callable[[], Any]]], str | None]] = {
    "numpy": (numpy_steps, None),
    "torch": (torch_steps, "torch"),
    "jax": (jax_steps, "jax"),
    "sampler": (sampler_steps, "torch"),
}


def measure(steps: dict[str, Callable[[], Any]], repeats: int, warmup: int, min_ms: float) -> dict[str, list[float]]:
    """Seconds per call of each variant, one sample per repetition, variants in a rotating order."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    calls = {}
    for name, fn in steps.items():  # calls per sample so that one sample lasts at least min_ms
        start = time.perf_counter()
        fn()
        once = max(time.perf_counter() - start, 1e-7)
        calls[name] = max(1, int(min_ms / 1e3 / once))
    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for rep in range(repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            fn, k = steps[name], calls[name]
            start = time.perf_counter()
            for _ in range(k):
                fn()
            times[name].append((time.perf_counter() - start) / k)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="numpy,torch,jax,sampler", help="comma-separated: " + ",".join(BACKENDS))
    parser.add_argument("--presets", default="ambient_o_pixel,talk", help="comma-separated preset names")
    parser.add_argument("--n", type=int, default=100_000, help="annotated samples (the epoch length for 'sampler')")
    parser.add_argument("--batch", type=int, default=256, help="pairs per call (not used by 'sampler')")
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--min-sample-ms", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0 keeps torch's default)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1 warmup, one call per sample")
    args = parser.parse_args(argv)
    if args.threads and importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(args.threads)  # OpenMP threads stall on a machine shared with other jobs
    if args.quick:
        args.repeats, args.warmup, args.min_sample_ms = 3, 1, 0.0
    rows = []
    for backend in args.backends.split(","):
        if backend not in BACKENDS:
            parser.error(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        make, needs = BACKENDS[backend]
        if needs is not None and importlib.util.find_spec(needs) is None:
            print(f"skipping {backend}: {needs} is not installed", file=sys.stderr)
            continue
        for name in args.presets.split(","):
            preset = get_preset(name)
            print(f"{backend} / {name} ...", file=sys.stderr)
            times = measure(make(args.n, args.batch, preset), args.repeats, args.warmup, args.min_sample_ms)
            per_call = {v: statistics.median(times[v]) for v in VARIANTS}
            size = args.n if backend == "sampler" else args.batch
            rows.append((backend, name, size, per_call))
    print(f"N = {args.n} annotated samples; medians of {args.repeats} interleaved repetitions\n")
    print("| backend | preset | pairs/call | plain (pairs/s) | data_first (pairs/s) | sigma_first (pairs/s) "
          "| plain/data_first | plain/sigma_first |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for backend, name, size, t in rows:
        rate = {v: size / t[v] for v in VARIANTS}
        ratios = [t[v] / t["plain"] for v in ("data_first", "sigma_first")]
        marks = [f"{r:.2f} {'ok' if r <= GOAL else 'MISS'}" for r in ratios]
        print(
            f"| {backend} | {name} | {size} | {rate['plain']:.3g} | {rate['data_first']:.3g} | "
            f"{rate['sigma_first']:.3g} | {marks[0]} | {marks[1]} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
