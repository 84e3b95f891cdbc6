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
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from core.audit import GENESIS, AuditEntry, AuditEvent, seal
from core.ledger import EntryState, LedgerEntry, LifecycleRun
from core.lifecycle import Case, Op
from core.ports import CaseTransaction, Clock, LifecycleStore

__all__ = ["FakeCaseTransaction", "FakeLifecycleStore", "normalise_audit_entry"]

_D = TypeVar("_D")
_COUNTED = frozenset({EntryState.CLAIMED, EntryState.REQUESTED, EntryState.CONFIRMED})


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def normalise_audit_entry(entry: AuditEntry) -> AuditEntry:
    """``at`` in UTC, ``before``/``after`` as plain JSON: exactly what the SQL store seals and stores."""

    def plain(value: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(json.dumps(dict(value), sort_keys=True, default=str))
        return result

    return replace(entry, at=_aware(entry.at, "audit entry time"), before=plain(entry.before), after=plain(entry.after))


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

    def __init__(self, case: Case, entries: list[LedgerEntry], conflict: Callable[[Case], bool]) -> None:
        self._conflict = conflict
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
        self.saved_entries[entry.entry_id] = entry
        self.entries = _sorted_entries([*(e for e in self.entries if e.entry_id != entry.entry_id), entry])

    def audit(self, entry: AuditEntry) -> None:
        """Append an audit event in this transaction (sealed on commit)."""
        self.audits.append(normalise_audit_entry(entry))


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
        self._lock = threading.RLock()
        if clock is None:
            self._now: Callable[[], datetime] = lambda: datetime.now(UTC)
        elif hasattr(clock, "now"):  # a core.ports.Clock (FixedClock, SystemClock)
            self._now = clock.now
        else:
            self._now = clock

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
        entry = normalise_audit_entry(audit)
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
    def _lock_case(self, case_id: str) -> Iterator[FakeCaseTransaction]:
        with self._lock:
            case = self.get_case(case_id)
            entries = _sorted_entries(e for e in self.ledger.values() if e.case_id == case_id)
            tx = FakeCaseTransaction(case, entries, self._conflict)
            yield tx  # an exception here leaves the store untouched
            events = self._seal(tx.audits)
            if tx.saved_case is not None:
                self.cases[case_id] = tx.saved_case
            self.ledger.update(tx.saved_entries)
            self.audit_log.extend(events)
            self.transactions += 1

    def lock_case(self, case_id: str) -> AbstractContextManager[CaseTransaction]:
        """Lock one case and its entries; commit on normal exit, roll back on error."""
        return self._lock_case(case_id)

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

    def claim(self, org_id: str, worker: str, limit: int, *, run_id: str | None = None) -> Sequence[LedgerEntry]:
        """Move up to ``limit`` PLANNED entries, oldest first, to CLAIMED for ``worker``."""
        if limit < 1:
            return []
        now = _aware(self._now(), "clock time")
        with self._lock:
            planned = _sorted_entries(
                e
                for e in self.ledger.values()
                if e.org_id == org_id and e.state is EntryState.PLANNED and (run_id is None or e.run_id == run_id)
            )[:limit]
            claimed = [
                replace(e, state=EntryState.CLAIMED, worker=worker, attempts=e.attempts + 1, updated_at=now)
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
        self, entry_id: str, expected: EntryState, new: EntryState, now: datetime, outcome: str = ""
    ) -> bool:
        """Compare-and-set an entry's state; ``outcome`` replaces the stored one only when non-empty."""
        when = _aware(now, "now")
        with self._lock:
            entry = self.ledger.get(entry_id)
            if entry is None or entry.state is not EntryState(expected):
                return False
            self.ledger[entry_id] = replace(
                entry, state=EntryState(new), updated_at=when, outcome=outcome or entry.outcome
            )
            return True

    def count_reducing_since(self, org_id: str, since: datetime) -> int:
        """Access-reducing entries claimed, requested or confirmed with ``updated_at >= since``."""
        start = _aware(since, "since")
        with self._lock:
            return sum(
                1
                for e in self.ledger.values()
                if e.org_id == org_id and e.op is not Op.RESTORE and e.state in _COUNTED and e.updated_at >= start
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
        entry = normalise_audit_entry(audit)
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
        seq = len(self.audit_log)
        events = []
        for entry in entries:
            seq += 1
            event = seal(uuid.uuid4().hex, seq, entry, prev)
            events.append(event)
            prev = event.hash
        return events

    def append_audit(self, entry: AuditEntry) -> AuditEvent:
        """Seal and append one audit event to the chain."""
        normalised = normalise_audit_entry(entry)
        with self._lock:
            [event] = self._seal([normalised])
            self.audit_log.append(event)
            return event

    def iter_audit(self, *, since: datetime | None = None) -> Iterable[AuditEvent]:
        """Audit events in chain order (``since``: only events at or after that time)."""
        start = None if since is None else _aware(since, "since")
        with self._lock:
            events = list(self.audit_log)
        return [e for e in events if start is None or e.entry.at >= start]


def _conforms(store: FakeLifecycleStore) -> LifecycleStore:
    return store


def _tx_conforms(tx: FakeCaseTransaction) -> CaseTransaction:
    return tx
