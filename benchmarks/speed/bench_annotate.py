"""Classifier cost of annotating ``sigma_min``: the full grid (2048 levels x 4 draws) vs bisection.

Both annotators run on the same data with the same classifier and the same paired noise draws:

``full grid``
    :func:`ambientloss.annotation.classifier_trajectory` on every level and draw, then
    :func:`ambientloss.annotation.select_sigma_min` with ``rule="monotone"``.
``adaptive``
    :func:`ambientloss.annotation.adaptive_sigma_min`: bisection over the same grid.

Data: ``N`` corrupt samples from ``q0 = N(mu, s^2 I)`` in ``d`` dimensions (``||mu|| = 1``, ``s = 0.3``);
the classifier is the Bayes-optimal ``P(clean | x_sigma)`` against ``p0 = N(0, s^2 I)`` under the VE
forward process, a linear logit ``w(sigma) . (x_sigma - mu / 2)`` (``--hidden`` adds a tanh layer of that
width whose output is multiplied by zero, to give each evaluation the cost of a small network).
Grid: 2048 sorted draws of the EDM log-normal (-1.2, 1.2), seed 42, as in Ambient-o.

The report prints classifier evaluations per sample, classifier calls and wall time of each, their
ratios, and the agreement of the answers: on every sample whose full-grid criterion is a step in the
level (false, then true from some level on) the two must be equal, which is checked (exit status 1
otherwise); on the others the grid-index difference is reported. The goal is at least 100x fewer
evaluations.

Run ``python benchmarks/speed/bench_annotate.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from ambientloss.annotation import (
    CallCount,
    adaptive_sigma_min,
    classifier_trajectory,
    edm_lognormal_grid,
    select_sigma_min,
    select_with_preset,
)

GOAL = 100.0
EPS = 0.05


def make_classifier(dim: int, hidden: int, lib: str) -> tuple[Any, Any]:
    """``(classifier, to_backend)`` for the Bayes classifier in ``dim`` dimensions."""
    mu = np.full(dim, 1.0 / np.sqrt(dim))
    var = 0.09
    w1 = np.random.default_rng(1).normal(size=(dim, hidden)) / np.sqrt(dim) if hidden else None
    if lib == "torch":
        import torch

        torch.set_num_threads(1)
        mu_t = torch.as_tensor(mu, dtype=torch.float32)
        w1_t = torch.as_tensor(w1, dtype=torch.float32) if hidden else None

        def classify_torch(x_sigma: Any, sigma: Any) -> Any:
            logit = -((x_sigma - mu_t / 2) @ mu_t) / (var + sigma * sigma)
            if w1_t is not None:
                logit = logit + 0.0 * torch.tanh(x_sigma @ w1_t).sum(dim=1)
            return torch.sigmoid(logit)

        return classify_torch, lambda a: torch.as_tensor(a, dtype=torch.float32)

    def classify(x_sigma: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        logit = -((x_sigma - mu / 2) @ mu) / (var + sigma * sigma)
        if w1 is not None:
            logit = logit + 0.0 * np.tanh(x_sigma @ w1).sum(axis=1)
        return 1.0 / (1.0 + np.exp(-logit))

    return classify, lambda a: np.asarray(a, dtype=np.float64)


def run(args: argparse.Namespace) -> int:
    rng = np.random.default_rng(0)
    mu = np.full(args.dim, 1.0 / np.sqrt(args.dim))
    x_np = mu + 0.3 * rng.normal(size=(args.samples, args.dim))
    grid_np = edm_lognormal_grid(args.levels, method="draws", seed=42)
    classifier, conv = make_classifier(args.dim, args.hidden, args.backend)
    x, grid = conv(x_np), conv(grid_np)
    kw = {"n_draws": args.draws, "schedule": "ve", "batch_size": args.batch, "seed": 7}

    full_counts = CallCount()
    t0 = time.perf_counter()
    probs = classifier_trajectory(classifier, x, grid, counts=full_counts, **kw)
    full = select_sigma_min(probs, grid, probability="clean", eps=EPS, rule="monotone")
    t_full = time.perf_counter() - t0

    t0 = time.perf_counter()
    res = adaptive_sigma_min(classifier, x, grid, probability="clean", eps=EPS, **kw)
    t_fast = time.perf_counter() - t0

    p = np.asarray(probs.mean(-1) if args.backend == "numpy" else probs.mean(-1).numpy())
    holds = p > 0.5 - EPS
    step = np.all(np.diff(holds.astype(np.int8), axis=1) >= 0, axis=1)
    full_np = np.asarray(full if args.backend == "numpy" else full.numpy(), dtype=np.float64)
    fast_np = np.asarray(res.sigma_min if args.backend == "numpy" else res.sigma_min.numpy(), dtype=np.float64)
    g_np = np.asarray(grid, dtype=np.float64)
    idx_full, idx_fast = np.searchsorted(g_np, full_np), np.searchsorted(g_np, fast_np)
    same = idx_full == idx_fast
    step_ok = bool(np.all(same[step]))
    first = select_with_preset("ambient_o", probs, grid, probability="clean")  # this classifier gives P(clean)
    first_np = np.asarray(first if args.backend == "numpy" else first.numpy(), dtype=np.float64)

    n = args.samples
    per_full = full_counts.evaluations / n
    per_fast = res.evaluations_per_sample
    ratio = per_full / per_fast
    print(f"# annotate: N={n} samples, d={args.dim}, hidden={args.hidden}, grid {args.levels} x {args.draws} draws, "
          f"batch {args.batch}, backend {args.backend}")  # fmt: skip
    print("| annotator | evaluations / sample | classifier calls | wall s | wall ms / sample |")
    print("|---|---|---|---|---|")
    print(f"| full grid | {per_full:.1f} | {full_counts.calls} | {t_full:.3f} | {1e3 * t_full / n:.2f} |")
    print(f"| adaptive | {per_fast:.1f} | {res.calls} | {t_fast:.3f} | {1e3 * t_fast / n:.2f} |")
    print(f"| ratio full / adaptive | {ratio:.1f} | {full_counts.calls / max(res.calls, 1):.1f} | "
          f"{t_full / t_fast:.1f} | |")  # fmt: skip
    verdict = "ok" if ratio >= GOAL else "MISS"
    print(f"evaluation ratio {ratio:.1f}x (goal >= {GOAL:.0f}x): {verdict}")
    diff = np.abs(idx_full - idx_fast)
    print(
        f"answers: identical on {int(same.sum())}/{n} samples; step trajectories {int(step.sum())}/{n}, "
        f"identical on {int(same[step].sum())}/{int(step.sum())}; "
        f"other samples differ by at most {int(diff.max()) if diff.size else 0} grid levels"
    )
    print(f"Ambient-o preset (first crossing, EMA 32) selects a smaller level than monotone on "
          f"{int(np.sum(first_np < full_np))}/{n} samples")  # fmt: skip
    if not step_ok:
        print("ERROR: the adaptive answer differs from the full grid on a step trajectory", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=256, help="samples to annotate (default 256)")
    parser.add_argument("--levels", type=int, default=2048, help="grid levels (default 2048, as Ambient-o)")
    parser.add_argument("--draws", type=int, default=4, help="noise draws per level (default 4, as Ambient-o)")
    parser.add_argument("--dim", type=int, default=64, help="data dimension (default 64)")
    parser.add_argument("--hidden", type=int, default=256, help="width of the cost-only tanh layer (0: none)")
    parser.add_argument("--batch", type=int, default=8192, help="rows per classifier call (default 8192)")
    parser.add_argument("--backend", choices=["numpy", "torch"], default="numpy")
    parser.add_argument("--quick", action="store_true", help="smoke run: 16 samples, 256 levels, no hidden layer")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.levels, args.hidden, args.batch = 16, 256, 0, 1024
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
