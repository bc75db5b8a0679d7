"""Where one training step of the action-chunk policy spends its time, per denoiser, batch, threads, precision.

python -m benchmarks.speed.step_cost [--steps 20] [--threads 1 2] [--out step_cost.json]

A step is timed in five phases (median over ``--steps`` steps after 3 warm-up steps, milliseconds):
``data`` (a co-training batch from :func:`benchmarks.policy.methods.make_draw`, level first),
``noise`` (``AmbientLoss.prepare``: ``x_t`` and the target), ``forward`` (network and loss),
``backward`` and ``optimizer`` (clipping, AdamW, EMA). Rows: the maze U-Net (widths 32/64), a narrower
U-Net (16/32), the FiLM MLP (:mod:`benchmarks.policy.mlp`) at two sizes; batches 128/256/512; 1 and 2
intra-op threads; bfloat16 autocast on the forward pass. Shapes are the maze's (chunks 16 x 2,
observations 6); the values are random, which does not change the cost. The last column is the
row's total over the reference row's (U-Net 32/64, batch 256, one thread, float32).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmarks.policy import diffusion
from benchmarks.policy.methods import Pools, make_draw
from benchmarks.policy.mlp import make_denoiser

NETS: dict[str, dict[str, Any]] = {
    "unet-32/64": {"kind": "unet", "widths": (32, 64)},
    "unet-16/32": {"kind": "unet", "widths": (16, 32)},
    "mlp-256x3": {"kind": "mlp", "hidden": 256, "depth": 3},
    "mlp-512x4": {"kind": "mlp", "hidden": 512, "depth": 4},
}


def profile(net_name: str, batch: int, threads: int, *, bf16: bool, steps: int) -> dict[str, Any]:
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    table = diffusion.schedule(100)
    pools = Pools(
        torch.rand((5000, 16, 2), generator=g) * 2 - 1,
        torch.rand((5000, 6), generator=g) * 2 - 1,
        torch.rand((80000, 16, 2), generator=g) * 2 - 1,
        torch.rand((80000, 6), generator=g) * 2 - 1,
        table,
    )
    draw = make_draw(pools, batch_size=batch, use_low=True)
    spec = dict(NETS[net_name])
    kind = spec.pop("kind")
    torch.manual_seed(0)
    model = make_denoiser(kind, 2, 6, horizon=16, **spec)
    averaged = [p.detach().clone() for p in model.parameters()]
    loss_fn = diffusion.loss_function(table)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-6)
    phases: dict[str, list[float]] = {k: [] for k in ("data", "noise", "forward", "backward", "optimizer")}
    for i in range(steps + 3):
        t = [time.perf_counter()]
        b = draw(g)
        t.append(time.perf_counter())
        sigma = loss_fn.sigma_for_timestep(b.timesteps)
        x_t, target = loss_fn.prepare(b.x_tmin, sigma, b.sigma_min, generator=g)
        t.append(time.perf_counter())
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ctx:
            pred = model(x_t, b.timesteps, b.obs)
        loss = loss_fn(pred.float(), target, sigma, b.sigma_min)
        t.append(time.perf_counter())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t.append(time.perf_counter())
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for p_avg, p in zip(averaged, model.parameters(), strict=True):
                p_avg.lerp_(p, 0.005)
        t.append(time.perf_counter())
        if i >= 3:
            for k, (a, z) in zip(phases, itertools.pairwise(t), strict=True):
                phases[k].append(1000 * (z - a))
    med = {k: statistics.median(v) for k, v in phases.items()}
    params = sum(p.numel() for p in model.parameters())
    return {
        "net": net_name,
        "params": params,
        "batch": batch,
        "threads": threads,
        "bf16": bf16,
        **med,
        "total_ms": sum(med.values()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed.step_cost", description=__doc__)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--nets", nargs="+", default=list(NETS))
    p.add_argument("--batches", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    rows = []
    for threads in a.threads:
        for net in a.nets:
            for batch in a.batches:
                for bf16 in (False, True) if batch == 256 else (False,):
                    rows.append(profile(net, batch, threads, bf16=bf16, steps=a.steps))
                    print(
                        json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in rows[-1].items()}),
                        flush=True,
                    )
    ref = next(
        (
            r["total_ms"]
            for r in rows
            if (r["net"], r["batch"], r["threads"], r["bf16"]) == ("unet-32/64", 256, 1, False)
        ),
        rows[0]["total_ms"],
    )
    print()
    print("| net | params | batch | threads | bf16 | data | noise | forward | backward | optimizer | ms/step | / ref |")
    print("|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(
            f"| {r['net']} | {r['params']} | {r['batch']} | {r['threads']} | {'yes' if r['bf16'] else 'no'} | "
            + " | ".join(f"{r[k]:.1f}" for k in ("data", "noise", "forward", "backward", "optimizer"))
            + f" | {r['total_ms']:.1f} | {r['total_ms'] / ref:.2f}x |"
        )
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"steps": a.steps, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
