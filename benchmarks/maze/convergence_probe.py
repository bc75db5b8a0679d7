"""Validation-only probes of the maze at convergence: each finished run is one JSON file under ``runs/``.

python -m benchmarks.maze.convergence_probe nn                          # the network-free data check
python -m benchmarks.maze.convergence_probe run --method clean --net mlp [--design lower]
python -m benchmarks.maze.convergence_probe run --method ambient_soft --net unet --widths 16 32 --design lower
python -m benchmarks.maze.convergence_probe table                       # markdown table of runs/*.json
python -m benchmarks.maze.convergence_probe curves                      # runs/curves.png
python -m benchmarks.maze.convergence_probe protocol                    # protocol.json's "convergence" section

Every number here is on the 100 **validation** queries of the default layout (seed 0); the test queries
are never built. A run trains one method by :func:`benchmarks.policy.convergence.train_to_convergence`
(success and jerk on validation every ``--every`` steps, ``--patience`` checkpoints, ``--max-steps``),
recording the held-out denoising loss on 40 unseen smooth demonstrations (fixed noise) as a diagnostic.
Its state is saved at every checkpoint under ``--cache``: started again, a run continues; a run whose
JSON exists is skipped. Designs: ``default`` (100 smooth demonstrations anywhere) and ``lower`` (100
smooth demonstrations between starts and goals below ``y = 0.64``); the RRT data are the same in both.
Methods: ``clean``, ``cotrain`` and the ambient rows of :mod:`benchmarks.maze.probe_levels` (dataset
level, per chunk, per demonstration, soft), their classifier trained once per design and seed and cached.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.policy import diffusion
from benchmarks.policy.chunking import tensor32
from benchmarks.policy.convergence import Criterion, train_to_convergence
from benchmarks.policy.io import stamped_log, write_json
from benchmarks.policy.methods import Pools, make_draw
from benchmarks.policy.mlp import make_denoiser
from benchmarks.policy.rollout import rollout

from .closed_loop import MazeEpisodes
from .data import HORIZON, Demos, chunks, decode, plan_demos
from .experiment import Config, Setting, build
from .probe_levels import AMBIENT, frozen_choices, levels_for
from .probe_report import curves, table
from .regime import in_region, nearest_neighbour_policy, plan_region

RUNS = Path(__file__).with_name("runs")
Y_MAX = 0.64  #: the lower corridors: below the default maze's upper wall


def _cached_demos(maze: Any, name: str, cache: Path, make: Any) -> Demos:
    f = cache / f"{name}.npz"
    if f.exists():
        z = np.load(f)
        return Demos(np.split(z["points"], np.cumsum(z["lengths"])[:-1]), z["goals"])
    d = make()
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(f, points=np.concatenate(d.paths), lengths=[len(p) for p in d.paths], goals=d.goals)
    return d


def setting(design: str, seed: int, cache: Path) -> tuple[Setting, Demos]:
    """The validation setting of ``design`` and the 40 held-out smooth demonstrations."""
    s = build(None, Config(), seed, cache)
    if design == "lower":
        d = _cached_demos(
            s.maze, f"maze-lower-smooth-100-{seed}", cache, lambda: plan_region(s.maze, 100, seed=seed, y_max=Y_MAX)
        )
        oc, xc = chunks(d)
        s.pools = Pools(tensor32(xc), tensor32(oc), s.pools.xl, s.pools.ol, s.pools.table)
        s.demos = {**s.demos, "smooth": (d.paths, d.goals)}
    elif design != "default":
        raise ValueError(f"design must be 'default' or 'lower', got {design!r}")
    held = _cached_demos(
        s.maze, f"maze-heldout-smooth-40-{seed}", cache, lambda: plan_demos(s.maze, 40, "smooth", seed=1000 + seed)
    )
    return s, held


def closed_loop(s: Setting, policy: Any, *, max_steps: int = 150, n_exec: int = 8) -> dict[str, Any]:
    """Validation episodes of ``policy``; per-query arrays and summaries, inside / outside the lower region."""
    starts, goals, _ = s.val
    m = rollout(MazeEpisodes(s.maze, starts, goals, max_steps=max_steps), policy, n_exec=n_exec)
    ok, inside = m["success"], in_region(starts, goals, y_max=Y_MAX)
    return {
        "success": float(ok.mean()),
        "jerk": float(np.mean(m["jerk"][ok])) if ok.any() else float("nan"),
        "collided": float(m["collided"].mean()),
        "success_in": float(ok[inside].mean()),
        "success_out": float(ok[~inside].mean()),
        "per_query": {"success": ok.tolist(), "jerk": np.round(m["jerk"], 3).tolist()},
    }


def diffusion_policy(model: torch.nn.Module, s: Setting, seed: int, sample_steps: int = 10) -> Any:
    g = torch.Generator().manual_seed(seed)

    def policy(obs: np.ndarray) -> np.ndarray:
        x = diffusion.ddim_sample(
            model, torch.as_tensor(obs), s.pools.table, (HORIZON, 2), steps=sample_steps, generator=g
        )
        return decode(x.numpy().astype(np.float64), obs.astype(np.float64))

    return policy


def heldout_loss(held: Demos, table: Any, seed: int) -> Any:
    """Mean squared epsilon error on the held-out clean chunks, one fixed (timestep, noise) per row."""
    o, x = chunks(held)
    obs, x0 = tensor32(o), tensor32(x)
    g = torch.Generator().manual_seed(seed + 77)
    t = torch.randint(0, 100, (len(x0),), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    ac = torch.as_tensor(table.alphas_cumprod, dtype=torch.float32)[t][:, None, None]
    x_t = ac.sqrt() * x0 + (1 - ac).sqrt() * eps

    @torch.no_grad()
    def loss(model: torch.nn.Module) -> float:
        return float(((model(x_t, t, obs) - eps) ** 2).mean())

    return loss


def run_name(a: argparse.Namespace) -> str:
    level = f"-t{a.level}" if a.method in ("ambient_level", "ambient_soft") else ""
    return f"{a.design}-{a.net}-{a.method}{level}-s{a.seed}{a.tag}"


def run(a: argparse.Namespace) -> dict[str, Any] | None:
    name = run_name(a)
    out = a.runs / f"{name}.json"
    if out.exists():
        print(f"{out} exists; skipped")
        return None
    torch.set_num_threads(a.threads)
    log = stamped_log()
    s, held = setting(a.design, a.seed, a.cache)
    state = a.cache / "convergence-state" / f"{name}.pt"
    if a.resume_from is not None and not state.exists():
        state.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(a.cache / "convergence-state" / f"{a.resume_from}.pt", state)
    cfg = Config()
    sm, weight, levels = levels_for(
        a.method, s, design=a.design, seed=a.seed, cache=a.cache, level=a.level, eps=a.eps, cfg=cfg
    )
    draw = make_draw(s.pools, batch_size=a.batch, use_low=a.method != "clean", sigma_min=sm, weight=weight, seed=a.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(a.seed)
        net = make_denoiser(a.net, 2, 6, horizon=HORIZON, widths=tuple(a.widths), hidden=a.hidden, depth=a.depth)
    crit = Criterion(every=a.every, patience=a.patience, max_steps=a.max_steps)
    t0 = time.perf_counter()
    loads: list[float] = [os.getloadavg()[0]]

    def note(text: str) -> None:
        loads.append(os.getloadavg()[0])
        log(f"{name}: {text}, load={loads[-1]:.2f}")

    res = train_to_convergence(
        net,
        draw,
        diffusion.loss_function(s.pools.table),
        lambda m: closed_loop(s, diffusion_policy(m, s, a.seed)),
        criterion=crit,
        diagnostic=heldout_loss(held, s.pools.table, a.seed),
        lr=a.lr,
        seed=a.seed,
        state=state,
        log=note,
    )
    final = closed_loop(s, diffusion_policy(res.model, s, a.seed))
    row = {
        "name": name,
        "split": "validation",
        "design": a.design,
        "method": a.method,
        "level": a.level if a.method in ("ambient_level", "ambient_soft") else None,
        "levels": levels,
        "net": {"kind": a.net, "widths": a.widths, "hidden": a.hidden, "depth": a.depth},
        "params": sum(p.numel() for p in res.model.parameters()),
        "criterion": crit.__dict__,
        "batch_size": a.batch,
        "lr": a.lr,
        "threads": a.threads,
        "resumed_from": a.resume_from,
        "best_step": res.best_step,
        "stopped_at": res.stopped_at,
        "reason": res.reason,
        "seconds_per_step": res.seconds_per_step,
        "train_seconds": res.seconds_per_step * res.history[-1]["step"],
        "eval_seconds": sum(h["eval_seconds"] for h in res.history),
        "seconds_this_session": time.perf_counter() - t0,
        "load_average_this_session": {"first": loads[0], "mean": float(np.mean(loads)), "max": max(loads)},
        "best": final,
        "curve": res.history,
        "n_clean_rows": len(s.pools.xc),
        "n_low_rows": len(s.pools.xl),
    }
    a.runs.mkdir(parents=True, exist_ok=True)
    write_json(row, out)
    log(f"{name}: best step {res.best_step}, stopped at {res.stopped_at} ({res.reason}), success {final['success']}")
    return row


def nn_check(a: argparse.Namespace) -> dict[str, Any]:
    """Network-free nearest-neighbour policy on the validation queries for each design and data set."""
    out: dict[str, Any] = {"split": "validation", "k": a.k, "y_max": Y_MAX, "rows": {}}
    for design in ("default", "lower"):
        s, _ = setting(design, a.seed, a.cache)
        p = s.pools
        sets = {"clean": (p.oc, p.xc), "rrt": (p.ol, p.xl), "both": (torch.cat([p.oc, p.ol]), torch.cat([p.xc, p.xl]))}
        for data, (o, x) in sets.items():
            r = closed_loop(s, nearest_neighbour_policy(o.numpy(), x.numpy(), k=a.k, seed=a.seed))
            r.pop("per_query")
            out["rows"][f"{design}:{data}"] = r
            print(f"{design} {data}: " + ", ".join(f"{k}={v:.3f}" for k, v in r.items()))
    s, _ = setting("default", a.seed, a.cache)
    out["val_in_region"] = float(in_region(s.val[0], s.val[1], y_max=Y_MAX).mean())
    a.runs.mkdir(parents=True, exist_ok=True)
    write_json(out, a.runs / f"nn-check-s{a.seed}.json")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.maze.convergence_probe", description=__doc__)
    p.add_argument("stage", choices=["nn", "run", "table", "curves", "protocol"])
    p.add_argument("--only", default=None, help="curves: only runs whose name contains this")
    chosen = frozen_choices()
    p.add_argument("--method", choices=["clean", "cotrain", *AMBIENT], default="clean")
    p.add_argument(
        "--level", type=int, default=chosen["level"], help="ambient_level, ambient_soft: the dataset-level timestep"
    )
    p.add_argument("--eps", type=float, default=chosen["eps"], help="ambient_chunk, ambient_demo: classifier margin")
    p.add_argument("--net", choices=["unet", "mlp"], default="mlp")
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--design", choices=["default", "lower"], default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--patience", type=int, default=4)
    p.add_argument("--max-steps", type=int, default=16_000)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tag", default="", help="appended to the run's name (and its state file)")
    p.add_argument("--resume-from", default=None, help="start from this run's saved state (e.g. a shorter patience)")
    p.add_argument("--runs", type=Path, default=RUNS)
    p.add_argument("--cache", type=Path, default=Path(".maze-cache"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.stage == "nn":
        nn_check(a)
    elif a.stage == "run":
        run(a)
    elif a.stage == "protocol":
        from .convergence_protocol import record

        print(json.dumps(record(Path(__file__).with_name("protocol.json"), a.runs), indent=1))
    elif a.stage == "curves":
        print(curves(a.runs, only=a.only, out=None if a.only is None else a.runs / f"curves{a.only}.png"))
    else:
        print(table(a.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
