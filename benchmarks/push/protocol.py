"""The pushing protocol: tune on validation tasks of the default layout, freeze, then run the test configuration.

``tune`` works on seed 0 of the default layout and evaluates every candidate on the **validation** tasks:

1. training steps (``STEPS``): clean only and co-training at each; the count with the higher mean success;
2. the classifier's input (``INPUTS``): chunk only or chunk and observation (:mod:`benchmarks.push.joint`),
   whichever has the higher mean balanced accuracy on held-out demonstrations at timesteps 0, 5, 10 and 20;
3. the classifier margin ``eps`` (``EPS``), separately for the ambient and the denoising loss;
4. the dataset-level ``sigma_min`` (``LEVELS``, as timesteps), with the ambient loss;
5. the real share of each batch for the ambient methods (``FRACTIONS``), on the ambient-loss row at its ``eps``.

Ties go to the earlier candidate. The protocol's headline variant is the per-sample row (ambient or denoising
loss) with the higher validation success. The test run (:mod:`benchmarks.push.benchmark`) reads the frozen choices and
runs only **test** tasks, on layouts and seeds of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .experiment import Annotator, Config, brief, build, dataset_shapes, evaluate, level_sigma, train_variant

__all__ = ["EPS", "FRACTIONS", "INPUTS", "LEVELS", "STEPS", "select", "tune"]

STEPS = (800, 1600)
INPUTS = ("chunk", "joint")
EPS = (0.05, 0.15)
LEVELS = (10, 30)
FRACTIONS = (0.5, 0.25)


def select(candidates: dict[Any, dict[str, float]]) -> Any:
    """The key with the highest success, then the lowest final distance, then the earliest.

    Examples
    --------
    >>> select({1: {"success": 0.5, "final_distance": 0.1}, 2: {"success": 0.6, "final_distance": 0.2}})
    2
    """
    keys = list(candidates)
    return max(keys, key=lambda k: (candidates[k]["success"], -candidates[k]["final_distance"], -keys.index(k)))


def tune(cfg: Config, *, cache: Path | None, log: Callable[[str], object] = print,
         steps_candidates: tuple[int, ...] = STEPS) -> dict[str, Any]:
    """Run the validation sweep of the module docstring; returns the protocol (JSON-ready)."""
    s = build(None, cfg, 0, cache)
    v = lambda c, method, loss, sm=None: brief(evaluate(train_variant(s, method, loss, c, 0, sigma_min=sm), s, "val",  # noqa: E731
                                                        c, 0))
    by_steps: dict[int, dict[str, Any]] = {}
    for steps in steps_candidates:
        c = cfg.replace(steps=steps)
        by_steps[steps] = {m: v(c, m, "ambient") for m in ("clean", "cotrain")}
        log(f"val steps={steps}: {by_steps[steps]}")
    mean = {k: {m: float(np.mean([r[m] for r in d.values()])) for m in ("success", "final_distance")}
            for k, d in by_steps.items()}
    cfg = cfg.replace(steps=select(mean))
    accuracy, annotators = {}, {}
    for kind in INPUTS:
        annotators[kind] = Annotator(s, kind, seed=0, steps=cfg.classifier_steps)
        accuracy[kind] = annotators[kind].accuracy()
        log(f"classifier {kind}: {accuracy[kind]}")
    score = {k: float(np.mean([a[t] for t in (0, 5, 10, 20)])) for k, a in accuracy.items()}
    kind = max(INPUTS, key=lambda k: (score[k], -INPUTS.index(k)))
    cfg = cfg.replace(classifier_input=kind)
    ann = annotators[kind]
    sigma = {eps: ann.sigma_min(eps) for eps in EPS}
    chosen: dict[str, Any] = {}
    for loss in ("ambient", "denoise"):
        by_eps = {eps: v(cfg, "ambient", loss, sigma[eps]) for eps in EPS}
        log(f"val ambient:{loss} by eps: {by_eps}")
        e = select(by_eps)
        chosen[f"ambient:{loss}"] = {"eps": e, **by_eps[e], "candidates": {str(k): r for k, r in by_eps.items()}}
    by_level = {lv: v(cfg, "ambient_level", "ambient", level_sigma(s, lv)) for lv in LEVELS}
    log(f"val ambient_level:ambient by level: {by_level}")
    lv = select(by_level)
    chosen["ambient_level:ambient"] = {"level": lv, **by_level[lv],
                                       "candidates": {str(k): r for k, r in by_level.items()}}
    e = chosen["ambient:ambient"]["eps"]
    by_fraction = {FRACTIONS[0]: brief(chosen["ambient:ambient"])}
    for f in FRACTIONS[1:]:
        by_fraction[f] = v(cfg.replace(clean_fraction=f), "ambient", "ambient", sigma[e])
    log(f"val ambient:ambient by clean_fraction: {by_fraction}")
    cfg = cfg.replace(clean_fraction=select(by_fraction))
    best = select({k: chosen[k] for k in ("ambient:ambient", "ambient:denoise")})
    timesteps = {str(e): np.bincount(np.asarray(s.pools.table.timestep_for_sigma(sm)), minlength=100).tolist()
                 for e, sm in sigma.items()}
    return {
        "config": cfg.as_dict(),
        "validation": {"clean:ambient": by_steps[cfg.steps]["clean"], "cotrain:ambient": by_steps[cfg.steps]["cotrain"],
                       **chosen, "by_steps": {str(k): d for k, d in by_steps.items()},
                       "by_clean_fraction": {str(k): d for k, d in by_fraction.items()}},
        "classifier_accuracy": accuracy,
        "classifier_score": score,
        "sigma_min_timestep_histogram": timesteps,
        "protocol_variant": best,
        "data": dataset_shapes(s),
        "candidates": {"steps": steps_candidates, "inputs": INPUTS, "eps": EPS, "levels": LEVELS,
                       "clean_fraction": FRACTIONS},
        "rule": "highest validation success, then lowest final distance, then the earlier candidate",
    }
