"""The annotation report as markdown tables (:meth:`AnnotationReport.table`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._report import AnnotationReport


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _q(q: float) -> str:
    return {0.0: "min", 0.5: "median", 1.0: "max"}.get(q, f"q{100 * q:g}")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _quality_lines(report: AnnotationReport) -> list[str]:
    q = report.quality
    if q is None:
        return []
    auc_margin, ba_margin = q.chance_margins(report.z)
    flags = q.at_chance(report.z)
    lines = [
        f"## Classifier quality (held out: {q.n_clean} clean, {q.n_corrupt} corrupt)",
        "",
        _row([f"level ({q.schedule})", "AUC", "balanced accuracy", f"ECE ({q.n_bins} bins)", "at chance"]),
        _row(["---:"] * 4 + [":---:"]),
    ]
    for g in range(q.levels.shape[0]):
        cells = [f"{q.levels[g]:.4g}", f"{q.auc[g]:.3f}", f"{q.balanced_accuracy[g]:.3f}", f"{q.ece[g]:.3f}"]
        lines.append(_row([*cells, "yes" if flags[g] else "no"]))
    verdict = (
        "AT CHANCE at the lowest level: the annotations below carry no information from the classifier"
        if report.at_chance
        else "separates the classes at the lowest level"
    )
    lines += [
        "",
        f"Chance: AUC within {auc_margin:.3f} and balanced accuracy within {ba_margin:.3f} of 0.5 "
        f"({report.z:g} null standard deviations). The classifier {verdict}.",
        "",
    ]
    return lines


def render(report: AnnotationReport) -> str:
    """Quality table (when known), then ``sigma_min`` (and ``sigma_max``) per source, usability and signal."""
    lines = ["# Annotation report", "", *_quality_lines(report)]
    qs = [_q(q) for q in report.quantiles]
    fallback = any(s.n_fallback is not None for s in report.sources)
    head = ["source", "n", *qs, "never usable"] + (["no level found"] if fallback else [])
    lines += [
        f"## sigma_min per source ({report.schedule} units)",
        "",
        _row([*head, "mean admissible mass", "share of signal"]),
        _row(["---"] + ["---:"] * (len(head) + 1)),
    ]
    for s in report.sources:
        cells = [s.name, str(s.n), *(_num(v) for v in s.sigma_min_quantiles)]
        cells.append(f"{s.n_never_usable} ({100 * s.never_usable:.1f}%)")
        if fallback:
            cells.append("-" if s.n_fallback is None else f"{s.n_fallback} ({100 * s.n_fallback / s.n:.1f}%)")
        lines.append(_row([*cells, f"{s.mean_mass:.3f}", f"{100 * s.share:.1f}%"]))
    lines += [
        "",
        f"Quantiles of the finite values (sigma_min = inf: never used as ambient data). Never usable: "
        f"admissible mass 0 under the base {report.base}, so never drawn. Admissible mass: "
        "P(X < sigma_max or X > sigma_min) under the base; share of signal: the source's part of the total mass.",
    ]
    if all(s.sigma_max_quantiles is not None for s in report.sources):
        lines += ["", f"## sigma_max per source ({report.schedule} units)", "", _row(["source", "n", *qs])]
        lines.append(_row(["---"] + ["---:"] * (len(qs) + 1)))
        for s in report.sources:
            lines.append(_row([s.name, str(s.n), *(_num(v) for v in s.sigma_max_quantiles or [])]))
    return "\n".join(lines) + "\n"
