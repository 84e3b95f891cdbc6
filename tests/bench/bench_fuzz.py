"""Long-mode fuzzing of every public route: the properties of tests/fuzz, 10⁵ requests in all.

    python -m tests.bench.bench_fuzz --per-route 20000

Runs ``tests/fuzz/test_routes.py`` with ``FUZZ_EXAMPLES`` raised (five properties: Slack events,
Teams messages, JSM webhook, email pages (GET + POST), the policy loader) and prints how many
cases ran, how long it took and the outcome: every request must be answered below 500 with no
write reaching the sandbox, exactly as in the normal suite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-route", type=int, default=20_000, help="hypothesis examples per property")
    args = parser.parse_args()
    env = {**os.environ, "FUZZ_EXAMPLES": str(args.per_route)}
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--numprocesses=0",  # in this process, so hypothesis prints its statistics
            "tests/fuzz",
            "--hypothesis-show-statistics",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    passing = sum(int(line.split()[1]) for line in done.stdout.splitlines() if " passing, " in line)
    print(f"properties: 5, examples per property: {args.per_route:,}")
    print(f"cases run: {passing:,} (HTTP requests: about {passing + args.per_route:,}, the email property sends two)")
    print(f"time: {elapsed:,.0f} s ({passing / elapsed:,.0f} cases/s)")
    print("result: " + ("every answer < 500, no write" if done.returncode == 0 else "FAILED"))
    if done.returncode != 0:
        lines = done.stdout.splitlines()
        starts = [i for i, line in enumerate(lines) if "Failing test case" in line or "Falsifying" in line]
        for start in starts:  # every failing example in full, then the summary
            print("\n".join(lines[max(0, start - 12) : start + 25]))
        print("\n".join(lines[-15:]))
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
