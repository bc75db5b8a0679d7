"""Tables, a reading computed from the numbers, and figures for the maze benchmark."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.policy.stats import summary

__all__ = ["common_jerk", "figures", "reading", "rows", "table"]

LABELS = {
    "clean:ambient": "clean only",
    "cotrain:ambient": "co-training",
    "ambient:ambient": "ambient, classifier sigma_min, ambient loss",
    "ambient:denoise": "ambient, classifier sigma_min, denoising loss",
    "ambient_traj:ambient": "ambient, classifier sigma_min per demonstration, ambient loss",
    "ambient_traj:denoise": "ambient, classifier sigma_min per demonstration, denoising loss",
    "ambient_level:ambient": "ambient, dataset sigma_min, ambient loss",
    "ambient_level:denoise": "ambient, dataset sigma_min, denoising loss",
}


def common_jerk(run: dict[str, Any]) -> tuple[dict[str, float], int] | None:
    """Per row of one seed's run: the mean squared jerk on the queries that **every** row of the run solves,
    and their number; ``None`` where the run holds no per-query outcomes (results written before them)."""
    v = run["variants"]
    if not v or not all("jerk_each" in r for r in v.values()):
        return None
    each = {name: np.array([np.nan if j is None else j for j in r["jerk_each"]], dtype=np.float64)
            for name, r in v.items()}
    solved = np.logical_and.reduce([np.isfinite(j) for j in each.values()])
    n = int(solved.sum())
    return {name: float(j[solved].mean()) if n else float("nan") for name, j in each.items()}, n


def rows(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per variant: ``summary`` over seeds of success (%), jerk on its own successes (``jerk``), relative
    length and, where the runs hold per-query outcomes, jerk on the queries every row solves
    (``jerk_common``, with ``common``: how many queries that is per seed)."""
    out = {}
    names = list(dict.fromkeys(name for r in runs for name in r["variants"]))
    order = list(LABELS)
    common = [c for c in map(common_jerk, runs) if c is not None]
    for name in sorted(names, key=lambda n: order.index(n) if n in order else len(order)):
        per = [r["variants"][name] for r in runs if name in r["variants"]]  # rows may have run on fewer seeds
        out[name] = {
            "success": summary([100 * p["success"] for p in per]),
            "jerk": summary([p["jerk"] for p in per]),
            "length": summary([p["length"] for p in per]),
        }
        if common and len(common) == len(runs):
            out[name]["jerk_common"] = summary([c[name] for c, _ in common if name in c])
            out[name]["common"] = summary([n for _, n in common])
    return out


def _jerk(r: dict[str, dict[str, float]]) -> dict[str, float]:
    """The jerk the rows are compared on: on common successes where known, else on each row's own."""
    return r.get("jerk_common", r["jerk"])


def table(summ: dict[str, dict[str, dict[str, float]]], data_jerk: float | None = None) -> str:
    """Markdown: success % and squared jerk, mean ± std [95 % interval]; jerk on the queries every row solves
    beside each row's jerk on its own successes (only the latter for results without per-query outcomes)."""
    common = all("jerk_common" in r for r in summ.values())
    clean = _jerk(summ.get("clean:ambient", {"jerk": {}})).get("mean", float("nan"))
    if common:
        lines = [
            "| method | seeds | success % | squared jerk, queries every row solves | jerk / clean only, same queries "
            "| squared jerk, own successes | path length / reference |",
            "|---|---|---|---|---|---|---|",
        ]
    else:
        lines = [
            "| method | seeds | success % | squared jerk | jerk / clean only | path length / reference |",
            "|---|---|---|---|---|---|",
        ]
    for name, r in summ.items():
        s, j, ln = r["success"], _jerk(r), r["length"]
        own = f" {r['jerk']['mean']:.2f} ± {r['jerk']['std']:.2f} |" if common else ""
        lines.append(
            f"| {LABELS.get(name, name)} | {s['n']} "
            f"| {s['mean']:.1f} ± {s['std']:.1f} [{s['low']:.1f}, {s['high']:.1f}] "
            f"| {j['mean']:.2f} ± {j['std']:.2f} | {j['mean'] / clean:.2f}x |{own} {ln['mean']:.2f} |"
        )
    if common:
        n = next(iter(summ.values()))["common"]
        lines.append(f"\nRows compared on the queries every row solves: {n['mean']:.1f} per seed (mean over "
                     f"{n['n']} seeds); jerk on each row's own successes beside it.")
    else:
        lines.append("\nSquared jerk over each row's own successes: these results hold no per-query outcomes, "
                     "so the rows are not compared on common queries.")
    if data_jerk is not None:
        lines.append(f"\nSquared jerk of the data: smooth {data_jerk:.2f}.")
    return "\n".join(lines)


def reading(summ: dict[str, dict[str, dict[str, float]]], variant: str) -> str:
    """Two lines from the numbers: the gain co-training buys, and how much of it ``variant`` keeps at what jerk
    (jerk on the queries every row solves where the results hold them)."""
    c, co, a = (summ[k] for k in ("clean:ambient", "cotrain:ambient", variant))
    gain = co["success"]["mean"] - c["success"]["mean"]
    kept = a["success"]["mean"] - c["success"]["mean"]
    rel_a = _jerk(a)["mean"] / _jerk(c)["mean"]
    rel_co = _jerk(co)["mean"] / _jerk(c)["mean"]
    where = " (on the queries every row solves)" if "jerk_common" in c else ""
    first = (
        f"Co-training changes success by {gain:+.1f} points over clean only at {rel_co:.2f}x its squared jerk"
        f"{where}; {LABELS.get(variant, variant)} changes it by {kept:+.1f} points at {rel_a:.2f}x."
    )
    if gain > 0:
        second = (
            f"Ambient keeps {100 * kept / gain:.0f}% of co-training's success gain at {rel_a:.2f}x clean-only jerk."
        )
    else:
        second = "Co-training does not beat clean only here, so the low-quality data bring no gain to keep."
    return first + "\n" + second


def figures(result: dict[str, Any], out: Path, maze: Any, layout_key: str) -> list[Path]:
    """Executed trajectories per variant (first seed) and success against jerk with error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    runs = result["layouts"][layout_key]
    order = list(LABELS)
    names = sorted(
        dict.fromkeys(name for r in runs for name in r["variants"]),
        key=lambda n: order.index(n) if n in order else len(order),
    )
    cols = min(4, len(names))
    rows_ = -(-len(names) // cols)
    fig, axes = plt.subplots(rows_, cols, figsize=(3.2 * cols, 3.6 * rows_), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names, strict=False):
        seed, r = next((i, run["variants"][name]) for i, run in enumerate(runs) if name in run["variants"])
        for x0, y0, x1, y1 in maze.obstacles:
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, color="0.3"))
        for p in r.get("paths", [])[:30]:
            p = np.asarray(p)
            ax.plot(p[:, 0], p[:, 1], lw=0.7)
        ax.set(xlim=(0, 1), ylim=(0, 1), xticks=[], yticks=[], aspect="equal")
        label = textwrap.fill(LABELS.get(name, name), 38)
        ax.set_title(f"{label}\n{100 * r['success']:.0f}% success (seed {seed})", fontsize=7)
    fig.tight_layout()
    paths = [out / f"maze-{layout_key.replace(' ', '')}-trajectories.png"]
    fig.savefig(paths[0], dpi=110)
    plt.close(fig)
    summ = rows(runs)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, r in summ.items():
        ax.errorbar(
            _jerk(r)["mean"],
            r["success"]["mean"],
            xerr=_jerk(r)["std"],
            yerr=r["success"]["std"],
            fmt="o",
            capsize=3,
            label=LABELS.get(name, name),
        )
    ax.set(
        xlabel="squared jerk of executed trajectories (mean over seeds)"
        + (", on queries every row solves" if all("jerk_common" in r for r in summ.values()) else ""),
        ylabel="success %",
        title=f"maze {layout_key}: success vs jerk (± std over seeds)",
    )
    ax.legend(fontsize=6)
    fig.tight_layout()
    paths.append(out / f"maze-{layout_key.replace(' ', '')}-success-jerk.png")
    fig.savefig(paths[1], dpi=110)
    plt.close(fig)
    return paths
