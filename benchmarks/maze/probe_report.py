"""Table and figure of the convergence probes' finished runs (``runs/*.json``, validation queries only).

Squared jerk is given two ways, labelled: on the queries that **every** run of the same group (design,
network, budget) solves, so that methods are compared on the same queries, and on each run's own
successes. The held-out denoising loss is given at the chosen checkpoint and at the step training stopped.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["common_jerk", "curves", "finished", "table"]


def finished(runs: Path) -> list[dict[str, Any]]:
    """Every finished run's JSON (those with a validation curve), by name."""
    rows = [json.loads(f.read_text()) for f in sorted(runs.glob("*-s*.json"))]
    return [r for r in rows if "curve" in r]


def _group(r: dict[str, Any]) -> tuple[Any, ...]:
    net = r.get("net", {})
    return (r.get("design"), net.get("kind"), tuple(net.get("widths") or ()), json.dumps(r.get("criterion")))


def common_jerk(rows: list[dict[str, Any]]) -> tuple[dict[str, float], int]:
    """Mean squared jerk of each run on the queries all ``rows`` solve, and how many such queries there are.

    Examples
    --------
    >>> a = {"name": "a", "best": {"per_query": {"success": [True, True, False], "jerk": [1.0, 3.0, 9.0]}}}
    >>> b = {"name": "b", "best": {"per_query": {"success": [True, False, True], "jerk": [2.0, 4.0, 5.0]}}}
    >>> common_jerk([a, b])
    ({'a': 1.0, 'b': 2.0}, 1)
    """
    ok = np.logical_and.reduce([np.asarray(r["best"]["per_query"]["success"], dtype=bool) for r in rows])
    out = {}
    for r in rows:
        j = np.asarray(r["best"]["per_query"]["jerk"], dtype=np.float64)
        out[r["name"]] = float(j[ok].mean()) if ok.any() else math.nan
    return out, int(ok.sum())


def table(runs: Path) -> str:
    """Markdown table of the finished runs, one block per group (design, network, budget)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in finished(runs):
        groups[_group(r)].append(r)
    lines = [
        "| run | params | s/step | best step | stopped | success % | in / out % | jerk, common (n) | jerk, own "
        "| collided % | held-out loss (best / stop / min) |",
        "|---|--:|--:|--:|---|--:|---|--:|--:|--:|---|",
    ]
    for rows in groups.values():
        common, n = common_jerk(rows) if all("per_query" in r["best"] for r in rows) else ({}, 0)
        for r in rows:
            b, c = r["best"], r["curve"]
            at = next(h for h in c if h["step"] == r["best_step"])
            stop = next(h for h in c if h["step"] == r["stopped_at"])
            cj = f"{common[r['name']]:.1f} ({n})" if r["name"] in common else "-"
            lines.append(
                f"| {r['name']} | {r['params']} | {r['seconds_per_step']:.4f} | {r['best_step']} | "
                f"{r['stopped_at']} ({r['reason']}) | {100 * b['success']:.0f} | "
                f"{100 * b['success_in']:.0f} / {100 * b['success_out']:.0f} | {cj} | {b['jerk']:.1f} | "
                f"{100 * b['collided']:.0f} | {at['heldout_loss']:.4f} / {stop['heldout_loss']:.4f} / "
                f"{min(h['heldout_loss'] for h in c):.4f} |"
            )
    return "\n".join(lines)


def curves(runs: Path, *, only: str | None = None, out: Path | None = None) -> Path:
    """Validation success and held-out denoising loss against training steps, one line per finished run
    (those whose name contains ``only``, if given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for r in finished(runs):
        if only is not None and only not in r["name"]:
            continue
        steps = [h["step"] for h in r["curve"]]
        (line,) = left.plot(steps, [100 * h["success"] for h in r["curve"]], label=r["name"])
        left.axvline(r["best_step"], color=line.get_color(), ls=":", lw=1)
        right.plot(steps, [h["heldout_loss"] for h in r["curve"]], color=line.get_color(), label=r["name"])
    left.set(xlabel="training step", ylabel="validation success %", title="success (dotted: chosen checkpoint)")
    right.set(xlabel="training step", ylabel="held-out clean denoising loss", title="diagnostic, not the rule")
    left.legend(fontsize=7)
    fig.tight_layout()
    path = out if out is not None else runs / "curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
