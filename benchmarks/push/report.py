"""Tables, a reading computed from the numbers, and figures for the pushing benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.policy.stats import summary

from .env import BLOCK_SIZE, Layout

__all__ = ["LABELS", "figures", "reading", "rows", "table"]

LABELS = {
    "clean:ambient": "real only",
    "cotrain:ambient": "co-training (source weight 0.5)",
    "ambient:ambient": "ambient, classifier sigma_min, ambient loss",
    "ambient:denoise": "ambient, classifier sigma_min, denoising loss",
    "ambient_level:ambient": "ambient, dataset sigma_min, ambient loss",
}


def rows(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per variant: ``summary`` over seeds of success (%) and final block-goal distance."""
    return {name: {"success": summary([100 * r["variants"][name]["success"] for r in runs]),
                   "final_distance": summary([r["variants"][name]["final_distance"] for r in runs])}
            for name in runs[0]["variants"]}


def table(summ: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: success % and final distance, mean ± std [95 % interval]."""
    lines = ["| method | success % in REAL | final block-goal distance |", "|---|---|---|"]
    for name, r in summ.items():
        s, d = r["success"], r["final_distance"]
        lines.append(f"| {LABELS.get(name, name)} | {s['mean']:.1f} ± {s['std']:.1f} [{s['low']:.1f}, {s['high']:.1f}]"
                     f" | {d['mean']:.3f} ± {d['std']:.3f} |")
    return "\n".join(lines)


def reading(summ: dict[str, dict[str, dict[str, float]]], runs: list[dict[str, Any]], variant: str) -> str:
    """Two lines from the numbers: ``variant`` against real only and co-training, in the mean and per seed.

    The target is met when the mean success over seeds is at least co-training's and above real only's.
    """
    c, co, a = (summ[k]["success"]["mean"] for k in ("clean:ambient", "cotrain:ambient", variant))
    per = [(100 * r["variants"][variant]["success"], 100 * r["variants"]["clean:ambient"]["success"],
            100 * r["variants"]["cotrain:ambient"]["success"]) for r in runs]
    beat_c = sum(x > y for x, y, _ in per)
    beat_co = sum(x >= z for x, _, z in per)
    first = (f"Co-training changes success in REAL by {co - c:+.1f} points over real only; "
             f"{LABELS.get(variant, variant)} by {a - c:+.1f} points ({a - co:+.1f} against co-training).")
    met = a >= co and a > c
    second = (f"Target (mean >= co-training's and > real only's) {'met' if met else 'missed'}; per seed it beats "
              f"real only on {beat_c} of {len(per)} and matches or beats co-training on {beat_co} of {len(per)}.")
    return first + "\n" + second


def figures(result: dict[str, Any], out: Path, layout: Layout, layout_key: str) -> list[Path]:
    """Executed pusher and block traces per variant (first seed) and success per variant with error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Rectangle

    runs = result["layouts"][layout_key]
    names = list(runs[0]["variants"])
    tag = layout_key.replace(" ", "")
    fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 3.3))
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        r = runs[0]["variants"][name]
        ax.add_patch(Circle(layout.goal, layout.tolerance, color="tab:green", alpha=0.4))
        lo, hi = np.asarray(layout.start_low), np.asarray(layout.start_high)
        ax.add_patch(Rectangle(tuple(lo), *(hi - lo), fill=False, ls="--", color="0.5"))
        for tr in r.get("traces", []):
            ax.plot(tr.pusher[:, 0], tr.pusher[:, 1], lw=0.5, color="tab:blue", alpha=0.6)
            ax.plot(tr.block[:, 0], tr.block[:, 1], lw=0.9, color="tab:red", alpha=0.7)
            ax.plot(*tr.block[-1, :2], "s", ms=BLOCK_SIZE * 40, mfc="none", color="tab:red", alpha=0.5)
        ax.set(xlim=(0, 1), ylim=(0, 1), xticks=[], yticks=[], aspect="equal")
        seed = runs[0].get("seed", 0)
        ax.set_title(f"{LABELS.get(name, name)}\n{100 * r['success']:.0f}% success (seed {seed})", fontsize=7)
    fig.suptitle(f"push {layout_key}: pusher (blue) and block (red) in REAL", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.94))  # room for the suptitle above the panel titles
    paths = [out / f"push-{tag}-traces.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    summ = rows(runs)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    means = [summ[n]["success"]["mean"] for n in names]
    err = np.array([[summ[n]["success"]["mean"] - summ[n]["success"]["low"],
                     summ[n]["success"]["high"] - summ[n]["success"]["mean"]] for n in names]).T
    ax.bar(range(len(names)), means, yerr=err, capsize=4, color="0.7")
    for k, n in enumerate(names):
        ax.plot([k] * len(runs), [100 * r["variants"][n]["success"] for r in runs], "k.", ms=5)
    ax.set_xticks(range(len(names)), [LABELS.get(n, n).replace(", ", "\n") for n in names], fontsize=6)
    ax.set(ylabel="success % in REAL", title=f"push {layout_key}: mean, 95% interval, seeds ({len(runs)})")
    fig.tight_layout()
    paths.append(out / f"push-{tag}-success.png")
    fig.savefig(paths[1], dpi=110)
    plt.close(fig)
    return paths
