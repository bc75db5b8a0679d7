"""Tables, the two-line reading and the figures of a bin-sorting run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.policy.driver import layout_of
from benchmarks.policy.stats import summary

from .env import make_layout
from .experiment import level_of
from .protocol import harmless

__all__ = ["figures", "labels", "reading", "summarise", "table"]

METRICS = ("logic", "completion", "accuracy")
BIN_COLOURS = {0: "tab:blue", 1: "tab:orange", -1: "0.6"}


def _metric(r: dict[str, Any], key: str) -> float:
    """A metric of one evaluation; ``"accuracy"`` is the logic score among completed episodes (0 for none)."""
    if key == "accuracy":
        return r["logic"] / r["completion"] if r["completion"] else 0.0
    return r[key]


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per layout and method: :func:`~benchmarks.policy.stats.summary` of each metric over seeds (in points).

    Metrics: ``logic`` (object in its colour's bin), ``completion`` (in any bin) and ``accuracy`` (logic among
    completed episodes).
    """
    out: dict[str, Any] = {}
    for layout, seeds in runs.items():
        methods = dict.fromkeys(m for r in seeds for m in r["variants"])
        out[layout] = {
            m: {k: summary([100 * _metric(r["variants"][m], k) for r in seeds]) for k in METRICS}
            for m in methods if all(m in r["variants"] for r in seeds)
        }
    return out


def labels(config: dict[str, Any]) -> dict[str, str]:
    """The table's name of each method, with the frozen levels of ``config``."""
    return {
        "clean": "clean only",
        "cotrain": "co-training",
        "omni_sweep": f"Ambient-Omni, `sigma_max` by sweep ({level_of(config['omni_t']):.3f})",
        "omni_window": "Ambient-Omni, `sigma_max` by window classifiers",
        "ambient_level": f"ambient, dataset `sigma_min` (t {config['level_t']}, {level_of(config['level_t']):.3f})",
        "ambient": "ambient, per-chunk classifier `sigma_min`",
    }


def table(summ: dict[str, Any], config: dict[str, Any]) -> str:
    """Markdown per layout: mean ± std [95 % interval] of each metric per method."""
    names = labels(config)
    lines = []
    for layout, methods in summ.items():
        lines += [f"\n### {layout}\n", "| method | logic score % | completion % | logic among completed % |",
                  "|---|---|---|---|"]
        for m, stats in methods.items():
            cells = [f"{s['mean']:.1f} ± {s['std']:.1f} [{s['low']:.1f}, {s['high']:.1f}]"
                     for s in (stats[k] for k in METRICS)]
            lines.append(f"| {names.get(m, m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reading(summ: dict[str, Any], protocol: dict[str, Any]) -> list[str]:
    """Two lines computed from the numbers: Omni against clean only and co-training, then the harmless level."""
    lines = []
    for layout, ms in summ.items():
        if not {"clean", "cotrain", "omni_sweep"} <= set(ms):
            continue

        def mean(m: str, k: str, ms: dict[str, Any] = ms) -> float:
            return ms[m][k]["mean"]

        lines.append(
            f"[{layout}] Omni (sigma_max {protocol.get('sigma_max', float('nan')):.3f}): logic "
            f"{mean('omni_sweep', 'logic') - mean('clean', 'logic'):+.1f} pts vs clean only, completion "
            f"{mean('omni_sweep', 'completion') - mean('clean', 'completion'):+.1f} vs clean only and "
            f"{mean('omni_sweep', 'completion') - mean('cotrain', 'completion'):+.1f} vs co-training; co-training "
            f"logic {mean('cotrain', 'logic') - mean('clean', 'logic'):+.1f} vs clean only."
        )
    high = [f"{m} {summ[k][m]['logic']['mean']:.1f}" for k in summ for m in ("ambient_level", "ambient")
            if m in summ[k]]
    levels = []
    for conditional in (False, True):
        t = harmless(protocol["validation"], protocol["split"]["n_val"], conditional=conditional) if protocol else None
        levels.append("none of the swept levels" if t is None else f"sigma_max = {level_of(t):.3f} (t = {t})")
    lines.append(
        f"Harmless level (validation sweep, within 2 SE of clean only): logic score up to {levels[0]}; sorting "
        f"accuracy of completed episodes up to {levels[1]} (paper: 0.46); high-noise ambient logic: "
        + (", ".join(high) if high else "not run") + "."
    )
    return lines


def figures(runs: dict[str, list[dict[str, Any]]], summ: dict[str, Any], out: Path) -> list[Path]:
    """Executed gripper traces per method coloured by bin, and logic vs completion with error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    name, seeds = next(iter(runs.items()))
    lay = make_layout(layout_of(name))
    methods = [m for m in seeds[0]["variants"] if "traces" in seeds[0]["variants"][m]]
    if methods:
        fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.4), squeeze=False)
        for ax, m in zip(axes[0], methods, strict=True):
            r = seeds[0]["variants"][m]
            for box, c in zip(lay.bins, (0, 1), strict=True):
                ax.add_patch(plt.Rectangle(box[:2], *(box[2:] - box[:2]), fill=False, ec=BIN_COLOURS[c], lw=2))
            for tr, b in zip(r["traces"], r["trace_bins"], strict=True):
                t = np.asarray(tr)
                ax.plot(t[:, 0], t[:, 1], color=BIN_COLOURS[int(b)], lw=0.8, alpha=0.7)
            ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xticks=[], yticks=[],
                   title=f"{m}\nlogic {100 * r['logic']:.0f}%, done {100 * r['completion']:.0f}%")
        fig.suptitle(f"executed gripper paths ({name}, seed 0): colour = bin reached (grey: none)", fontsize=9)
        fig.tight_layout()
        paths.append(out / "traces.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    fig, axes = plt.subplots(1, len(summ), figsize=(4.6 * len(summ), 4), squeeze=False)
    for ax, (layout, ms) in zip(axes[0], summ.items(), strict=True):
        for i, (m, st) in enumerate(ms.items()):
            ax.errorbar(st["completion"]["mean"], st["logic"]["mean"], xerr=st["completion"]["std"],
                        yerr=st["logic"]["std"], fmt="o", color=f"C{i}", label=m, capsize=3)
        ax.plot([0, 100], [0, 100], color="0.8", lw=0.8)
        ax.plot([0, 100], [0, 50], color="0.8", lw=0.8, ls="--")
        ax.set(xlabel="completion (%)", ylabel="logic score (%)", title=layout, xlim=(0, 102), ylim=(0, 102))
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "logic_vs_completion.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
