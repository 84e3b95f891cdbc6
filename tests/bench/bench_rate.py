"""Benchmark: scan time against what the server's rate limit allows, 10 ms a request.

    .venv/bin/python -m tests.bench.bench_rate [--users 2850] [--latency-ms 10] [--full] [--repeat 3]

For each case a sandbox runs in a process of its own with a server-side limit per API key (fixed
one-second or one-minute windows, ``X-RateLimit-*`` on every answer); this process scans it with the
real client and the production limiter (start rate, then the server's headers). The scan reads every
account (search pages one after another, the v1 last-active calls of a page eight at a time); with
``--full`` it is the bot's whole scan (planning, SQLite store, preview CSV), whose own work then
counts too. Printed per case: requests, 429s, scan seconds, requests ÷ the advertised rate and the
ratio of the two (target <= 1.1 where the server's rate, not the latency, bounds the scan), and the
rate achieved between the first and the last request. "5/s ceiling" is the old fixed pace, for
comparison. "no limit, unpaced client" is what the latency and the client's own work cost (no
pacing at all); the last column divides the scan time by the larger of that and requests ÷ rate,
so it shows what the limiter costs beyond what bounds the scan anyway. In "no limit" the server
sends no headers, so the start rate paces the first requests. Not part of the test suite: nothing
here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from adapters.atlassian import AtlassianConfig, OrgRateLimiter, open_directory
from adapters.atlassian.limiter import START_RATE
from adapters.store import create_store
from bot.bootstrap import sample_policy
from bot.scanning import scan_to_csv

KEY = "sandbox-key"


@dataclass(frozen=True)
class Case:
    name: str
    per_second: int | None = None
    per_minute: int | None = None
    ceiling: float | None = None
    start_rate: float | None = START_RATE

    @property
    def advertised(self) -> float | None:
        """Requests a second the server advertises over a whole window (the tighter window)."""
        rates = [r for r in (self.per_second, (self.per_minute or 0) / 60 or None) if r]
        return min(rates) if rates else None


CASES = (
    Case("no limit, unpaced client", start_rate=None),
    Case("60/s window", per_second=60),
    Case("30/s window", per_second=30),
    Case("10/s window", per_second=10),
    Case("600/min window", per_minute=600),
    Case("5/s ceiling, 60/s window", per_second=60, ceiling=5.0),
    Case("no limit"),
)


async def _serve(args: argparse.Namespace) -> None:
    from adapters.sandbox.server import serve

    server = await serve(
        users=args.users,
        seed=args.seed,
        latency_ms=args.latency_ms,
        requests_per_second=args.per_second,
        requests_per_minute=args.per_minute,
        undated_fraction=0.005,
    )
    print(json.dumps({"base_url": server.base_url, "org_id": server.org_id}), flush=True)
    await asyncio.Event().wait()


@contextmanager
def sandbox(case: Case, users: int, latency_ms: float) -> Iterator[dict[str, str]]:
    command = [sys.executable, "-m", "tests.bench.bench_rate", "--serve", "--users", str(users)]
    command += ["--latency-ms", str(latency_ms)]
    if case.per_second is not None:
        command += ["--per-second", str(case.per_second)]
    if case.per_minute is not None:
        command += ["--per-minute", str(case.per_minute)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox process did not start")
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


class _Counting(httpx.AsyncBaseTransport):
    """Counts 429s and notes when each request went out."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.refused = 0
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(time.perf_counter())
        response = await self._inner.handle_async_request(request)
        if response.status_code == 429:
            self.refused += 1
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _scan(org: dict[str, str], case: Case, folder: Path, full: bool) -> dict[str, Any]:
    config = AtlassianConfig(
        org_id=org["org_id"], api_key=KEY, base_url=org["base_url"], requests_per_second=case.ceiling
    )
    limiter = OrgRateLimiter(config.org_id, requests_per_second=case.ceiling, start_rate=case.start_rate)
    transport = _Counting()
    store = create_store(f"sqlite:///{folder / 'bench.db'}")
    started = time.perf_counter()
    async with open_directory(config, transport=transport, limiter=limiter) as directory:
        if full:
            result, _path = await scan_to_csv(directory, store, sample_policy(), csv_path=folder / "bench.csv")
            users = result.accounts
        else:
            users = sum([len(page) async for page in directory.iter_accounts()])
        requests = directory.stats.attempts
    seconds = time.perf_counter() - started
    span = transport.sent[-1] - transport.sent[0] if len(transport.sent) > 1 else 0.0
    return {
        "users": users,
        "requests": requests,
        "refused": transport.refused,
        "seconds": seconds,
        "achieved_per_second": (len(transport.sent) - 1) / span if span else None,
    }


def run(case: Case, users: int, latency_ms: float, full: bool, repeat: int) -> dict[str, Any]:
    """The case's figures, from the median of ``repeat`` scans (each with a limiter of its own)."""
    runs = []
    with sandbox(case, users, latency_ms) as org:
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(asyncio.run(_scan(org, case, Path(tmp), full)))
            time.sleep(1.0)  # the next scan starts in fresh one-second windows
    figures = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    figures["refused"] = sum(r["refused"] for r in runs)
    allowed = case.advertised
    if case.ceiling is not None:
        allowed = min(allowed or case.ceiling, case.ceiling)
    figures["allowed_per_second"] = allowed
    if allowed:
        figures["bound_seconds"] = figures["requests"] / allowed
        figures["ratio"] = figures["seconds"] / figures["bound_seconds"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=2850)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=10)
    parser.add_argument("--full", action="store_true", help="the bot's whole scan (store, CSV), not only the reads")
    parser.add_argument("--repeat", type=int, default=3, help="scans per case; the median is shown")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--per-second", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--per-minute", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args))
        return
    what = "whole scans (store, CSV)" if args.full else "reads of every account"
    print(f"{args.users:,} users, {args.latency_ms:g} ms a request, {what}, median of {args.repeat} (429s: all)")
    print(
        f"{'case':<26}{'requests':>9}{'429s':>6}{'scan s':>9}{'req/rate s':>12}{'ratio':>7}"
        f"{'achieved/s':>12}{'vs bound':>10}"
    )
    floor = 0.0
    for case in CASES:
        f = run(case, args.users, args.latency_ms, args.full, args.repeat)
        if case.start_rate is None and case.advertised is None:
            floor = f["seconds"]  # what the scan costs without any pacing
        bound = f"{f['bound_seconds']:.2f}" if "bound_seconds" in f else "-"
        ratio = f"{f['ratio']:.2f}" if "ratio" in f else "-"
        achieved = f"{f['achieved_per_second']:.1f}" if f["achieved_per_second"] else "-"
        versus = f["seconds"] / max(floor, f.get("bound_seconds", 0.0))
        print(
            f"{case.name:<26}{f['requests']:>9}{f['refused']:>6}{f['seconds']:>9.2f}{bound:>12}{ratio:>7}"
            f"{achieved:>12}{versus:>10.2f}"
        )


if __name__ == "__main__":
    main()
