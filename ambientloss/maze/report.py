"""Outputs of the maze experiment: summary over seeds, a markdown table, a JSON file and PNG figures.

Figures use matplotlib's object-oriented :class:`~matplotlib.figure.Figure` (no global state, no
display); matplotlib is imported only when figures are written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LABELS", "format_table", "summarize_runs", "write_figures", "write_outputs"]

LABELS = {
    "clean": "clean only",
    "cotrain": "co-training",
    "ambient": "ambient (classifier sigma_min)",
    "ambient_sweep": "ambient (swept sigma_min)",
    "ambient_omni": "ambient-omni (+ sigma_max)",
}
_KEYS = ("success", "jerk", "jerk_median", "rel_length", "seconds")


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0}


def summarize_runs(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (layout, method) with mean and spread (std over seeds) of every metric.

    Two reference rows per layout hold the datasets' own jerk (``data: smooth planner`` and
    ``data: RRT``).
    """
    rows: list[dict[str, Any]] = []
    layouts = list(dict.fromkeys(r["layout"] for r in result["runs"]))
    methods = result["config"]["methods"]
    for layout in layouts:
        runs = [r for r in result["runs"] if r["layout"] == layout]
        for src, label in (("smooth", "data: smooth planner"), ("rrt", "data: RRT")):
            rows.append(
                {
                    "layout": layout,
                    "method": label,
                    "seeds": len(runs),
                    "jerk": _stats([r["data"][src]["jerk"] for r in runs]),
                    "jerk_median": _stats([r["data"][src]["jerk_median"] for r in runs]),
                }
            )
        for method in methods:
            recs = [r["methods"][method] for r in runs if method in r["methods"]]
            row: dict[str, Any] = {"layout": layout, "method": method, "seeds": len(recs)}
            row.update({k: _stats([rec[k] for rec in recs]) for k in _KEYS})
            rows.append(row)
    return rows


def _k(x: float) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:.2f}M"
    return f"{x / 1000:.1f}k" if abs(x) >= 1000 else f"{x:.0f}"


def _cell(stat: dict[str, float] | None, fmt: Any, seeds: int) -> str:
    if stat is None:
        return "-"
    return fmt(stat["mean"]) + (f" ± {fmt(stat['std'])}" if seeds > 1 else "")


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table: success (%), average squared jerk, relative path length, training time."""
    lines = [
        "| layout | method | success (%) | avg squared jerk | median jerk | rel. path length | train (s) |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]

    def pct(x: float) -> str:
        return f"{100 * x:.1f}"

    for r in rows:
        n = r["seeds"]
        cells = [
            _cell(r.get("success"), pct, n),
            _cell(r.get("jerk"), _k, n),
            _cell(r.get("jerk_median"), _k, n),
            _cell(r.get("rel_length"), lambda x: f"{x:.3f}", n),
            _cell(r.get("seconds"), lambda x: f"{x:.0f}", n),
        ]
        lines.append(f"| {r['layout']} | {LABELS.get(r['method'], r['method'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items() if not isinstance(v, np.ndarray) or v.size <= 256}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


def _json_record(result: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    runs = []
    for r in result["runs"]:
        run = {"layout": r["layout"], "seed": r["seed"], "data": r["data"], "data_seconds": r["data_seconds"]}
        run["obstacles"] = r["maze"].obstacles
        run["methods"] = {m: {k: v for k, v in rec.items() if k != "paths"} for m, rec in r["methods"].items()}
        if "annotation" in r:
            a = r["annotation"]
            sm = a["sigma_min"]
            names = ("min", "q10", "q25", "median", "q75", "q90", "max")
            quantiles = np.quantile(sm, [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1])
            run["annotation"] = {
                "quantiles": dict(zip(names, quantiles, strict=True)),
                "fraction_top_level": float(np.mean(sm >= a["grid"][-1])),
                **{k: a[k] for k in ("seconds", "evaluations_per_sample", "classifier_loss_last")},
            }
        runs.append(run)
    keep = ("config", "seconds", "machine")
    return _jsonable({**{k: result[k] for k in keep}, "summary": rows, "runs": runs})


def _trajectory_figure(run: dict[str, Any], path: Path) -> None:
    """One panel per method (and the planner's reference) with the sampled trajectories over the maze."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    panels = [("data", None), *run["methods"].items()]
    fig = Figure(figsize=(3.2 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    test = run["test"]
    for ax, (name, rec) in zip(axes, panels, strict=True):
        for x0, y0, x1, y1 in run["maze"].obstacles:
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, color="0.35"))
        k = len(rec["paths"]) if rec is not None else min(len(test), 6)
        colors = [f"C{q % 10}" for q in range(k)]
        if rec is None:  # the smooth planner's trajectories for the same queries
            for q in range(k):
                ax.plot(*test.paths[q].T, color=colors[q], lw=1.2)
            title = "smooth planner (reference)"
        else:
            for q in range(k):
                for p in rec["paths"][q]:
                    ax.plot(*p.T, color=colors[q], lw=0.8, alpha=0.8)
            title = f"{LABELS.get(name, name)}\nsuccess {100 * rec['success']:.0f}%, jerk {_k(rec['jerk'])}"
        ax.scatter(test.starts[:k, 0], test.starts[:k, 1], c=colors, marker="o", s=18, zorder=3)
        ax.scatter(test.goals[:k, 0], test.goals[:k, 1], c=colors, marker="*", s=50, zorder=3)
        ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xticks=[], yticks=[])
        ax.set_title(title, fontsize=8)
    fig.suptitle(f"maze {run['layout']}, seed {run['seed']}: sampled trajectories (o start, * goal)", fontsize=9)
    fig.savefig(path, dpi=110)


def _annotation_figure(annotated: list[dict[str, Any]], eps: float, path: Path) -> None:
    """Histogram of the annotated timesteps per layout, and classifier trajectories of a few samples."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax_h, ax_c = fig.subplots(1, 2)
    grid = annotated[0]["annotation"]["grid"]
    for layout in dict.fromkeys(r["layout"] for r in annotated):
        sm = np.concatenate([r["annotation"]["sigma_min"] for r in annotated if r["layout"] == layout])
        t_min = np.searchsorted(grid, sm)
        ax_h.hist(t_min, bins=np.arange(len(grid) + 1) - 0.5, alpha=0.6, label=f"{layout} ({len(sm)} RRT rows)")
    ax_h.set(xlabel="annotated sigma_min, as DDPM timestep", ylabel="RRT samples", title="classifier annotation")
    ax_h.legend(fontsize=7)
    a = annotated[0]["annotation"]
    steps = np.arange(len(grid))
    for j, p in enumerate(a["rrt"]):
        ax_c.plot(steps, p, color="C3", lw=1, label="RRT samples (dot: annotated sigma_min)" if j == 0 else None)
        t = int(np.searchsorted(grid, a["sigma_min"][j]))
        if t < len(grid):
            ax_c.plot(t, p[t], "o", color="C3", ms=4)
    for j, p in enumerate(a["clean"]):
        ax_c.plot(steps, p, color="C0", lw=1, label="clean samples" if j == 0 else None)
    ax_c.axhline(0.5 + eps, color="k", ls="--", lw=0.8, label=f"1/2 + eps = {0.5 + eps:.2f}")
    title = f"classifier trajectories ({annotated[0]['layout']})"
    ylabel = "P(corrupt | x_t), mean of the draws"
    ax_c.set(xlabel="DDPM timestep (noise level increases)", ylabel=ylabel, title=title, ylim=(0, 1))
    ax_c.legend(fontsize=7)
    fig.savefig(path, dpi=110)


def write_figures(result: dict[str, Any], out_dir: Path) -> list[Path]:
    """Trajectories per method (first seed of each layout), ``sigma_min`` histograms, classifier trajectories."""
    written = []
    firsts: dict[str, Any] = {}
    for r in result["runs"]:
        firsts.setdefault(r["layout"], r)
    for i, run in enumerate(firsts.values()):
        written.append(out_dir / f"trajectories_{i}.png")
        _trajectory_figure(run, written[-1])
    annotated = [r for r in result["runs"] if "annotation" in r]
    if annotated:
        written.append(out_dir / "annotation.png")
        _annotation_figure(annotated, result["config"]["classifier_eps"], written[-1])
    return written


def write_outputs(result: dict[str, Any], out_dir: str | Path, *, figures: bool = True) -> dict[str, Any]:
    """Write ``results.md``, ``results.json`` and the figures to ``out_dir``; returns paths and the table."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = summarize_runs(result)
    table = format_table(rows)
    cfg, machine = result["config"], result["machine"]
    header = (
        f"Motion planning: {cfg['n_clean']} smooth + {cfg['n_rrt']} RRT trajectories, {cfg['steps']} training "
        f"steps per model, {len(cfg['seeds'])} seed(s), {cfg['n_test']} held-out queries x "
        f"{cfg['samples_per_query']} samples; mean ± std over seeds. Ran in {result['seconds']:.0f} s "
        f"({machine['platform']}, torch {machine['torch']}, {machine['threads']} thread(s))."
    )
    (out / "results.md").write_text(header + "\n\n" + table + "\n")
    (out / "results.json").write_text(json.dumps(_json_record(result, rows), indent=1) + "\n")
    paths = {"table": out / "results.md", "json": out / "results.json"}
    if figures:
        paths["figures"] = write_figures(result, out)  # type: ignore[assignment]
    return {"paths": paths, "rows": rows, "table": header + "\n\n" + table}
