"""An in-memory :class:`core.ports.LifecycleStore` with the SQL store's semantics.

The same contract suite (``tests/store/test_lifecycle_store.py``) runs against this fake,
SQLite and PostgreSQL. Its state is public for assertions: ``cases``, ``ledger``, ``runs``,
``paused`` and ``audit_log`` (sealed events in chain order).

* ``lock_case`` works on copies and publishes them only when the block ends normally; an
  exception inside discards every change, audit events included. A re-entrant lock makes
  whole transactions atomic with respect to other threads (like SQLite's write lock).
* ``claim`` hands each PLANNED entry out once.
* Audit entries are normalised (``at`` in UTC, ``before``/``after`` as plain JSON) and sealed
  with :func:`core.audit.seal`: event ids are uuid4 hex, ``seq`` starts at 1, the first
  ``prev_hash`` is :data:`core.audit.GENESIS`.
* Failure injection for engine tests: set ``fail_audit`` to an exception and every audit
  append (direct or in a transaction) raises it, so the change it belongs to is rolled back.
* Fencing like the SQL store: ``epochs`` maps org id to the current leader epoch;
  ``bump_epoch(org)`` starts a new leadership. ``claim``, ``set_entry_state`` and
  ``lock_case`` given an ``epoch`` raise :class:`core.errors.FencedOut`, writing nothing,
  unless it is current, and stamp it on the entries they write. :class:`FakeLeaderLock`
  elects leaders over the same ``epochs``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from core.audit import GENESIS, AuditEntry, AuditEvent, normalised, seal_after
from core.errors import FencedOut
from core.ledger import EntryState, LedgerEntry, LifecycleRun
from core.lifecycle import Case, Op
from core.ports import CaseTransaction, Clock, LeaderLock, LifecycleStore

__all__ = ["FakeCaseTransaction", "FakeLeaderLock", "FakeLifecycleStore"]

_D = TypeVar("_D")
_COUNTED = frozenset({EntryState.CLAIMED, EntryState.REQUESTED, EntryState.CONFIRMED})


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def _utc(obj: _D) -> _D:
    """A copy of the dataclass ``obj`` with every datetime (also in tuples) in UTC; naive ones raise."""
    what = f"{type(obj).__name__} {getattr(obj, 'case_id', None) or getattr(obj, 'entry_id', None) or ''}".strip()
    changes: dict[str, Any] = {}
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, datetime):
            changes[f.name] = _aware(value, f"{what}: {f.name}")
        elif isinstance(value, tuple) and any(isinstance(v, datetime) for v in value):
            changes[f.name] = tuple(_aware(v, f"{what}: {f.name}") for v in value)
    return replace(obj, **changes)  # type: ignore[type-var]


def _sorted_entries(entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    return sorted(entries, key=lambda e: (e.created_at, e.entry_id))


class FakeCaseTransaction:
    """A locked case: changes go to copies and are published on commit."""

    def __init__(
        self,
        case: Case,
        entries: list[LedgerEntry],
        conflict: Callable[[Case], bool],
        epoch: int | None = None,
    ) -> None:
        self._conflict = conflict
        self._epoch = epoch
        self.case = case
        self.entries = entries
        self.saved_case: Case | None = None
        self.saved_entries: dict[str, LedgerEntry] = {}
        self.audits: list[AuditEntry] = []

    def save_case(self, case: Case) -> None:
        """Replace the locked case."""
        if case.case_id != self.case.case_id:
            raise ValueError(f"this transaction locks case {self.case.case_id!r}, not {case.case_id!r}")
        case = _utc(case)
        if self._conflict(case):
            raise ValueError(f"case {case.case_id!r}: {case.account_id!r} already has an open {case.rule!r} case")
        self.case = case
        self.saved_case = case

    def save_entry(self, entry: LedgerEntry) -> None:
        """Insert or replace a ledger entry of this case."""
        if entry.case_id != self.case.case_id:
            raise ValueError(f"entry {entry.entry_id!r} belongs to case {entry.case_id!r}, not {self.case.case_id!r}")
        entry = _utc(entry)
        if self._epoch is not None:
            entry = replace(entry, epoch=self._epoch)
        self.saved_entries[entry.entry_id] = entry
        self.entries = _sorted_entries([*(e for e in self.entries if e.entry_id != entry.entry_id), entry])

    def audit(self, entry: AuditEntry) -> None:
        """Append an audit event in this transaction (sealed on commit)."""
        self.audits.append(normalised(entry))


class FakeLifecycleStore:
    """In-memory :class:`core.ports.LifecycleStore`; thread-safe, every method atomic."""

    def __init__(self, *, clock: Clock | Callable[[], datetime] | None = None) -> None:
        self.cases: dict[str, Case] = {}
        self.ledger: dict[str, LedgerEntry] = {}
        self.runs: dict[str, LifecycleRun] = {}
        self.paused: dict[str, bool] = {}
        self.audit_log: list[AuditEvent] = []
        self.fail_audit: Exception | None = None
        self.transactions = 0  # committed lock_case blocks, for assertions
        self.epochs: dict[str, int] = {}  # org id -> current leader epoch
        self.leaders: dict[str, str] = {}  # org id -> holder of the FakeLeaderLock, while held
        self._lock = threading.RLock()
        if clock is None:
            self._now: Callable[[], datetime] = lambda: datetime.now(UTC)
        elif hasattr(clock, "now"):  # a core.ports.Clock (FixedClock, SystemClock)
            self._now = clock.now
        else:
            self._now = clock

    # -- fencing -----------------------------------------------------------------------

    def bump_epoch(self, org_id: str) -> int:
        """Start a new leadership of ``org_id``: its epoch grows by one (from 1); return it."""
        with self._lock:
            self.epochs[org_id] = self.epochs.get(org_id, 0) + 1
            return self.epochs[org_id]

    def _check_epoch(self, org_id: str, epoch: int | None) -> None:
        """``FencedOut`` unless ``epoch`` is None or current (caller holds the lock)."""
        if epoch is not None and self.epochs.get(org_id) != epoch:
            raise FencedOut(org_id, epoch, self.epochs.get(org_id))

    # -- cases -------------------------------------------------------------------------

    def open_cases(self, org_id: str) -> Mapping[tuple[str, str], Case]:
        """Open cases of ``org_id`` keyed by (account id, rule)."""
        with self._lock:
            return {(c.account_id, c.rule): c for c in self.cases.values() if c.org_id == org_id and c.state.is_open}

    def get_case(self, case_id: str) -> Case:
        """One case; ``LookupError`` when unknown."""
        with self._lock:
            try:
                return self.cases[case_id]
            except KeyError:
                raise LookupError(f"unknown case {case_id!r}") from None

    def find_cases(self, org_id: str, account_id: str) -> Sequence[Case]:
        """Every case of one account, newest first."""
        with self._lock:
            found = [c for c in self.cases.values() if c.org_id == org_id and c.account_id == account_id]
        return sorted(found, key=lambda c: (c.opened_at, c.case_id), reverse=True)

    def _conflict(self, case: Case) -> bool:
        if not case.state.is_open:
            return False
        return any(
            other.case_id != case.case_id
            and other.state.is_open
            and (other.org_id, other.account_id, other.rule) == (case.org_id, case.account_id, case.rule)
            for other in self.cases.values()
        )

    def create_case(self, case: Case, audit: AuditEntry) -> None:
        """Insert a new case with its audit event; ``ValueError`` on a duplicate id or open case."""
        case = _utc(case)
        entry = normalised(audit)
        with self._lock:
            if case.case_id in self.cases or self._conflict(case):
                raise ValueError(
                    f"case {case.case_id!r} not created: it exists, or {case.account_id!r} already has an open "
                    f"{case.rule!r} case in org {case.org_id!r}"
                )
            events = self._seal([entry])
            self.cases[case.case_id] = case
            self.audit_log.extend(events)

    @contextmanager
    def _lock_case(self, case_id: str, epoch: int | None) -> Iterator[FakeCaseTransaction]:
        with self._lock:
            case = self.get_case(case_id)
            self._check_epoch(case.org_id, epoch)
            entries = _sorted_entries(e for e in self.ledger.values() if e.case_id == case_id)
            tx = FakeCaseTransaction(case, entries, self._conflict, epoch)
            yield tx  # an exception here leaves the store untouched
            events = self._seal(tx.audits)
            if tx.saved_case is not None:
                self.cases[case_id] = tx.saved_case
            self.ledger.update(tx.saved_entries)
            self.audit_log.extend(events)
            self.transactions += 1

    def lock_case(self, case_id: str, *, epoch: int | None = None) -> AbstractContextManager[CaseTransaction]:
        """Lock one case and its entries; commit on normal exit, roll back on error (fenced by ``epoch``)."""
        return self._lock_case(case_id, epoch)

    # -- ledger --------------------------------------------------------------------------

    def add_entries(self, entries: Sequence[LedgerEntry]) -> int:
        """Insert entries that do not exist yet (by id); return how many were new."""
        entries = [_utc(e) for e in entries]
        with self._lock:
            new = 0
            for entry in entries:
                if entry.entry_id not in self.ledger:
                    self.ledger[entry.entry_id] = entry
                    new += 1
            return new

    def get_entry(self, entry_id: str) -> LedgerEntry:
        """One entry; ``LookupError`` when unknown."""
        with self._lock:
            try:
                return self.ledger[entry_id]
            except KeyError:
                raise LookupError(f"unknown ledger entry {entry_id!r}") from None

    def claim(
        self,
        org_id: str,
        worker: str,
        limit: int,
        *,
        run_id: str | None = None,
        ops: Collection[Op] | None = None,
        epoch: int | None = None,
    ) -> Sequence[LedgerEntry]:
        """Move up to ``limit`` PLANNED entries, oldest first, to CLAIMED for ``worker`` (fenced by ``epoch``)."""
        if limit < 1:
            return []
        now = _aware(self._now(), "clock time")
        with self._lock:
            self._check_epoch(org_id, epoch)
            planned = _sorted_entries(
                e
                for e in self.ledger.values()
                if e.org_id == org_id
                and e.state is EntryState.PLANNED
                and (run_id is None or e.run_id == run_id)
                and (ops is None or e.op in ops)
            )[:limit]
            claimed = [
                replace(
                    e,
                    state=EntryState.CLAIMED,
                    worker=worker,
                    attempts=e.attempts + 1,
                    updated_at=now,
                    epoch=e.epoch if epoch is None else epoch,
                )
                for e in planned
            ]
            for entry in claimed:
                self.ledger[entry.entry_id] = entry
            return claimed

    def entries(
        self, org_id: str, *, states: Iterable[EntryState] | None = None, run_id: str | None = None
    ) -> Sequence[LedgerEntry]:
        """Entries of an org, optionally filtered, ordered by creation."""
        wanted = None if states is None else {EntryState(s) for s in states}
        with self._lock:
            return _sorted_entries(
                e
                for e in self.ledger.values()
                if e.org_id == org_id
                and (wanted is None or e.state in wanted)
                and (run_id is None or e.run_id == run_id)
            )

    def set_entry_state(
        self,
        entry_id: str,
        expected: EntryState,
        new: EntryState,
        now: datetime,
        outcome: str = "",
        *,
        epoch: int | None = None,
    ) -> bool:
        """Compare-and-set an entry's state; ``outcome`` replaces the stored one only when non-empty.

        Fenced by ``epoch`` (checked before the state, like the SQL store); an unknown entry is False.
        """
        when = _aware(now, "now")
        with self._lock:
            entry = self.ledger.get(entry_id)
            if entry is None:
                return False
            self._check_epoch(entry.org_id, epoch)
            if entry.state is not EntryState(expected):
                return False
            self.ledger[entry_id] = replace(
                entry,
                state=EntryState(new),
                updated_at=when,
                outcome=outcome or entry.outcome,
                epoch=entry.epoch if epoch is None else epoch,
            )
            return True

    def count_reducing_since(self, org_id: str, since: datetime) -> int:
        """Access-reducing entries claimed, requested or confirmed with ``updated_at >= since``."""
        start = _aware(since, "since")
        with self._lock:
            return sum(
                1
                for e in self.ledger.values()
                if e.org_id == org_id and e.op.reduces_access and e.state in _COUNTED and e.updated_at >= start
            )

    # -- runs ------------------------------------------------------------------------------

    def save_run(self, run: LifecycleRun) -> None:
        """Insert or replace a lifecycle run."""
        run = replace(_utc(run), counts=dict(run.counts))
        with self._lock:
            self.runs[run.run_id] = run

    def get_run(self, run_id: str) -> LifecycleRun:
        """One run; ``LookupError`` when unknown."""
        with self._lock:
            try:
                return self.runs[run_id]
            except KeyError:
                raise LookupError(f"unknown lifecycle run {run_id!r}") from None

    def recent_runs(self, org_id: str | None, limit: int = 10) -> Sequence[LifecycleRun]:
        """The newest runs, newest first."""
        if limit < 1:
            return []
        with self._lock:
            runs = [r for r in self.runs.values() if org_id is None or r.org_id == org_id]
        return sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)[:limit]

    # -- pause switch --------------------------------------------------------------------

    def is_paused(self, org_id: str) -> bool:
        """True while the kill switch is on for ``org_id``."""
        with self._lock:
            return self.paused.get(org_id, False)

    def set_paused(self, org_id: str, paused: bool, audit: AuditEntry) -> None:
        """Flip the kill switch, with its audit event (both or neither)."""
        entry = normalised(audit)
        with self._lock:
            events = self._seal([entry])
            self.paused[org_id] = paused
            self.audit_log.extend(events)

    # -- audit -----------------------------------------------------------------------------

    def _seal(self, entries: Sequence[AuditEntry]) -> list[AuditEvent]:
        """Seal ``entries`` after the chain's end without publishing them (caller holds the lock)."""
        if entries and self.fail_audit is not None:
            raise self.fail_audit
        prev = self.audit_log[-1].hash if self.audit_log else GENESIS

        def org_head(org_id: str) -> tuple[int, str]:
            last = next((e.org for e in reversed(self.audit_log) if e.entry.org_id == org_id and e.org), None)
            return (last.seq, last.hash) if last is not None else (0, GENESIS)

        return seal_after(entries, len(self.audit_log), prev, org_head)

    def append_audit(self, entry: AuditEntry) -> AuditEvent:
        """Seal and append one audit event to the chain."""
        with self._lock:
            [event] = self._seal([normalised(entry)])
            self.audit_log.append(event)
            return event

    def audit_head(self) -> AuditEvent | None:
        with self._lock:
            return self.audit_log[-1] if self.audit_log else None

    def audit_anchor(self) -> None:
        return None  # the fake never archives

    def iter_audit(self, *, since: datetime | None = None, org_id: str | None = None) -> Iterable[AuditEvent]:
        """Audit events in chain order (``since``: only events at or after that time; ``org_id``: only its)."""
        start = None if since is None else _aware(since, "since")
        with self._lock:
            events = list(self.audit_log)
        return [
            e for e in events if (start is None or e.entry.at >= start) and (org_id is None or e.entry.org_id == org_id)
        ]


class FakeLeaderLock:
    """A :class:`core.ports.LeaderLock` over a :class:`FakeLifecycleStore`'s ``epochs``.

    Several locks on one store behave like replicas on one database: one leads per org at a
    time, and each new leadership bumps the epoch. ``lose()`` simulates the lock's
    connection dropping (``still_leader`` turns false and the org is free for another) while
    the loser keeps its stale epoch, as a paused process would.
    """

    def __init__(self, store: FakeLifecycleStore, holder: str = "fake-leader") -> None:
        self.store = store
        self.holder = holder
        self.org_id: str | None = None
        self.epoch: int | None = None
        self.acquired = 0  # successful acquisitions, for assertions

    def replicas(self, group: str = "") -> int:
        """The fakes of one store are the replicas."""
        return 1

    def acquire(self, org_id: str) -> int | None:
        """Lead ``org_id`` when nobody does: the new epoch, else None (the current one when still leading it)."""
        if self.org_id is not None:
            if self.still_leader():
                if self.org_id == org_id:
                    return self.epoch
                raise RuntimeError(f"{self.holder} already leads {self.org_id!r}: release() first")
            self.release()
        with self.store._lock:
            if org_id in self.store.leaders:
                return None
            self.store.leaders[org_id] = self.holder
            self.org_id, self.epoch = org_id, self.store.bump_epoch(org_id)
            self.acquired += 1
            return self.epoch

    def still_leader(self) -> bool:
        """True while this lock holds its org and the epoch is unchanged."""
        with self.store._lock:
            org = self.org_id
            return (
                org is not None
                and self.store.leaders.get(org) == self.holder
                and self.store.epochs.get(org) == self.epoch
            )

    def lose(self) -> None:
        """The lock's connection dropped: the org is free; this object still thinks it leads."""
        with self.store._lock:
            if self.org_id is not None and self.store.leaders.get(self.org_id) == self.holder:
                del self.store.leaders[self.org_id]

    def release(self) -> None:
        """Give leadership up (idempotent)."""
        self.lose()
        self.org_id = self.epoch = None


def _conforms(store: FakeLifecycleStore) -> LifecycleStore:
    return store


def _leader_conforms(lock: FakeLeaderLock) -> LeaderLock:
    return lock


def _tx_conforms(tx: FakeCaseTransaction) -> CaseTransaction:
    return tx
