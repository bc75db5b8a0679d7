r"""Where the RRT rows enter in each ambient method of the convergence probes, from one cached classifier.

=================== =====================================================================================
method              levels and weights of the low-quality (RRT) rows
=================== =====================================================================================
``ambient_level``   one dataset-level ``sigma_min`` (the table's level at ``--level``) for every row
``ambient_chunk``   each chunk's own classifier level (:func:`benchmarks.policy.classifier.sigma_min_of`
                    at the ``eps`` the benchmark's validation rule chose), as the benchmark's per-sample row
``ambient_demo``    those levels pooled per RRT demonstration, its worst chunk
                    (:func:`benchmarks.maze.experiment.per_demonstration`, ``source_sigma_min(reduce="max")``)
``ambient_soft``    the dataset level for every row, each row's loss weighted by the classifier's odds
                    :math:`r_i = \frac{c}{1-c}\frac{\pi_q}{\pi_p}` at its frozen ``(x_m, sigma_min)``
                    (:func:`ambientloss.soft_ambient_weight`; balanced training: ``pi_q = pi_p``)
=================== =====================================================================================

The classifier is trained once per design and seed (``classifier_steps`` of the benchmark's config, seeded)
and kept under the cache with what the runs read from it: the per-chunk levels, its balanced accuracy at a
few timesteps, and ``P(corrupt)`` of every chunk's frozen ``x_m`` at each dataset level asked for (chunks x
levels), so a second run and a resumed one never train it again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ambientloss import frozen_x_tmin, soft_ambient_weight
from benchmarks.policy.classifier import balanced_accuracy, fit, sigma_min_of
from benchmarks.policy.config import REPORTED_TIMESTEPS

from .experiment import Config, Setting, level_sigma, per_demonstration

__all__ = ["AMBIENT", "frozen_choices", "levels_for", "soft_weights"]

AMBIENT = ("ambient_level", "ambient_chunk", "ambient_demo", "ambient_soft")
PROTOCOL = Path(__file__).with_name("protocol.json")


def frozen_choices(path: Path = PROTOCOL) -> dict[str, Any]:
    """The classifier ``eps`` and dataset-level timestep the benchmark's validation rule chose (ambient loss)."""
    v = json.loads(path.read_text())["validation"]
    return {"eps": float(v["ambient:ambient"]["eps"]), "level": int(v["ambient_level:ambient"]["level"])}


def _classifier(s: Setting, name: str, seed: int, cache: Path | None, steps: int, eps: float) -> dict[str, Any]:
    f = None if cache is None else cache / "classifier" / f"{name}-s{seed}-{steps}-eps{eps:g}.pt"
    if f is not None and f.exists():
        return dict(torch.load(f, weights_only=False))
    model = fit(s.pools, seed=seed, steps=steps)
    saved = {
        "model": model,
        "accuracy": {t: balanced_accuracy(model, s.pools, t, n=2000, seed=seed + 1) for t in REPORTED_TIMESTEPS},
        "sigma_min": sigma_min_of(model, s.pools, eps=eps, seed=seed),
        "p_corrupt": {},  # timestep -> P(corrupt) (Nl,) at the frozen x_m of every RRT row
    }
    _save(saved, f)
    return saved


def _save(saved: dict[str, Any], f: Path | None) -> None:
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        torch.save(saved, f.with_suffix(".tmp"))
        f.with_suffix(".tmp").replace(f)


def p_corrupt_at(saved: dict[str, Any], s: Setting, timestep: int, seed: int) -> torch.Tensor:
    """``P(corrupt)`` of each RRT row's frozen ``x_m`` at the table's level ``timestep`` (the ``x_m`` training
    reads: :func:`ambientloss.frozen_x_tmin` with the draw's seed and row ids)."""
    if timestep not in saved["p_corrupt"]:
        sm = level_sigma(s, timestep, len(s.pools.xl))
        ids = torch.arange(len(s.pools.xl))
        x_m = frozen_x_tmin(s.pools.xl, ids, sm, seed=seed, schedule=s.pools.table)
        model = saved["model"]
        parts = [
            model.probability(x_m[i : i + 8192], sm[i : i + 8192], probability="corrupt")
            for i in range(0, len(sm), 8192)
        ]
        saved["p_corrupt"][timestep] = torch.cat(parts)
    return saved["p_corrupt"][timestep]


def soft_weights(p_corrupt: torch.Tensor) -> torch.Tensor:
    """The library's soft ambient weight of each row from the classifier's ``P(corrupt)`` (balanced priors)."""
    w = soft_ambient_weight(1 - p_corrupt.double(), prior_odds=1.0)
    if not bool(torch.isfinite(w).all()):
        raise ValueError(f"soft weights must be finite: {int((~torch.isfinite(w)).sum())} rows have P(clean) = 1")
    return w.to(torch.float32)


def _quantiles(x: torch.Tensor) -> dict[str, float]:
    q = np.quantile(x.numpy().astype(np.float64), [0.0, 0.1, 0.5, 0.9, 1.0])
    return {"min": q[0], "p10": q[1], "median": q[2], "p90": q[3], "max": q[4], "mean": float(x.double().mean())}


def levels_for(
    method: str, s: Setting, *, design: str, seed: int, cache: Path | None, level: int, eps: float, cfg: Config
) -> tuple[torch.Tensor | None, torch.Tensor | None, dict[str, Any]]:
    """``(sigma_min (Nl,) or None, weight (Nl,) or None, record)`` of ``method`` (module table)."""
    n = len(s.pools.xl)
    if method in ("clean", "cotrain"):
        return None, None, {}
    if method == "ambient_level":
        return level_sigma(s, level, n), None, {"level": level}
    saved = _classifier(s, design, seed, cache, cfg.classifier_steps, eps)
    record: dict[str, Any] = {"classifier_steps": cfg.classifier_steps, "classifier_accuracy": saved["accuracy"]}
    table = s.pools.table
    if method in ("ambient_chunk", "ambient_demo"):
        sm = saved["sigma_min"] if method == "ambient_chunk" else per_demonstration(s, saved["sigma_min"])
        t = np.asarray(table.timestep_for_sigma(sm))
        return sm, None, {**record, "eps": eps, "timesteps": _quantiles(torch.as_tensor(t, dtype=torch.float64))}
    if method == "ambient_soft":
        known = set(saved["p_corrupt"])
        p = p_corrupt_at(saved, s, level, seed)
        if level not in known and cache is not None:
            _save(saved, cache / "classifier" / f"{design}-s{seed}-{cfg.classifier_steps}-eps{eps:g}.pt")
        w = soft_weights(p)
        return level_sigma(s, level, n), w, {**record, "level": level, "weight": _quantiles(w)}
    raise ValueError(f"method must be one of clean, cotrain, {', '.join(AMBIENT)}; got {method!r}")
