"""The maze's training-to-convergence protocol: the budget and rule frozen before any ambient row was seen,
the data design, and the regime gate's validation numbers, recorded in ``protocol.json`` under ``"convergence"``.

:data:`BUDGET` was written down before the first ambient probe ran, from the step costs and the earlier
probes (``runs/README.md``): a U-Net with widths 16/32 (1.75x cheaper per step than 32/64), batch 256, a
checkpoint every 500 steps, patience 6 (3,000 steps without improvement: 4 stopped a run still rising
within the +-5-point noise of 100 queries), at most 10,000 steps. :data:`DESIGN` is the lower-corridor
design. A run may stop at a shorter ``max_steps`` than the budget's (compute), marked ``interim``: its
saved state continues to the budget's horizon. :func:`section` fills the rest from the probes' JSON files
(validation only) and
:func:`record` writes it into the protocol. ``final`` reads ``"config"`` and ``"validation"`` only; the
``"convergence"`` section is the record the test run at convergence is to follow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .probe_report import common_jerk, finished
from .regime import gate

__all__ = ["BUDGET", "DESIGN", "record", "section"]

BUDGET: dict[str, Any] = {
    "net": {"kind": "unet", "widths": [16, 32]},
    "batch_size": 256,
    "lr": 1e-3,
    "warmup": 100,
    "ema": 0.995,
    "clean_fraction": 0.5,
    "criterion": {"every": 500, "patience": 6, "max_steps": 10_000, "min_delta": 0.0},
    "rule": (
        "every `every` steps the EMA network runs closed loop on the 100 validation queries; a checkpoint "
        "improves when its success is higher, or equal with lower squared jerk; stop after `patience` "
        "checkpoints without improvement or at `max_steps`; keep the best checkpoint"
    ),
}
DESIGN: dict[str, Any] = {
    "name": "lower",
    "clean": "100 smooth demonstrations whose start and goal lie below y = 0.64 (the lower corridors)",
    "low_quality": "5,000 plain-RRT demonstrations anywhere (clearance 0.04), a row every 4th step",
    "y_max": 0.64,
}


def section(runs: Path, *, design: str = "lower", margin: float = 0.10) -> dict[str, Any]:
    """The ``"convergence"`` section from the finished probes of ``design`` run with :data:`BUDGET`."""
    frozen = BUDGET["criterion"]
    rows = [
        r
        for r in finished(runs)
        if r.get("design") == design
        and r.get("net", {}).get("widths") == BUDGET["net"]["widths"]
        and all(r.get("criterion", {}).get(k) == frozen[k] for k in ("every", "patience", "min_delta"))
        and r["criterion"]["max_steps"] <= frozen["max_steps"]
    ]
    common, n = common_jerk(rows) if rows else ({}, 0)
    val = {
        r["method"]: {
            "run": r["name"],
            "success": r["best"]["success"],
            "success_in": r["best"]["success_in"],
            "success_out": r["best"]["success_out"],
            "jerk_own": r["best"]["jerk"],
            "jerk_common": common.get(r["name"]),
            "best_step": r["best_step"],
            "stopped_at": r["stopped_at"],
            "reason": r["reason"],
            #: stopped at a shorter horizon than the frozen budget's (resumable to it), not by the rule
            "interim": r["reason"] == "max_steps" and r["stopped_at"] < frozen["max_steps"],
        }
        for r in rows
    }
    out: dict[str, Any] = {"split": "validation", "budget": BUDGET, "design": DESIGN, "rows": val, "common_n": n}
    if "clean" in val and "cotrain" in val:
        c, k = val["clean"]["success"], val["cotrain"]["success"]
        out["regime_gate"] = {"clean": c, "cotrain": k, "margin": margin, "holds": gate(c, k, margin=margin)}
    return out


def record(protocol: Path, runs: Path) -> dict[str, Any]:
    """Write :func:`section` into ``protocol`` (JSON) under ``"convergence"``; returns the section."""
    p = json.loads(protocol.read_text())
    p["convergence"] = section(runs)
    protocol.write_text(json.dumps(p, indent=1) + "\n")
    return p["convergence"]
