"""The tuning stage: every tuned setting chosen on validation tasks of the default layout, then frozen.

:func:`tune` trains clean only, co-training, Ambient-Omni at each swept ``sigma_max`` and the ambient
variants at their candidate settings, evaluates each on the validation tasks, and returns the protocol:
the chosen settings, the candidates, every validation score and the harmless level (the largest swept
``sigma_max`` whose logic score stays within noise of clean only's or above it). :func:`load` reads it back
as a :class:`~benchmarks.sorting.experiment.Config`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .experiment import Config, build, evaluate, level, sigma_bounds, train

__all__ = ["BUDGET_PROBE", "EPS", "LEVELS", "SWEEP", "harmless", "load", "noise_band", "tune"]

SWEEP = (5, 10, 20, 30, 45)  #: Ambient-Omni sigma_max candidates (training timesteps)
LEVELS = (40,)  #: dataset-level sigma_min candidates (training timesteps)
EPS = (0.1,)  #: chunk-classifier margins
#: clean only on 100 validation tasks (default layout, seed 0) while choosing width, batch and steps for the budget
BUDGET_PROBE = [
    {"widths": [32, 64], "batch_size": 256, "steps": 1500, "obs": 9, "logic": 0.27, "seconds": 147},
    {"widths": [32, 64], "batch_size": 128, "steps": 1500, "obs": 9, "logic": 0.23, "seconds": 79},
    {"widths": [32, 64], "batch_size": 128, "steps": 1500, "obs": 11, "logic": 0.13, "seconds": 103},
    {"widths": [16, 32], "batch_size": 128, "steps": 1500, "obs": 11, "logic": 0.15, "seconds": 41},
    {"widths": [16, 32], "batch_size": 128, "steps": 3000, "obs": 11, "logic": 0.53, "seconds": 125},
    {"widths": [16, 32], "batch_size": 64, "steps": 3000, "obs": 11, "logic": 0.21, "seconds": 98},
]


def noise_band(p: float, q: float, n: int) -> float:
    """Two standard errors of the difference of two success rates ``p``, ``q`` on ``n`` episodes each."""
    var = (p * (1 - p) + q * (1 - q)) / n
    return 2 * math.sqrt(max(var, 1.0 / n**2))


def harmless(validation: dict[str, dict[str, float]], n_val: int, *, conditional: bool = False) -> int | None:
    """The largest swept timestep whose validation score stays within noise of clean only's, or above it.

    ``conditional=False`` compares logic scores (``n_val`` episodes each); ``conditional=True`` compares the
    sorting accuracy among completed episodes (logic / completion, on the completed episodes of each).
    """
    def score(r: dict[str, float]) -> tuple[float, int]:
        if not conditional:
            return r["logic"], n_val
        done = max(1, round(r["completion"] * n_val))
        return (r["logic"] / r["completion"] if r["completion"] else 0.0), done

    ref, n_ref = score(validation["clean"])
    ok = []
    for name, r in validation.items():
        if name.startswith("omni_sweep t="):
            v, n = score(r)
            if v >= ref - noise_band(v, ref, min(n, n_ref)):
                ok.append(int(name.split("=")[1]))
    return max(ok) if ok else None


def tune(
    cfg: Config, *, sweep: tuple[int, ...] = SWEEP, levels: tuple[int, ...] = LEVELS, eps: tuple[float, ...] = EPS,
    seed: int = 0, log: Callable[[str], object] = print,
) -> dict[str, Any]:
    """Choose ``omni_t``, ``level_t`` and ``eps`` by validation logic score (default layout, one seed)."""
    s = build(None, cfg, seed)
    scores: dict[str, dict[str, float]] = {}

    def run(name: str, method: str, c: Config) -> float:
        lo, hi = sigma_bounds(s, method, c, seed, cache={})
        r = evaluate(train(s, method, c, seed, sigma_min=lo, sigma_max=hi), s, "val", c, seed)
        scores[name] = r
        log(f"  val {name:<24} logic {r['logic']:.3f}  completion {r['completion']:.3f}")
        return r["logic"]

    run("clean", "clean", cfg)
    run("cotrain", "cotrain", cfg)
    for t in sweep:
        run(f"omni_sweep t={t}", "omni_sweep", cfg.replace(omni_t=t))
    for t in levels:
        run(f"ambient_level t={t}", "ambient_level", cfg.replace(level_t=t))
    for e in eps:
        run(f"ambient eps={e}", "ambient", cfg.replace(eps=e))

    def best(names: list[str], values: tuple[Any, ...]) -> Any:
        logic = [scores[n]["logic"] for n in names]
        top = max(logic)
        return max(v for v, x in zip(values, logic, strict=True) if x == top)  # ties: the larger setting

    omni_t = best([f"omni_sweep t={t}" for t in sweep], sweep)
    clean = scores["clean"]["logic"]
    harmless = [t for t in sweep if scores[f"omni_sweep t={t}"]["logic"]
                >= clean - noise_band(scores[f"omni_sweep t={t}"]["logic"], clean, cfg.n_val)]
    chosen = cfg.replace(
        omni_t=omni_t, level_t=best([f"ambient_level t={t}" for t in levels], levels),
        eps=best([f"ambient eps={e}" for e in eps], eps),
    )
    return {
        "config": chosen.as_dict(),
        "sigma_max": level(s, omni_t),
        "sigma_min_level": level(s, chosen.level_t),
        "harmless_t": max(harmless) if harmless else None,
        "harmless_sigma_max": level(s, max(harmless)) if harmless else None,
        "candidates": {"omni_t": list(sweep), "omni_sigma_max": [level(s, t) for t in sweep],
                       "level_t": list(levels), "eps": list(eps)},
        "validation": scores,
        "rule": "each tuned setting maximises the validation logic score (ties: the larger); harmless = largest "
                "swept sigma_max with logic >= clean - 2 SE of the difference",
        "split": {"tasks": "validation tasks (seed 10000 + seed) of the default layout", "seed": seed,
                  "n_val": cfg.n_val},
    }


def load(path: Path, base: Config | None = None) -> Config:
    """The frozen :class:`Config` of a protocol file (fields it does not hold keep ``base``'s values)."""
    return Config.load(json.loads(Path(path).read_text())["config"], base)
