"""The long-running service: what the scheduler runs and what /healthz and /metrics report."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.compose import Stores
from bot.lifecycle import run_csv_path, run_once
from core.chatops.replies import Reply
from core.digest import Digest, digest_reply, load_digest
from core.engine import Engine, RunReport
from core.ledger import EntryState
from core.policy import Policy
from core.ports import LeaderLock

log = logging.getLogger("jira_cleanup.service")

#: When the policy names no schedule: every day at 06:00 UTC (outside the 01:00–03:00 DST window).
DEFAULT_SCHEDULE = "0 6 * * *"


@dataclass
class Service:
    """Runs the lifecycle on schedule and reports health; one per org."""

    engine: Engine
    policy: Policy
    org_id: str
    db: Stores
    last: RunReport | None = None
    runs: int = 0
    failures: int = 0
    last_error: str | None = field(default=None)
    leader: LeaderLock | None = None
    role: str = "leader"
    #: True while a scheduled run is in progress (leadership is not given up in the middle of one).
    running: bool = False

    async def lead(self) -> bool:
        """Only the leader acts: keep (or try to take) leadership and set the engine's fencing epoch."""
        if self.leader is None:
            return True
        if self.engine.epoch is not None and await asyncio.to_thread(self.leader.still_leader):
            return True
        epoch = await asyncio.to_thread(self.leader.acquire, self.org_id)
        if epoch is None:
            self.engine.epoch = None
            self.engine.executes = False
            if self.role != "standby":  # said once per change, not at every retry
                log.info("another replica leads org %s: standing by", self.org_id)
            self.role = "standby"
            return False
        self.engine.epoch = epoch
        self.engine.executes = True
        self.role = "leader"
        log.info("leading org %s with fencing epoch %s", self.org_id, epoch)
        return True

    async def step_down(self) -> None:
        """Give the org up to another replica (not during a run); the engine stops acting at once."""
        if self.leader is None or self.running:
            return
        self.engine.epoch = None
        self.engine.executes = False
        self.role = "standby"
        await asyncio.to_thread(self.leader.release)
        log.info("handed org %s over to another replica", self.org_id)

    async def scheduled_run(self) -> RunReport | None:
        """The scheduler's job: the same use case as ``jira-cleanup run`` (leader only)."""
        if not await self.lead():
            return None
        self.running = True
        try:
            return await self._run()
        finally:
            self.running = False

    async def _run(self) -> RunReport | None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        try:
            report, path = await run_once(
                self.engine,
                self.policy,
                requested_by="system:scheduler",
                csv_path=run_csv_path(self.policy, None, self.org_id, stamp),
            )
        except Exception as exc:
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("scheduled run failed")
            return None
        self.runs += 1
        self.last = report
        self.last_error = None
        log.info("scheduled run %s: %s (CSV %s)", report.run_id, report.status.value, path)
        return report

    async def digest(self, post: Callable[[Reply], Awaitable[bool]]) -> Digest | None:
        """The digest's job: the past week of this org, posted to its admins (leader only)."""
        if not await self.lead():
            return None
        now = self.engine.clock.now()
        digest = await asyncio.to_thread(load_digest, self.db.lifecycle, self.db.scans, self.org_id, now)
        if not await post(digest_reply(digest)):
            log.error("the weekly digest of %s reached no admin channel", self.org_id)
        return digest

    async def health(self) -> Mapping[str, object]:
        """What /healthz shows: org, kill switch, last run."""
        paused = await asyncio.to_thread(self.db.lifecycle.is_paused, self.org_id)
        return {
            "org_id": self.org_id,
            "paused": paused,
            "mode": self.policy.mode.value,
            "role": self.role,
            "last_run": None if self.last is None else {"id": self.last.run_id, "status": self.last.status.value},
            "last_error": self.last_error,
        }

    async def metrics(self) -> Mapping[str, float]:
        """What /metrics shows."""
        pending = await asyncio.to_thread(
            self.db.lifecycle.entries, self.org_id, states=[EntryState.PLANNED, EntryState.HELD]
        )
        paused = await asyncio.to_thread(self.db.lifecycle.is_paused, self.org_id)
        return {
            "scheduled_runs_total": float(self.runs),
            "scheduled_run_failures_total": float(self.failures),
            "pending_actions": float(len(pending)),
            "paused": 1.0 if paused else 0.0,
        }


async def wait_for_signal() -> None:
    """Return on SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
