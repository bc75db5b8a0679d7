r"""The motion-planning experiment: data, annotation, training and evaluation of every method, per seed.

For each maze layout and seed: plan ``n_clean`` smooth and ``n_rrt`` RRT trajectories, train a
noise-conditional classifier and annotate the RRT rows (ambient methods), train the same policy
network with the same step budget for every method (:mod:`ambientloss.maze.methods`), and sample
``samples_per_query`` trajectories for each of ``n_test`` held-out queries. The dataset-level
``sigma_min`` of ``ambient_sweep`` is chosen on ``n_val`` separate validation queries: the candidate
with the highest success among those whose median jerk is at most ``sweep_jerk_factor`` times the
clean-only model's (else the smoothest). Everything is seeded; the same configuration gives the
same numbers on the same machine and library versions.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .data import Trajectories, condition, from_model, heldout_queries, plan_dataset, to_model
from .env import Maze, make_maze
from .metrics import squared_jerk, summarize

__all__ = ["METHODS", "ExperimentConfig", "run_experiment"]

#: every method, in the order of the reports (see :mod:`ambientloss.maze.methods`)
METHODS = ("clean", "cotrain", "ambient", "ambient_sweep", "ambient_omni")


@dataclass(frozen=True)
class ExperimentConfig:
    """Sizes, budget and seeds of the experiment (defaults: the full configuration)."""

    layouts: tuple[int | None, ...] = (None, 1)  #: None is the default maze; an int seeds a random layout
    seeds: tuple[int, ...] = (0, 1, 2)
    methods: tuple[str, ...] = METHODS
    n_clean: int = 100
    n_rrt: int = 5000
    n_waypoints: int = 16
    n_val: int = 40
    n_test: int = 100
    samples_per_query: int = 4
    steps: int = 6000
    batch_size: int = 256
    width: int = 256
    depth: int = 3
    channels: int = 32
    lr: float = 1e-3
    clean_fraction: float = 0.5
    classifier_steps: int = 1500
    classifier_eps: float = 0.05
    sweep: tuple[float, ...] = (0.4, 0.6, 0.8)  #: VP levels, snapped to the table
    sweep_jerk_factor: float = 2.0
    sigma_max: float = 0.1  #: low-noise branch of ambient_omni (VP level)
    buffer_s_max: float | None = None  #: Ambient-o margin above sigma_min (Buffer.from_s_max); None: none
    tolerance: float = 0.05
    threads: int | None = 1  #: torch intra-op threads (None keeps torch's default)
    n_show: int = 6  #: queries drawn per method in the figure

    def __post_init__(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods or len(set(self.methods)) != len(self.methods):
            msg = f"methods must be distinct names from {METHODS}, got {self.methods!r}"
            raise ValueError(msg)
        if not self.seeds or not self.layouts:
            msg = f"seeds and layouts must not be empty, got seeds={self.seeds!r}, layouts={self.layouts!r}"
            raise ValueError(msg)
        positive = ("n_clean", "n_rrt", "n_val", "n_test", "samples_per_query", "steps", "batch_size", "width")
        for name in (*positive, "depth", "classifier_steps", "n_show"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"{name} must be a positive integer, got {value!r}"
                raise ValueError(msg)
        if self.n_waypoints < 4 or self.channels < 0:
            msg = f"n_waypoints must be >= 4 and channels >= 0, got {self.n_waypoints!r} and {self.channels!r}"
            raise ValueError(msg)
        if not 0 < self.clean_fraction < 1 or not 0 <= self.classifier_eps < 0.5:
            msg = (
                f"clean_fraction must lie in (0, 1) and classifier_eps in [0, 1/2), "
                f"got {self.clean_fraction!r} and {self.classifier_eps!r}"
            )
            raise ValueError(msg)
        if not self.sweep or not all(0 < s < 1 for s in (*self.sweep, self.sigma_max)):
            msg = f"sweep levels and sigma_max must be VP levels in (0, 1), got {self.sweep!r} and {self.sigma_max!r}"
            raise ValueError(msg)

    @classmethod
    def quick(cls, **changes: Any) -> ExperimentConfig:
        """The reduced configuration of ``ambientloss demo maze`` (default maze, one seed, a few minutes)."""
        base = cls(
            layouts=(None,), seeds=(0,), methods=("clean", "cotrain", "ambient", "ambient_sweep"), n_rrt=1000,
            n_val=30, n_test=50, steps=3000, batch_size=128, width=128, classifier_steps=1000, sweep=(0.5, 0.8),
        )  # fmt: skip
        return replace(base, **changes)

    @classmethod
    def tiny(cls, **changes: Any) -> ExperimentConfig:
        """A seconds-long configuration for tests: every stage runs, nothing is learned."""
        base = cls.quick(
            methods=METHODS, n_clean=12, n_rrt=24, n_waypoints=16, n_val=4, n_test=6, samples_per_query=2,
            steps=6, batch_size=16, width=32, depth=1, channels=8, classifier_steps=5, sweep=(0.5,), n_show=3,
        )  # fmt: skip
        return replace(base, **changes)


@dataclass
class _Seed:
    maze: Maze
    clean: Trajectories
    rrt: Trajectories
    val: Trajectories
    test: Trajectories
    extras: dict[str, Any] = field(default_factory=dict)


def _tensor(a: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


def _evaluate(model: Any, maze: Maze, queries: Trajectories, cfg: ExperimentConfig, seed: int) -> dict[str, Any]:
    import torch

    from .policy import ddpm_sample, default_schedule

    k = cfg.samples_per_query
    cond = _tensor(condition(queries.starts, queries.goals)).repeat_interleave(k, 0)
    sched = default_schedule(model.num_train_timesteps)
    x = ddpm_sample(model, cond, sched, generator=torch.Generator().manual_seed(seed + 17)).numpy()
    paths = from_model(x, np.repeat(queries.starts, k, 0)).reshape(len(queries), k, cfg.n_waypoints, 2)
    metrics = summarize(maze, paths, queries.goals, queries.paths, tolerance=cfg.tolerance)
    return {"paths": paths, "metrics": metrics}


def _train(method: str, pools: Any, cfg: ExperimentConfig, seed: int, tick: Callable[[int], object], **kw: Any) -> Any:
    import torch

    from ..adapters.torch import AmbientLoss
    from ..admissibility import Buffer
    from ..weights import Weighting
    from .methods import make_draw
    from .policy import TrajectoryDenoiser, train_denoiser

    with torch.random.fork_rng(devices=[]):  # initial weights from ``seed``; the caller's generator is untouched
        torch.manual_seed(seed)
        net = TrajectoryDenoiser(
            cfg.n_waypoints - 1, width=cfg.width, depth=cfg.depth, channels=cfg.channels,
            num_train_timesteps=pools.schedule.num_train_timesteps,
        )  # fmt: skip
    if method.startswith("ambient") and cfg.buffer_s_max is not None:
        kw["buffer"] = Buffer.from_s_max(cfg.buffer_s_max)
    draw = make_draw(pools, method, batch_size=cfg.batch_size, clean_fraction=cfg.clean_fraction, seed=seed, **kw)
    loss_fn = AmbientLoss("epsilon", pools.schedule, weighting=Weighting(sigma_data=float(pools.xc.std())))
    return train_denoiser(net, draw, loss_fn, steps=cfg.steps, lr=cfg.lr, seed=seed, progress=tick)


def _one_seed(maze: Maze, cfg: ExperimentConfig, seed: int, bar: Any) -> dict[str, Any]:
    from .methods import Pools, annotate
    from .policy import default_schedule

    t0 = time.perf_counter()
    bar.set_postfix_str(f"{maze.name}, seed {seed}: planning")
    clean = plan_dataset(maze, cfg.n_clean, "smooth", n_waypoints=cfg.n_waypoints, seed=seed)
    rrt = plan_dataset(maze, cfg.n_rrt, "rrt", n_waypoints=cfg.n_waypoints, seed=seed)
    val = plan_dataset(maze, cfg.n_val, "smooth", n_waypoints=cfg.n_waypoints, seed=seed + 500_009)
    test = heldout_queries(maze, cfg.n_test, n_waypoints=cfg.n_waypoints, seed=seed)
    sched = default_schedule()
    pools = Pools(
        _tensor(to_model(clean.paths)), _tensor(condition(clean.starts, clean.goals)),
        _tensor(to_model(rrt.paths)), _tensor(condition(rrt.starts, rrt.goals)), sched,
    )  # fmt: skip
    out: dict[str, Any] = {"data_seconds": time.perf_counter() - t0, "methods": {}, "test": test}
    out["data"] = {
        src: {"jerk": float(squared_jerk(d.paths).mean()), "jerk_median": float(np.median(squared_jerk(d.paths)))}
        for src, d in (("smooth", clean), ("rrt", rrt))
    }
    tick = bar.update
    annotated = None
    if any(m in ("ambient", "ambient_omni") for m in cfg.methods):
        bar.set_postfix_str(f"{maze.name}, seed {seed}: classifier")
        t1 = time.perf_counter()
        annotated = annotate(pools, seed=seed, steps=cfg.classifier_steps, eps=cfg.classifier_eps)
        out["annotation"] = {
            "sigma_min": annotated.sigma_min.numpy(), "grid": annotated.grid, "rrt": annotated.trajectories,
            "clean": annotated.clean_trajectories, "seconds": time.perf_counter() - t1,
            "evaluations_per_sample": annotated.evaluations_per_sample,
            "classifier_loss_last": float(np.mean(annotated.classifier_losses[-50:])),
        }  # fmt: skip
    clean_val = None
    for method in cfg.methods:
        bar.set_postfix_str(f"{maze.name}, seed {seed}: {method}")
        t1 = time.perf_counter()
        record: dict[str, Any] = {}
        if method == "ambient_sweep":
            if clean_val is None:
                clean_val = _evaluate(_train("clean", pools, cfg, seed, tick), maze, val, cfg, seed)["metrics"]
            model, record["sweep"] = _sweep(pools, cfg, seed, tick, maze, val, clean_val)
        else:
            kw_m: dict[str, Any] = {}
            if method in ("ambient", "ambient_omni"):
                kw_m["sigma_min"] = annotated.sigma_min  # type: ignore[union-attr]
            if method == "ambient_omni":
                kw_m["sigma_max"] = float(sched.sigma_for_timestep(int(sched.timestep_for_sigma(cfg.sigma_max))))
            model = _train(method, pools, cfg, seed, tick, **kw_m)
            if method == "clean" and "ambient_sweep" in cfg.methods:
                clean_val = _evaluate(model, maze, val, cfg, seed)["metrics"]
        result = _evaluate(model, maze, test, cfg, seed)
        record.update(result["metrics"], seconds=time.perf_counter() - t1, paths=result["paths"][: cfg.n_show])
        out["methods"][method] = record
    return out


def _sweep(pools: Any, cfg: ExperimentConfig, seed: int, tick: Any, maze: Maze, val: Any, ref: dict) -> Any:
    import torch

    sched = pools.schedule
    rows, models = [], []
    for level in cfg.sweep:
        snapped = float(sched.sigma_for_timestep(int(sched.timestep_for_sigma(level))))
        m = torch.full((len(pools.xr),), snapped, dtype=torch.float32)
        model = _train("ambient_sweep", pools, cfg, seed, tick, sigma_min=m)
        rows.append({"sigma_min": snapped, **_evaluate(model, maze, val, cfg, seed)["metrics"]})
        models.append(model)
    ok = [i for i, r in enumerate(rows) if r["jerk_median"] <= cfg.sweep_jerk_factor * ref["jerk_median"]]
    best = max(ok, key=lambda i: rows[i]["success"]) if ok else min(range(len(rows)), key=lambda i: rows[i]["jerk"])
    for i, r in enumerate(rows):
        r["chosen"] = i == best
    return models[best], rows


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None

    def set_postfix_str(self, text: str) -> None:
        return None


def _bar(total: int, progress: bool) -> Any:
    """A tqdm bar over training steps (a silent stand-in without tqdm or with ``progress=False``)."""
    if progress:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is optional
            return _NoBar()
        return tqdm(total=total, unit="step", desc="maze", leave=False)
    return _NoBar()


def run_experiment(cfg: ExperimentConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run every layout and seed of ``cfg``; returns a dict with the config, per-run records and timings.

    Raises ``ImportError`` naming the ``torch`` extra when PyTorch is missing.
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = 'the maze experiment needs PyTorch: pip install "ambientloss[torch]"'
        raise ImportError(msg) from exc
    threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    per_seed = cfg.steps * sum(len(cfg.sweep) if m == "ambient_sweep" else 1 for m in cfg.methods)
    per_seed += cfg.steps * ("ambient_sweep" in cfg.methods and "clean" not in cfg.methods)
    total = per_seed * len(cfg.seeds) * len(cfg.layouts)
    start = time.perf_counter()
    runs = []
    try:
        with _bar(total, progress) as bar:
            for layout in cfg.layouts:
                maze = make_maze(layout)
                for seed in cfg.seeds:
                    runs.append({"layout": maze.name, "maze": maze, "seed": seed, **_one_seed(maze, cfg, seed, bar)})
    finally:
        torch.set_num_threads(threads)
    machine: dict[str, object] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }
    machine.update(torch=torch.__version__, threads=cfg.threads if cfg.threads is not None else threads)
    return {"config": asdict(cfg), "runs": runs, "seconds": time.perf_counter() - start, "machine": machine}
