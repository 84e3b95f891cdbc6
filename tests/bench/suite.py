"""Every benchmark side by side in one run, written as JSON and PNG plots.

    .venv/bin/python -m tests.bench all [--quick] [--out bench-results]

Figures (full sizes; ``--quick`` shrinks every size to a smoke test that asserts nothing about time):

* **scan vs naive**: our scanner (v2 search with per-product last-active, one request per 100 users)
  against a naive per-user scanner as public scripts do it (list the users, then one
  ``last-active-dates`` call per user, one at a time), both against the same sandbox with the same
  per-request latency: wall time and requests per user by org size;
* **scan rate**: 2,850 users against a server advertising 600 requests a minute: wall time
  against requests ÷ that rate (the client paces from the server's headers, not a fixed rate);
* **scan 100k**: ``bench_scan`` (requests per user, wall time, peak RSS);
* **planner**: ``bench_planner`` at 200,000 and 1,000,000 accounts;
* **chat latency**: ``bench_slack_clicks`` and ``bench_teams_invokes`` (p50 / p99 / max);
* **executor**: 10,000 suspends against a server allowing 3,000 requests a minute: the share of
  that rate used, 429s, and every account suspended exactly once;
* **replicas**: 1 and 3 ``serve`` replicas on PostgreSQL leading the same orgs: time from "run now"
  to every org's run finished.

Each figure runs in processes of its own; this process only orchestrates and plots.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.bench.sandbox_proc import sandbox


@dataclass(frozen=True)
class Sizes:
    """How big each figure is."""

    org_sizes: tuple[int, ...]
    naive_max: int
    latency_ms: float
    scan_users: int
    planner: tuple[int, ...]
    clicks: int
    replica_orgs: int
    rate_users: int
    actions: int
    executor_limit: int
    cold_clicks: bool = False  # chat latency also with a new connection per click


FULL = Sizes((200, 1000, 3000), 3000, 10, 100_000, (200_000, 1_000_000), 100, 30, 2850, 10_000, 3000, True)
QUICK = Sizes((20, 60), 60, 1, 500, (2_000,), 5, 3, 100, 20, 600)


def _python(*args: str, timeout: float = 1800) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout, check=False, env=os.environ
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}\n{done.stderr}")
    return done.stdout


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in:\n{text}")
    return float(match.group(1).replace(",", ""))


# -- scan vs naive -----------------------------------------------------------------------


async def _ours(org: dict) -> tuple[int, int, float]:
    from adapters.atlassian import AtlassianConfig, open_directory

    config = AtlassianConfig(org_id=org["org_id"], api_key="sandbox-key", base_url=org["base_url"])
    started = time.perf_counter()
    users = 0
    async with open_directory(config) as directory:
        async for page in directory.iter_accounts():
            users += len(page)
        requests = directory.stats.attempts
    return users, requests, time.perf_counter() - started


async def _naive(org: dict) -> tuple[int, int, float]:
    """List every user, then ask each one's last-active dates, one call at a time; wait out 429s."""
    headers = {"Authorization": "Bearer sandbox-key", "Accept": "application/json"}
    search = f"{org['base_url']}/admin/v2/orgs/{org['org_id']}/directories/{org['directory_id']}/users/search"
    started, requests, ids = time.perf_counter(), 0, []
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:

        async def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
            nonlocal requests
            while True:
                requests += 1
                response = await client.request(method, url, **kwargs)
                if response.status_code != 429:
                    response.raise_for_status()
                    return response
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))

        cursor = None
        while True:
            body = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = (await call("POST", search, json=body)).json()
            ids += [u["accountId"] for u in page["data"]]
            cursor = page["links"].get("next")
            if not cursor or not page["data"]:
                break
        for account_id in ids:
            await call(
                "GET", f"{org['base_url']}/admin/v1/orgs/{org['org_id']}/directory/users/{account_id}/last-active-dates"
            )
    return len(ids), requests, time.perf_counter() - started


def scan_vs_naive(sizes: Sizes) -> dict[str, Any]:
    rows = []
    for users in sizes.org_sizes:
        with sandbox(users, latency_ms=sizes.latency_ms) as org:
            ours = asyncio.run(_ours(org))
            naive = asyncio.run(_naive(org)) if users <= sizes.naive_max else None
        row = {"users": users, "ours_seconds": ours[2], "ours_requests_per_user": ours[1] / max(ours[0], 1)}
        if naive is not None:
            row |= {"naive_seconds": naive[2], "naive_requests_per_user": naive[1] / max(naive[0], 1)}
        rows.append(row)
    return {"latency_ms": sizes.latency_ms, "rows": rows}


def scan_rate(sizes: Sizes) -> dict[str, Any]:
    """Our scan against a server that advertises (and enforces) 600 requests a minute, 10 ms per request."""
    with sandbox(sizes.rate_users, latency_ms=10, requests_per_minute=600) as org:
        users, requests, seconds = asyncio.run(_ours(org))
    allowed = 600 / 60
    return {
        "users": users,
        "requests": requests,
        "seconds": seconds,
        "advertised_per_second": allowed,
        "ratio_to_requests_over_rate": seconds / (requests / allowed),
    }


# -- the existing benchmarks, each in its own process ----------------------------------------


def scan_large(sizes: Sizes) -> dict[str, Any]:
    out = _python("tests.bench.bench_scan", "--users", str(sizes.scan_users))
    return {
        "users": sizes.scan_users,
        "requests_per_user": _number(r"requests per user\s+([\d.]+)", out),
        "seconds": _number(r"wall time\s+([\d.]+)", out),
        "peak_rss_mb": _number(r"peak RSS \(scanner\)\s+([\d.]+)", out),
    }


def planner(sizes: Sizes) -> dict[str, Any]:
    rows = []
    for accounts in sizes.planner:
        out = _python("tests.bench.bench_planner", "--accounts", str(accounts))
        rows.append({"accounts": accounts, "per_second": _number(r"accounts per second\s+([\d,]+)", out)})
    return {"rows": rows}


def _latency(out: str) -> dict[str, float]:
    return {
        "p50_ms": _number(r"p50 ([\d.]+) ms", out),
        "p99_ms": _number(r"p99 ([\d.]+) ms", out),
        "max_ms": _number(r"max ([\d.]+) ms", out),
    }


def chat_latency(sizes: Sizes) -> dict[str, Any]:
    """Clicks on open connections (as the platforms send them), and in full runs each on a new one."""
    figure: dict[str, Any] = {"concurrent": sizes.clicks}
    for cold in (False, True) if sizes.cold_clicks else (False,):
        flag = ("--cold",) if cold else ()
        suffix = "_cold" if cold else ""
        slack = _python("tests.bench.bench_slack_clicks", "--clicks", str(sizes.clicks), *flag)
        teams = _python("tests.bench.bench_teams_invokes", "--invokes", str(sizes.clicks), *flag)
        figure["slack_click" + suffix] = _latency(slack)
        figure["teams_invoke" + suffix] = _latency(teams)
    return figure


def executor(sizes: Sizes) -> dict[str, Any]:
    from tests.bench.executor_share import measure

    return measure(sizes.actions, sizes.executor_limit)


def replicas(sizes: Sizes) -> dict[str, Any]:
    from tests.bench.replica_scaling import time_replicas

    one = time_replicas(1, sizes.replica_orgs, latency_ms=sizes.latency_ms)
    three = time_replicas(3, sizes.replica_orgs, latency_ms=sizes.latency_ms)
    return {"orgs": sizes.replica_orgs, "one_seconds": one, "three_seconds": three, "speedup": one / three}


FIGURES: dict[str, Callable[[Sizes], dict[str, Any]]] = {
    "scan_vs_naive": scan_vs_naive,
    "scan_rate": scan_rate,
    "scan_large": scan_large,
    "planner": planner,
    "chat_latency": chat_latency,
    "executor": executor,
    "replicas": replicas,
}


def run_all(out: Path, *, quick: bool, only: list[str] | None = None) -> dict[str, Any]:
    """Run the figures, write ``results.json`` and the plots into ``out``; return the results."""
    sizes = QUICK if quick else FULL
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "figures": {},
    }
    for name, figure in FIGURES.items():
        if only and name not in only:
            continue
        started = time.perf_counter()
        results["figures"][name] = figure(sizes)
        print(f"{name:14} done in {time.perf_counter() - started:6.1f} s: {json.dumps(results['figures'][name])}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    from tests.bench.plots import plot_all

    for path in plot_all(results, out):
        print(f"wrote {path}")
    return results
