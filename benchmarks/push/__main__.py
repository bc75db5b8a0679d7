"""Command line of the pushing (sim-to-real) benchmark (run from a checkout: ``python -m benchmarks.push ...``).

    python -m benchmarks.push tune --out runs/push        # validation sweep -> runs/push/protocol.json
    python -m benchmarks.push final --layouts default 1 --seeds 0 1 2 --out runs/push
    python -m benchmarks.push quick                       # 2 seeds side by side, default layout, 3 rows
    python -m benchmarks.push tiny                        # every stage in seconds (a smoke run)
"""

from __future__ import annotations

from benchmarks.policy import cli

from .benchmark import BENCHMARK


def main(argv: list[str] | None = None) -> int:
    return cli.main(BENCHMARK, argv)


if __name__ == "__main__":
    raise SystemExit(main())
