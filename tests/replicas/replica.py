"""One replica of the service: compete for leadership, and while leader run the executor.

``python -m tests.replicas.replica --db URL --base SANDBOX_URL --org ORG [--batch N] [--concurrency N]``

Prints (flushed, one per line, for the test to follow):

* ``STANDBY <pid>`` once at start;
* ``LEADER <epoch> <pid>`` on each leadership won;
* ``LOST <epoch> <reason>`` when leadership ends before the work is done;
* ``DONE <role> <json counts>`` at the end, exit status 0: as ``leader`` after executing until
  nothing is PLANNED, or as ``standby`` when it finds no unfinished entry left.

The loop is what ``serve`` does: ``acquire`` once; a standby waits ``--retry`` seconds and
tries again; a leader builds the engine with its fencing epoch, runs ``recover`` and then
``_execute`` in claims of ``--batch`` entries, checking ``still_leader()`` before every claim.
Waiting happens here, in the replica process, never in the test process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from adapters.atlassian import open_directory
from adapters.store import SqlLifecycleStore, leader_for, open_stores
from core.clock import SystemClock
from core.engine import Engine, RunReport
from core.errors import FencedOut
from core.ledger import EntryState, LedgerEntry, RunStatus
from core.ports import LeaderLock
from tests.fakes import RecordingNotifier
from tests.replicas.common import POLICY, directory_config

UNFINISHED = (EntryState.PLANNED, EntryState.CLAIMED, EntryState.REQUESTED, EntryState.WAITING)


class LostLeadership(Exception):
    """``still_leader()`` turned false between two claims."""


class LeaderGatedStore:
    """The lifecycle store, with ``claim`` refused once this replica stopped leading.

    Fencing makes a stale leader's writes fail anyway; this check makes it stop *before*
    claiming more work (and before any more Atlassian writes for new entries).
    """

    def __init__(self, store: SqlLifecycleStore, leader: LeaderLock) -> None:
        self._store = store
        self._leader = leader

    def claim(self, org_id: str, worker: str, limit: int, **kwargs: Any) -> Sequence[LedgerEntry]:
        if not self._leader.still_leader():
            raise LostLeadership("still_leader() is false")
        return self._store.claim(org_id, worker, limit, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def say(*parts: object) -> None:
    print(*parts, flush=True)


async def run(args: argparse.Namespace) -> int:
    pid = os.getpid()
    scans, store = open_stores(args.db)
    leader = leader_for(args.db, holder=f"replica-{pid}")
    gated = LeaderGatedStore(store, leader)
    counts: dict[str, int] = {}
    say("STANDBY", pid)
    try:
        async with open_directory(directory_config(args.base, args.org)) as directory:
            while True:
                epoch = await asyncio.to_thread(leader.acquire, args.org)
                if epoch is None:
                    left = await asyncio.to_thread(store.entries, args.org, states=UNFINISHED)
                    if not left:
                        say("DONE standby", json.dumps(counts, sort_keys=True))
                        return 0
                    counts["standby_polls"] = counts.get("standby_polls", 0) + 1
                    await asyncio.sleep(args.retry)
                    continue
                say("LEADER", epoch, pid)
                engine = Engine(
                    directory,
                    scans,
                    gated,  # type: ignore[arg-type]
                    RecordingNotifier(),
                    SystemClock(),
                    worker_id=f"replica-{pid}-e{epoch}",
                    concurrency=args.concurrency,
                    claim_batch=args.batch,
                    epoch=epoch,
                )
                # The sandbox answers in milliseconds: a killed leader's write has landed or failed
                # well within this, so the takeover need not wait the production default.
                engine.in_flight_grace = timedelta(seconds=args.in_flight_grace)
                try:
                    counts["recovered"] = counts.get("recovered", 0) + await engine.recover(args.org, POLICY)
                    report = RunReport(f"replica-{epoch}", args.org, "enforce", RunStatus.RUNNING)
                    await engine.execute(args.org, POLICY, report, run_id=None)
                    for key, value in report.counts.items():
                        counts[key] = counts.get(key, 0) + value
                except (LostLeadership, FencedOut) as exc:
                    say("LOST", epoch, " ".join(str(exc).split()))
                    await asyncio.to_thread(leader.release)
                    continue
                left = await asyncio.to_thread(store.entries, args.org, states=UNFINISHED)
                await asyncio.to_thread(leader.release)
                if not left:
                    say("DONE leader", json.dumps(counts, sort_keys=True))
                    return 0
                say("LOST", epoch, f"{len(left)} entries left unfinished; competing again")
    finally:
        leader.release()
        scans.close()
        store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="database URL of the stores (also used for the leader lock)")
    parser.add_argument("--base", required=True, help="base URL of the sandbox")
    parser.add_argument("--org", required=True, help="org id")
    parser.add_argument("--batch", type=int, default=20, help="entries per claim (Engine.claim_batch)")
    parser.add_argument("--concurrency", type=int, default=4, help="writes in flight (Engine.concurrency)")
    parser.add_argument("--retry", type=float, default=0.2, help="seconds a standby waits between attempts")
    parser.add_argument("--in-flight-grace", type=float, default=1.0)
    args = parser.parse_args(argv)
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
