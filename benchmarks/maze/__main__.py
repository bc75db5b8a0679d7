"""Command line of the maze benchmark (run from a checkout: ``python -m benchmarks.maze STAGE ...``).

python -m benchmarks.maze tune --out runs/maze        # validation sweep -> runs/maze/protocol.json
python -m benchmarks.maze tune-pooled --protocol runs/maze/protocol.json --out runs/maze
python -m benchmarks.maze final --layouts default 1 --seeds 0 1 2   # test run of benchmarks/maze/protocol.json
python -m benchmarks.maze quick                       # 2 seeds, default layout, <= 10 min on 2 cores
python -m benchmarks.maze tiny                        # every stage in seconds (a smoke run)
python -m benchmarks.maze report --inputs a/results.json b/results.json --out merged   # rows run apart
"""

from __future__ import annotations

from benchmarks.policy import cli

from .benchmark import BENCHMARK


def main(argv: list[str] | None = None) -> int:
    return cli.main(BENCHMARK, argv)


if __name__ == "__main__":
    raise SystemExit(main())
