"""Benchmark: scan a large sandbox org end to end and print the figures.

    .venv/bin/python -m tests.bench.bench_scan --users 100000

The sandbox runs in its own process (``jira-cleanup sandbox``) so that this process measures
only the scanner: HTTP client, planner, SQLite store and the preview CSV. Prints requests per
user, wall time, users/s and the scanner's peak RSS. Targets: <= 0.02 requests per user,
peak RSS < 250 MB. Not part of the test suite.

    .venv/bin/python -m tests.bench.bench_scan --users 10000 --days 14

With ``--days N`` the sample policy is enforced by the lifecycle engine over N consecutive days
(simulated clock, warnings recorded as delivered, nothing due before the 14-day notice ends) and
each day's requests per user are printed, with the API-token reads and reuses: the first day
reads the tokens of every managed candidate, later days reuse the evidence warnings were sent on.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.atlassian import AtlassianConfig, open_directory
from adapters.store import create_store, open_stores
from bot.bootstrap import sample_policy
from bot.scanning import scan_to_csv
from core.clock import FixedClock
from core.engine import Engine
from core.policy import Mode
from tests.fakes import RecordingNotifier


def start_sandbox(users: int, seed: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "sandbox", "--users", str(users), "--seed", str(seed), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    found: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"export (ATLASSIAN_\w+)=(\S+)", line)
        if match:
            found[match.group(1)] = match.group(2)
        if len(found) == 3:
            return proc, found
    raise RuntimeError("sandbox did not start")


async def scan(env: dict[str, str], folder: Path) -> tuple[int, int, float]:
    config = AtlassianConfig(
        org_id=env["ATLASSIAN_ORG_ID"],
        api_key=env["ATLASSIAN_API_KEY"],
        base_url=env["ATLASSIAN_API_BASE"],
        requests_per_second=None,
    )
    store = create_store(f"sqlite:///{folder / 'bench.db'}")
    started = time.perf_counter()
    async with open_directory(config) as directory:
        result, _path = await scan_to_csv(directory, store, sample_policy(), csv_path=folder / "bench.csv")
        requests = directory.stats.attempts
    return result.accounts, requests, time.perf_counter() - started


async def daily_runs(env: dict[str, str], folder: Path, days: int) -> list[tuple[int, int, int, int]]:
    """(accounts, requests, token reads, token reuses) of each daily run of the enforced sample policy."""
    config = AtlassianConfig(
        org_id=env["ATLASSIAN_ORG_ID"],
        api_key=env["ATLASSIAN_API_KEY"],
        base_url=env["ATLASSIAN_API_BASE"],
        requests_per_second=None,
    )
    clock = FixedClock(datetime.now(UTC))
    scans, store = open_stores(f"sqlite:///{folder / 'bench.db'}")
    policy = replace(sample_policy(), mode=Mode.ENFORCE)
    figures = []
    async with open_directory(config) as directory:
        engine = Engine(directory, scans, store, RecordingNotifier(), clock, worker_id="bench")
        for _ in range(days):
            before = directory.stats.attempts
            report = await engine.run(policy, requested_by="bench")
            assert report.scan is not None
            scan = report.scan
            figures.append((scan.accounts, directory.stats.attempts - before, scan.api_reads, scan.api_reused))
            clock.advance(timedelta(days=1))
    scans.close()
    return figures


def print_days(figures: list[tuple[int, int, int, int]]) -> None:
    print("day  requests  per user  token reads  reused")
    for day, (accounts, requests, reads, reused) in enumerate(figures, start=1):
        print(f"{day:>3}  {requests:>8,}  {requests / max(accounts, 1):>8.4f}  {reads:>11,}  {reused:>6,}")
    later = figures[1:]
    if later:
        per_user = sum(r for _, r, _, _ in later) / max(sum(a for a, _, _, _ in later), 1)
        print(f"days 2-{len(figures)}: {per_user:.4f} requests per user per day")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=0, help="enforce the sample policy over this many days")
    args = parser.parse_args()
    proc, env = start_sandbox(args.users, args.seed)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.days:
                print_days(asyncio.run(daily_runs(env, Path(tmp), args.days)))
                return
            accounts, requests, seconds = asyncio.run(scan(env, Path(tmp)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"users scanned       {accounts:,}")
    print(f"HTTP requests       {requests:,}")
    print(f"requests per user   {requests / max(accounts, 1):.4f}   (target <= 0.02)")
    print(f"wall time           {seconds:.1f} s")
    print(f"users per second    {accounts / seconds:,.0f}")
    print(f"peak RSS (scanner)  {peak_mb:.0f} MB   (target < 250 MB)")


if __name__ == "__main__":
    main()
