"""One executor process that can die by SIGKILL at a chosen crash point.

``python -m tests.chaos.worker --db URL --base URL --org ORG [--kill-at N] [--kill-point NAME]``

Builds a real :class:`core.engine.Engine` (the Atlassian client against the sandbox at
``--base``, the SQL stores at ``--db``, a recording notifier, the system clock, a worker id
unique to this process), runs ``recover`` once, then ``_execute`` until no PLANNED entry is
left, prints ``DONE <json counts>`` and exits 0.

The crash hook counts its calls (only those of ``--kill-point`` when given) and on the
``--kill-at``-th one sends this process a real ``SIGKILL``: no ``finally``, no rollback, no
flush; in-flight threads and sockets die with it.

``--full-run`` runs whole lifecycle runs instead (scan, plan, warn, then act, as ``jira-cleanup run``
does) until nothing is left to do; ``--kill-at-statement N`` SIGKILLs the process right before
its N-th SQL statement, wherever that falls: in the scan, the plan, a warning, a claim or a write.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import uuid
from typing import Any

import sqlalchemy as sa

from adapters.atlassian import open_directory
from adapters.store import open_stores
from core.clock import SystemClock
from core.engine import CRASH_POINTS, Engine, RunReport
from core.ledger import EntryState, RunStatus
from core.lifecycle import CaseState
from tests.chaos.common import POLICY, directory_config
from tests.fakes import RecordingNotifier

#: ``_execute`` passes before giving up with exit status 3 (each pass drains every PLANNED entry).
MAX_PASSES = 20


class KillSwitch:
    """The crash hook: counts calls (of ``point`` only, when set) and SIGKILLs at call ``at``."""

    def __init__(self, at: int | None, point: str | None) -> None:
        self.at = at
        self.point = point
        self.calls = 0

    def __call__(self, point: str) -> None:
        if self.point is not None and point != self.point:
            return
        self.calls += 1
        if self.at is not None and self.calls >= self.at:
            os.kill(os.getpid(), signal.SIGKILL)


def _engine(directory: Any, scans: Any, store: Any, args: argparse.Namespace, crash: Any = None) -> Engine:
    """The real engine of this worker process (a worker id unique to the process)."""
    return Engine(
        directory,
        scans,
        store,
        RecordingNotifier(),
        SystemClock(),
        worker_id=f"chaos-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        crash=crash,
        concurrency=args.concurrency,
        claim_batch=args.claim_batch,
    )


def kill_at_statement(engines: list[sa.Engine], at: int) -> list[int]:
    """SIGKILL this process right before its ``at``-th SQL statement on any of ``engines``."""
    seen = [0]

    def before(*_args: object) -> None:
        seen[0] += 1
        if seen[0] >= at:
            os.kill(os.getpid(), signal.SIGKILL)

    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", before)
    return seen


async def full_runs(args: argparse.Namespace) -> int:
    """Lifecycle runs (scan, plan, warn, act) until every case is acted on and nothing is unfinished."""
    scans, store = open_stores(args.db)
    engines = list({id(e): e for e in (scans.engine, store.engine)}.values())  # usually one shared engine
    seen = kill_at_statement(engines, args.kill_at_statement or 10**12)
    counts: dict[str, int] = {}
    try:
        async with open_directory(directory_config(args.base, args.org)) as directory:
            engine = _engine(directory, scans, store, args)
            for runs in range(1, MAX_PASSES + 1):
                report = await engine.run(POLICY, requested_by="test:chaos")
                for key, value in report.counts.items():
                    counts[key] = counts.get(key, 0) + value
                counts["runs"] = runs
                open_cases = await asyncio.to_thread(store.open_cases, args.org)
                waiting = [c for c in open_cases.values() if c.state is CaseState.WARNED]
                busy = [e for e in await asyncio.to_thread(store.entries, args.org) if not e.state.is_final]
                if not waiting and not busy and runs > 1:
                    break
            else:
                print(f"GAVE UP after {MAX_PASSES} runs: {json.dumps(counts)}", flush=True)
                return 3
    finally:
        scans.close()
        store.close()
    counts["statements"] = seen[0]
    print(f"DONE {json.dumps(counts, sort_keys=True)}", flush=True)
    return 0


async def work(args: argparse.Namespace) -> int:
    """Recover, then execute until nothing is PLANNED; return the exit status."""
    if args.full_run:
        return await full_runs(args)
    started = time.perf_counter()
    scans, store = open_stores(args.db)
    hook = KillSwitch(args.kill_at, args.kill_point)
    counts: dict[str, int] = {}
    try:
        async with open_directory(directory_config(args.base, args.org)) as directory:
            engine = _engine(directory, scans, store, args, crash=hook)
            counts["recovered"] = await engine.recover(args.org, POLICY)
            for passes in range(1, MAX_PASSES + 1):
                if not await asyncio.to_thread(store.entries, args.org, states=[EntryState.PLANNED]):
                    break
                report = RunReport("chaos", args.org, "enforce", RunStatus.RUNNING)
                await engine.execute(args.org, POLICY, report, run_id=None)
                for key, value in report.counts.items():
                    counts[key] = counts.get(key, 0) + value
                counts["passes"] = passes
            else:
                print(f"GAVE UP after {MAX_PASSES} passes: {json.dumps(counts)}", flush=True)
                return 3
    finally:
        scans.close()
        store.close()
    counts["hook_calls"] = hook.calls
    counts["elapsed_ms"] = round((time.perf_counter() - started) * 1000)
    print(f"DONE {json.dumps(counts, sort_keys=True)}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="database URL of the stores")
    parser.add_argument("--base", required=True, help="base URL of the sandbox")
    parser.add_argument("--org", required=True, help="org id")
    parser.add_argument("--kill-at", type=int, default=None, help="SIGKILL at this call of the crash hook (1-based)")
    parser.add_argument("--kill-point", choices=CRASH_POINTS, default=None, help="count only this crash point")
    parser.add_argument("--concurrency", type=int, default=8, help="writes in flight (Engine.concurrency)")
    parser.add_argument("--claim-batch", type=int, default=200, help="entries per claim (Engine.claim_batch)")
    parser.add_argument("--full-run", action="store_true", help="whole lifecycle runs (scan, plan, warn, act)")
    parser.add_argument(
        "--kill-at-statement", type=int, default=None, help="with --full-run: SIGKILL before this SQL statement"
    )
    args = parser.parse_args(argv)
    if args.kill_at is not None and args.kill_at < 1:
        parser.error("--kill-at must be at least 1")
    sys.exit(asyncio.run(work(args)))


if __name__ == "__main__":
    main()
