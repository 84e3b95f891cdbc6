"""``python -m tests.bench all [--quick] [--out DIR] [--only NAME ...]``: the benchmark suite (tests/bench/suite.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tests.bench.suite import FIGURES, run_all


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("command", choices=["all"])
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes (asserts nothing about time)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="folder for results.json and plots")
    parser.add_argument("--only", nargs="*", choices=sorted(FIGURES), help="run only these figures")
    args = parser.parse_args()
    run_all(args.out, quick=args.quick, only=args.only)


if __name__ == "__main__":
    main()
