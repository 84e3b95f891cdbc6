"""What every part of the engine shares: the ports, the clock, this worker and its leadership."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from core.audit import AuditEntry
from core.clock import SystemClock
from core.identity import People
from core.ledger import EntryState, LedgerEntry
from core.policy import Policy
from core.ports import (
    CaseTransaction,
    Clock,
    DirectoryReader,
    DirectoryWriter,
    LifecycleStore,
    Notifier,
    NoWaitingKeeps,
    ProtectionStore,
    ScanStore,
    WaitingKeeps,
)
from core.protection import effective_policy
from core.threads import AdminThreads, NoThreads

T = TypeVar("T")
CrashHook = Callable[[str], None]

#: Named points where tests may kill the process (see :meth:`Context.crash`).
CRASH_POINTS = ("after_claim", "after_requested", "after_write", "before_confirm")


class Directory(DirectoryReader, DirectoryWriter, Protocol):
    """A directory the engine can both read and change."""


class Context:
    """The ports and state the run, the executor and the requests share.

    ``worker_id`` names this process in the ledger and the audit trail; it must be unique per
    process (host name plus a random suffix). ``crash`` is a test hook called at the named
    :data:`CRASH_POINTS`; production leaves it unset. ``concurrency`` bounds the writes in flight.

    ``protections`` are the ones added at runtime (chat, CLI): every phase works on the
    effective policy (:meth:`effective`), read again right before each write. ``preview`` is
    where a dry run shows what people would be told; it is never a delivery.
    """

    def __init__(
        self,
        directory: Directory,
        scans: ScanStore,
        store: LifecycleStore,
        notifier: Notifier,
        clock: Clock,
        *,
        worker_id: str | None = None,
        crash: CrashHook | None = None,
        concurrency: int = 8,
        claim_batch: int = 200,
        epoch: int | None = None,
        protections: ProtectionStore | None = None,
        preview: Notifier | None = None,
        people: People | None = None,
        monotonic: Callable[[], float] | None = None,
        threads: AdminThreads | None = None,
        waiting_keeps: WaitingKeeps | None = None,
    ) -> None:
        self.directory = directory
        #: Keeps waiting for an admin: told when the deadline removes the access anyway.
        self.waiting_keeps: WaitingKeeps = waiting_keeps or NoWaitingKeeps()
        #: The admin threads of held runs (decision, progress, result, CSV); none without chat.
        self.threads: AdminThreads = threads or NoThreads()
        self.protections = protections
        self.preview = preview
        #: Who is who across platforms, so one person cannot approve their own run from another chat.
        self.people = people or People()
        self.scans = scans
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self._crash = crash
        self.concurrency = max(1, concurrency)
        self.claim_batch = max(1, claim_batch)
        # Grace periods run on a monotonic clock (a wall-clock step never shortens or stretches them);
        # with a simulated clock in tests, that clock serves as both.
        self._monotonic = monotonic or (
            time.monotonic if isinstance(clock, SystemClock) else (lambda: clock.now().timestamp())
        )
        self._epoch: int | None = None
        self._epoch_since = self._monotonic()
        self.epoch = epoch
        #: False on a standby replica: it records keeps and approvals, the leader executes them.
        self.executes = True
        #: How long a new leader leaves an older leader's REQUESTED entries alone (see maybe_in_flight).
        self.in_flight_grace = timedelta(seconds=120)

    @property
    def epoch(self) -> int | None:
        """The leader's fencing epoch (None: no leader election, e.g. the CLI)."""
        return self._epoch

    @epoch.setter
    def epoch(self, value: int | None) -> None:
        if value != self._epoch:
            self._epoch_since = self._monotonic()  # when this engine started leading with it
        self._epoch = value

    @property
    def actor(self) -> str:
        """How this worker appears in the audit trail."""
        return f"system:{self.worker_id}"

    async def db(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run a blocking store call off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def tx(self, case_id: str, body: Callable[[CaseTransaction], T]) -> T:
        """Run ``body`` under the lock of case ``case_id`` (fenced by this leader's epoch)."""

        def run() -> T:
            with self.store.lock_case(case_id, epoch=self.epoch) as tx:
                return body(tx)

        return await asyncio.to_thread(run)

    async def move(self, entry_id: str, old: EntryState, new: EntryState, why: str) -> bool:
        """Move a ledger entry from ``old`` to ``new`` (fenced); False when it was not in ``old``."""
        return await self.db(self.store.set_entry_state, entry_id, old, new, self.clock.now(), why, epoch=self.epoch)

    async def effective(self, policy: Policy, org_id: str) -> Policy:
        """``policy`` plus the protections stored for ``org_id`` (read now, never cached)."""
        if self.protections is None:
            return policy
        return await self.db(effective_policy, policy, self.protections, org_id)

    def crash(self, point: str) -> None:
        """Call the crash hook at a named point (tests only)."""
        if self._crash is not None:
            self._crash(point)

    def audit(
        self,
        org_id: str,
        action: str,
        outcome: str,
        *,
        subject: str | None = None,
        reason: str = "",
        run_id: str | None = None,
        mode: str | None = None,
        actor: str | None = None,
        approver: str | None = None,
        before: dict[str, object] | None = None,
        after: dict[str, object] | None = None,
        http_status: int | None = None,
        plan_hash: str | None = None,
    ) -> AuditEntry:
        """An audit row stamped now, by this worker unless ``actor`` says otherwise."""
        return AuditEntry(
            at=self.clock.now(),
            actor=actor or self.actor,
            action=action,
            outcome=outcome,
            org_id=org_id,
            subject=subject,
            approver=approver,
            reason=reason,
            run_id=run_id,
            plan_hash=plan_hash,
            mode=mode,
            before=before or {},
            after=after or {},
            http_status=http_status,
        )

    async def record(self, entry: AuditEntry) -> None:
        """Append one audit row on its own."""
        await self.db(self.store.append_audit, entry)

    def maybe_in_flight(self, entry: LedgerEntry, now: datetime) -> bool:
        """True for a REQUESTED entry of an older leader while its write could still be on the wire.

        Fencing stops a stale leader's ledger writes, not its HTTP request already on the wire. Any
        REQUESTED entry of an older epoch was written before this engine's epoch began, so its write
        is over once ``in_flight_grace`` (longer than the client's timeout) has passed since then —
        measured on the monotonic clock, so a wall clock stepped back never makes the wait last — or
        since the entry was written (its ``updated_at``, which keeps counting across re-elections).
        Until then the entry is left alone and reconciled by a later run.

        Without an epoch (``jira-cleanup run`` from cron, beside a ``serve`` leader), a CLAIMED or
        REQUESTED entry a leader wrote (it carries an epoch) within the grace is the leader's work in
        progress: left alone, not released or re-sent.
        """
        grace = self.in_flight_grace.total_seconds()
        if self.epoch is None:
            return (
                entry.epoch is not None
                and entry.state in (EntryState.CLAIMED, EntryState.REQUESTED)
                and (now - entry.updated_at).total_seconds() < grace
            )
        if not (entry.state is EntryState.REQUESTED and entry.epoch is not None and entry.epoch < self.epoch):
            return False
        return self._monotonic() - self._epoch_since < grace and (now - entry.updated_at).total_seconds() < grace
