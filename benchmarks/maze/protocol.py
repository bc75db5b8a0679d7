"""The maze protocol: tune on validation queries of the default layout, freeze, then run the test configuration.

``tune`` trains, on seed 0 of the default layout, clean only and co-training (the references), the
per-sample classifier variant at every candidate ``eps`` and the dataset-level variant at every
candidate timestep, each with both losses, and evaluates them on the **validation** queries. For each
ambient row it keeps the candidate with the highest validation success among those whose squared jerk
stays within ``JERK_CAP`` times clean only's (the lowest jerk when none does), and names the protocol's
ambient variant by the same rule across rows. The choices go to ``protocol.json``; The test run
(:mod:`benchmarks.maze.benchmark`) reads it and runs only **test** queries, on layouts and seeds of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.policy.classifier import balanced_accuracy, fit, sigma_min_of

from .experiment import Config, build, evaluate, level_sigma, per_demonstration, train_variant

__all__ = ["EPS", "JERK_CAP", "LEVELS", "select", "tune", "tune_pooled"]

EPS = (0.05, 0.15)  #: candidate classifier margins
LEVELS = (20, 45)  #: candidate dataset-level timesteps (of 100)
JERK_CAP = 1.2


def select(candidates: dict[Any, dict[str, float]], clean_jerk: float) -> Any:
    """The key with the highest success among ``jerk <= JERK_CAP * clean_jerk``; else the lowest jerk.

    Examples
    --------
    >>> select({1: {"success": 0.9, "jerk": 3.0}, 2: {"success": 0.8, "jerk": 1.0}}, clean_jerk=1.0)
    2
    """
    ok = {k: v for k, v in candidates.items() if v["jerk"] <= JERK_CAP * clean_jerk}
    if ok:
        return max(ok, key=lambda k: (ok[k]["success"], -ok[k]["jerk"]))
    return min(candidates, key=lambda k: candidates[k]["jerk"] if math.isfinite(candidates[k]["jerk"]) else math.inf)


def _brief(r: dict[str, Any]) -> dict[str, float]:
    return {k: r[k] for k in ("success", "jerk", "length", "collided")}


def tune(cfg: Config, *, cache: Path | None, log: Callable[[str], object] = print) -> dict[str, Any]:
    """Run the validation sweep of the module docstring; returns the protocol (JSON-ready)."""
    s = build(None, cfg, 0, cache)
    val: dict[str, Any] = {}
    for method in ("clean", "cotrain"):
        val[method] = _brief(evaluate(train_variant(s, method, "ambient", cfg, 0), s, "val", cfg, 0))
        log(f"val {method}: {val[method]}")
    clean_jerk = val["clean"]["jerk"]
    clf = fit(s.pools, seed=0, steps=cfg.classifier_steps)
    accuracy = {t: balanced_accuracy(clf, s.pools, t, n=2000, seed=1) for t in (0, 5, 10, 20, 40)}
    chosen: dict[str, Any] = {}
    for loss in ("ambient", "denoise"):
        by_eps = {}
        for eps in EPS:
            sm = sigma_min_of(clf, s.pools, eps=eps, seed=0)
            by_eps[eps] = _brief(evaluate(train_variant(s, "ambient", loss, cfg, 0, sigma_min=sm), s, "val", cfg, 0))
            log(f"val ambient:{loss} eps={eps}: {by_eps[eps]}")
        by_level = {}
        for level in LEVELS:
            sm = level_sigma(s, level, len(s.pools.xl))
            by_level[level] = _brief(
                evaluate(train_variant(s, "ambient_level", loss, cfg, 0, sigma_min=sm), s, "val", cfg, 0)
            )
            log(f"val ambient_level:{loss} level={level}: {by_level[level]}")
        e, lv = select(by_eps, clean_jerk), select(by_level, clean_jerk)
        chosen[f"ambient:{loss}"] = {"eps": e, **by_eps[e], "candidates": {str(k): v for k, v in by_eps.items()}}
        chosen[f"ambient_level:{loss}"] = {
            "level": lv,
            **by_level[lv],
            "candidates": {str(k): v for k, v in by_level.items()},
        }
    best = select(dict(chosen.items()), clean_jerk)
    return {
        "config": cfg.as_dict(),
        "validation": {**val, **chosen},
        "classifier_accuracy": accuracy,
        "protocol_variant": best,
        "rule": f"highest validation success with jerk <= {JERK_CAP} x clean only's; else lowest jerk",
    }


def tune_pooled(
    protocol: dict[str, Any], *, cache: Path | None, log: Callable[[str], object] = print
) -> dict[str, Any]:
    """Add per-demonstration pooling of the classifier levels (``ambient_traj``) to a tuned protocol.

    Same validation queries, seed and classifier as :func:`tune`; each loss at the ``eps`` that
    :func:`tune` chose for its per-chunk row; the protocol's variant is re-selected over every row.
    """
    cfg = Config.load(protocol["config"])
    per_row = protocol["validation"]
    s = build(None, cfg, 0, cache)
    clf = fit(s.pools, seed=0, steps=cfg.classifier_steps)
    val = protocol["validation"]
    for loss in ("ambient", "denoise"):
        eps = per_row[f"ambient:{loss}"]["eps"]
        sm = per_demonstration(s, sigma_min_of(clf, s.pools, eps=eps, seed=0))
        r = _brief(evaluate(train_variant(s, "ambient_traj", loss, cfg, 0, sigma_min=sm), s, "val", cfg, 0))
        log(f"val ambient_traj:{loss} eps={eps}: {r}")
        val[f"ambient_traj:{loss}"] = {"eps": eps, **r}
    rows = {k: v for k, v in val.items() if ":" in k and not k.startswith(("clean", "cotrain"))}
    protocol["protocol_variant"] = select(rows, val["clean"]["jerk"])
    return protocol
