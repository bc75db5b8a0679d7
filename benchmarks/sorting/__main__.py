"""Command line of the bin-sorting benchmark (run from a checkout: ``python -m benchmarks.sorting ...``).

    python -m benchmarks.sorting tune --out runs/sorting     # validation sweep -> runs/sorting/protocol.json
    python -m benchmarks.sorting final --layouts default 1 --seeds 0 1 2 --out runs/sorting
    python -m benchmarks.sorting quick                       # clean only, co-training, Omni; 2 seeds
    python -m benchmarks.sorting tiny                        # every stage in seconds (a smoke run)
"""

from __future__ import annotations

from benchmarks.policy import cli

from .benchmark import BENCHMARK


def main(argv: list[str] | None = None) -> int:
    return cli.main(BENCHMARK, argv)


if __name__ == "__main__":
    raise SystemExit(main())
