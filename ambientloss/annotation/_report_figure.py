"""The annotation report as a figure (:meth:`AnnotationReport.figure`); matplotlib is imported here only.

The figure is drawn on a ``matplotlib.figure.Figure`` with the Agg canvas, without ``pyplot``: no
global backend or figure state is read or changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._report import AnnotationReport


def _matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        msg = "the report's figure needs matplotlib: pip install 'ambientloss[report]'"
        raise ImportError(msg) from exc
    return Figure, FigureCanvasAgg


def _quality_panel(ax: Any, report: AnnotationReport) -> None:
    q = report.quality
    assert q is not None
    auc_margin, _ = q.chance_margins(report.z)
    ax.axhspan(0.5 - auc_margin, 0.5 + auc_margin, color="0.85", label=f"chance (AUC, {report.z:g} sd)")
    ax.plot(q.levels, q.auc, "o-", label="AUC")
    ax.plot(q.levels, q.balanced_accuracy, "s-", label="balanced accuracy")
    ax.plot(q.levels, q.ece, "^--", label="calibration error")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"level ({q.schedule})")
    ax.set_title(f"classifier, held out ({q.n_clean} clean, {q.n_corrupt} corrupt)", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")


def _cdf_panel(ax: Any, report: AnnotationReport) -> None:
    for s in report.sources:
        if s.name == "all" and len(report.sources) > 1:
            continue
        values = report.sigma_min_by_source[s.name]
        finite = np.sort(values[np.isfinite(values)])
        if finite.size:  # fraction of the source at or below each level; the rest is inf
            y = np.arange(1, finite.size + 1) / values.size
            ax.step(np.r_[finite[0], finite], np.r_[0.0, y], where="post", label=f"{s.name} (n={s.n})")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"sigma_min ({report.schedule})")
    ax.set_ylabel("fraction of the source at or below")
    ax.set_title("sigma_min per source", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")


def _signal_panel(ax: Any, report: AnnotationReport) -> None:
    rows = [s for s in report.sources if not (s.name == "all" and len(report.sources) > 1)]
    y = np.arange(len(rows))
    bars = [([s.share for s in rows], "tab:blue", "share of signal")]
    bars.append(([s.never_usable for s in rows], "tab:red", "never usable"))
    if all(s.n_fallback is not None for s in rows):
        bars.append(([(s.n_fallback or 0) / s.n for s in rows], "tab:orange", "no level found"))
    height = 0.8 / len(bars)
    for k, (values, color, label) in enumerate(bars):
        ax.barh(y - 0.4 + height * (k + 0.5), values, height=height, color=color, label=label)
    ax.set_yticks(y, [s.name for s in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction")
    ax.set_title("training signal per source", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")


def draw(report: AnnotationReport, path: Path, *, dpi: int = 120) -> Path:
    """Quality per level (when known), the ``sigma_min`` distribution per source, and the signal shares."""
    Figure, FigureCanvasAgg = _matplotlib()
    panels = [_cdf_panel, _signal_panel]
    if report.quality is not None:
        panels.insert(0, _quality_panel)
    fig = Figure(figsize=(4.2 * len(panels), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, panel in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        panel(ax, report)
    fig.suptitle(f"annotation report: base {report.base}", fontsize=10)
    fig.savefig(path, dpi=dpi, format="png")
    return path
