"""The SQL implementation of :class:`core.ports.LifecycleStore` (SQLite and PostgreSQL).

Public API::

    from adapters.store import open_stores, create_lifecycle_store
    scans, lifecycle = open_stores("sqlite:///./jira-cleanup.db")  # one engine, both stores
    lifecycle = create_lifecycle_store(url)                        # or on its own

Concurrency design:

* Every write runs in one transaction (:meth:`adapters.store.database.Database.write`). On
  SQLite it starts with ``BEGIN IMMEDIATE``: the write lock is taken up front, so two writers
  (threads or processes) serialize instead of failing with a lock upgrade error, and they wait
  up to the engine's busy timeout (:data:`adapters.store.database.SQLITE_BUSY_TIMEOUT_S`). On
  PostgreSQL rows are locked explicitly (``FOR UPDATE``, ``FOR UPDATE SKIP LOCKED``).
* :meth:`SqlLifecycleStore.lock_case` holds the case's lock for the whole ``with`` block
  (``SELECT ... FOR UPDATE`` on PostgreSQL; the database write lock on SQLite, which blocks
  every other writer): keep the block short and never do network I/O inside it. Do not call
  the store's own methods inside the block either (use the transaction object): on SQLite
  they would wait for the lock the block holds.
* The audit chain is global (``seq`` 1..n over every org). Appends
  (:meth:`adapters.store.database.Database.append_audit`, shared by every store) are serialized by a
  transaction-scoped advisory lock on PostgreSQL (``pg_advisory_xact_lock``) and by the
  ``BEGIN IMMEDIATE`` write lock on SQLite; the last (seq, hash) is read after the lock is
  held. Audit rows written through a case transaction are buffered and appended just before
  commit, so the chain lock is held as briefly as possible (always after any row lock: no
  lock-order cycles).
* Fencing: ``claim``, ``set_entry_state`` and ``lock_case`` accept the caller's leader epoch
  (:mod:`adapters.store.leader`). When given, the same transaction reads the org's row of
  ``leader_epochs`` (``FOR SHARE`` on PostgreSQL, under the write lock on SQLite) and raises
  :class:`core.errors.FencedOut`, writing nothing, unless it still holds that epoch. The share
  lock lasts until the commit, so a new leader's epoch bump waits for the old leader's
  in-flight transactions and every later one sees the new epoch. Rows written with an epoch
  record it in ``ledger.epoch``. Without an epoch nothing is checked (single-replica use).
* ``audit_events`` is append-only from the application's side: this module never updates or
  deletes it. Production should also revoke ``UPDATE, DELETE, TRUNCATE`` on it from the
  application role; on PostgreSQL the migration installs a trigger refusing them anyway.

All datetimes go in and come out timezone-aware UTC (naive values raise ``ValueError``).
Audit entries are normalised before they are sealed (``at`` converted to UTC, ``before`` and
``after`` reduced to plain JSON), so the sealed event round-trips exactly and
``verify_chain(store.iter_audit())`` holds on an untampered log.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.exc import IntegrityError

from adapters.store.audit_archive import current_anchor
from adapters.store.database import AUDIT_LOCK_KEY, Database, EngineStore, open_engine
from adapters.store.rows import (
    audit_from_row,
    aware,
    case_from_row,
    case_row,
    entry_from_row,
    entry_row,
    run_from_row,
    run_row,
)
from adapters.store.sql_store import SqlStore
from adapters.store.tables import (
    AUDIT_EVENTS,
    CASES,
    CONTROLS,
    LEDGER,
    LIFECYCLE_RUNS,
    OPEN_CASE_STATES,
)
from core.audit import Anchor, AuditEntry, AuditEvent, normalised
from core.ledger import EntryState, LedgerEntry, LifecycleRun
from core.lifecycle import Case, Op

if TYPE_CHECKING:
    from core.ports import CaseTransaction, Clock, LifecycleStore

__all__ = [
    "AUDIT_LOCK_KEY",
    "SqlCaseTransaction",
    "SqlLifecycleStore",
    "create_lifecycle_store",
    "open_stores",
]

#: States whose access-reducing entries count against the window caps.
_COUNTED_STATES = (EntryState.CLAIMED.value, EntryState.REQUESTED.value, EntryState.CONFIRMED.value)


# --------------------------------------------------------------------------- helpers


def _resolve_clock(clock: Clock | Callable[[], datetime] | None) -> Callable[[], datetime]:
    if clock is None:
        return lambda: datetime.now(UTC)
    now = getattr(clock, "now", None)
    if callable(now):  # a core.ports.Clock
        return lambda: aware(now(), "clock time")
    if callable(clock):
        plain: Callable[[], datetime] = clock
        return lambda: aware(plain(), "clock time")
    raise TypeError("clock must be a core.ports.Clock or a callable returning a datetime")


_ENTRY_ORDER = (LEDGER.c.created_at, LEDGER.c.entry_id)


def _sort_entries(entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    return sorted(entries, key=lambda e: (e.created_at, e.entry_id))


# --------------------------------------------------------------------------- the transaction


class SqlCaseTransaction:
    """One locked case in an open transaction (see :meth:`SqlLifecycleStore.lock_case`).

    ``save_case`` and ``save_entry`` write at once (inside the transaction); audit entries are
    sealed and appended when the block ends normally, just before the commit. When the block
    was opened with a leader ``epoch``, saved entries record it.
    """

    def __init__(
        self, conn: sa.Connection, case: Case, entries: list[LedgerEntry], *, epoch: int | None = None
    ) -> None:
        self._conn = conn
        self._epoch = epoch
        self.case = case
        self.entries = entries
        self._audits: list[AuditEntry] = []

    def save_case(self, case: Case) -> None:
        """Replace the locked case (``ValueError`` for another case id or a second open case)."""
        if case.case_id != self.case.case_id:
            raise ValueError(f"this transaction locks case {self.case.case_id!r}, not {case.case_id!r}")
        row = case_row(case)
        try:
            self._conn.execute(CASES.update().where(CASES.c.case_id == case.case_id).values(**row))
        except IntegrityError as exc:
            raise ValueError(
                f"case {case.case_id!r}: {case.account_id!r} already has an open {case.rule!r} case"
            ) from exc
        self.case = case

    def save_entry(self, entry: LedgerEntry) -> None:
        """Insert or replace a ledger entry of the locked case (``ValueError`` for another case)."""
        if entry.case_id != self.case.case_id:
            raise ValueError(f"entry {entry.entry_id!r} belongs to case {entry.case_id!r}, not {self.case.case_id!r}")
        if self._epoch is not None:
            entry = replace(entry, epoch=self._epoch)
        row = entry_row(entry)
        Database.replace_row(self._conn, LEDGER, row, "entry_id")
        self.entries = _sort_entries([*(e for e in self.entries if e.entry_id != entry.entry_id), entry])

    def audit(self, entry: AuditEntry) -> None:
        """Append an audit event in this transaction (sealed at commit, in call order)."""
        self._audits.append(normalised(entry))

    def append_pending_audits(self) -> None:
        """Seal and append the buffered audit entries (the store calls it just before the commit)."""
        if self._audits:
            Database.append_audit(self._conn, self._audits)
            self._audits = []


# --------------------------------------------------------------------------- the store


class _Component:
    """What every part of the lifecycle store shares: the database and the clock."""

    _db: Database
    _now: Callable[[], datetime]


class _Cases(_Component):
    """Cases: reading, creating, and locking one case with its ledger entries."""

    def open_cases(self, org_id: str) -> Mapping[tuple[str, str], Case]:
        """Open cases of ``org_id`` keyed by (account id, rule)."""
        stmt = sa.select(CASES).where(CASES.c.org_id == org_id, CASES.c.state.in_(OPEN_CASE_STATES))
        with self._db.read(f"loading open cases of org {org_id!r}") as conn:
            cases = [case_from_row(r) for r in conn.execute(stmt)]
        return {(c.account_id, c.rule): c for c in cases}

    def get_case(self, case_id: str) -> Case:
        """One case; ``LookupError`` when unknown."""
        with self._db.read(f"loading case {case_id!r}") as conn:
            row = conn.execute(sa.select(CASES).where(CASES.c.case_id == case_id)).first()
        if row is None:
            raise LookupError(f"unknown case {case_id!r}")
        return case_from_row(row)

    def find_cases(self, org_id: str, account_id: str) -> Sequence[Case]:
        """Every case of one account, newest (``opened_at``) first."""
        stmt = (
            sa.select(CASES)
            .where(CASES.c.org_id == org_id, CASES.c.account_id == account_id)
            .order_by(CASES.c.opened_at.desc(), CASES.c.case_id.desc())
        )
        with self._db.read(f"loading cases of account {account_id!r}") as conn:
            return [case_from_row(r) for r in conn.execute(stmt)]

    def create_case(self, case: Case, audit: AuditEntry) -> None:
        """Insert ``case`` with its audit event in one transaction.

        ``ValueError`` when the case id exists or (org, account, rule) already has an open case.
        """
        row = case_row(case)
        entry = normalised(audit)
        with self._db.write(f"creating case {case.case_id!r}") as conn:
            try:
                conn.execute(CASES.insert(), row)
            except IntegrityError as exc:
                raise ValueError(
                    f"case {case.case_id!r} not created: it exists, or {case.account_id!r} already has an open "
                    f"{case.rule!r} case in org {case.org_id!r}"
                ) from exc
            self._db.append_audit(conn, [entry])

    @contextmanager
    def _lock_case(self, case_id: str, epoch: int | None) -> Iterator[SqlCaseTransaction]:
        with self._db.write(f"updating case {case_id!r}") as conn:
            stmt = sa.select(CASES).where(CASES.c.case_id == case_id)
            if not self._db.sqlite:
                stmt = stmt.with_for_update()
            row = conn.execute(stmt).first()
            if row is None:
                raise LookupError(f"unknown case {case_id!r}")
            if epoch is not None:
                self._db.check_epoch(conn, row.org_id, epoch)
            pick = sa.select(LEDGER).where(LEDGER.c.case_id == case_id).order_by(*_ENTRY_ORDER)
            if not self._db.sqlite:
                # Lock the entries too: a concurrent compare-and-set waits for this block and then
                # re-checks the state it expects, instead of being overwritten by a stale copy.
                pick = pick.with_for_update()
            entries = [entry_from_row(r) for r in conn.execute(pick)]
            tx = SqlCaseTransaction(conn, case_from_row(row), entries, epoch=epoch)
            yield tx
            tx.append_pending_audits()

    def lock_case(self, case_id: str, *, epoch: int | None = None) -> AbstractContextManager[CaseTransaction]:
        """Lock ``case_id`` and its entries; commit on normal exit, roll back on error.

        ``LookupError`` (on entering) when the case is unknown; with ``epoch``, ``FencedOut`` (on
        entering, nothing written) unless it is the org's current leader epoch, and saved
        entries record it. Keep the block short: see the module docstring.
        """
        return self._lock_case(case_id, epoch)


class _Ledger(_Component):
    """The ledger: adding, claiming and compare-and-set of entries, and the window counts."""

    def add_entries(self, entries: Sequence[LedgerEntry]) -> int:
        """Insert the entries whose id is not stored yet (first occurrence wins); return how many."""
        rows: dict[str, dict[str, Any]] = {}
        for entry in entries:
            rows.setdefault(entry.entry_id, entry_row(entry))
        if not rows:
            return 0
        with self._db.write(f"adding {len(rows)} ledger entries") as conn:
            if self._db.sqlite:  # the write lock is held: look, then insert what is missing
                ids = list(rows)
                existing: set[str] = set()
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    existing.update(
                        conn.execute(sa.select(LEDGER.c.entry_id).where(LEDGER.c.entry_id.in_(chunk))).scalars()
                    )
                new = [row for entry_id, row in rows.items() if entry_id not in existing]
                if new:
                    conn.execute(LEDGER.insert(), new)
                return len(new)
            stmt = pg_dialect.insert(LEDGER).on_conflict_do_nothing(index_elements=["entry_id"])
            return len(conn.execute(stmt.returning(LEDGER.c.entry_id), list(rows.values())).all())

    def get_entry(self, entry_id: str) -> LedgerEntry:
        """One entry; ``LookupError`` when unknown."""
        with self._db.read(f"loading ledger entry {entry_id!r}") as conn:
            row = conn.execute(sa.select(LEDGER).where(LEDGER.c.entry_id == entry_id)).first()
        if row is None:
            raise LookupError(f"unknown ledger entry {entry_id!r}")
        return entry_from_row(row)

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
        """Move up to ``limit`` PLANNED entries (oldest first) to CLAIMED for ``worker``; each is claimed once.

        Only entries of ``run_id`` and of ``ops``, when given.

        ``attempts`` is incremented and ``updated_at`` set to the clock's time. PostgreSQL
        skips rows other claimers hold (``FOR UPDATE SKIP LOCKED``); SQLite serializes claims.
        With ``epoch``: ``FencedOut`` (nothing claimed) unless it is the org's current leader
        epoch; claimed rows record it.
        """
        if limit < 1:
            return []
        now = self._now()
        pick = sa.select(LEDGER.c.entry_id).where(LEDGER.c.org_id == org_id, LEDGER.c.state == EntryState.PLANNED.value)
        if run_id is not None:
            pick = pick.where(LEDGER.c.run_id == run_id)
        if ops is not None:
            pick = pick.where(LEDGER.c.op.in_(sorted(op.value for op in ops)))
        pick = pick.order_by(*_ENTRY_ORDER).limit(limit)
        values = {
            "state": EntryState.CLAIMED.value,
            "worker": worker,
            "attempts": LEDGER.c.attempts + 1,
            "updated_at": now,
        }
        if epoch is not None:
            values["epoch"] = epoch
        with self._db.write(f"claiming ledger entries of org {org_id!r}") as conn:
            if epoch is not None:
                self._db.check_epoch(conn, org_id, epoch)
            if self._db.sqlite:  # BEGIN IMMEDIATE holds the write lock: select, update, read back
                ids = list(conn.execute(pick).scalars())
                if not ids:
                    return []
                chosen = LEDGER.c.entry_id.in_(ids)
                conn.execute(LEDGER.update().where(chosen, LEDGER.c.state == EntryState.PLANNED.value).values(**values))
                rows = conn.execute(sa.select(LEDGER).where(chosen).order_by(*_ENTRY_ORDER))
                return [entry_from_row(r) for r in rows]
            # A MATERIALIZED CTE runs the locking pick exactly once. ``entry_id IN (subquery)`` may be
            # planned as a nested-loop semi join that rescans the subquery per outer row; each rescan
            # skips the rows this very statement already updated and picks the next ones, so the
            # LIMIT would not hold (a claim of 1 took every PLANNED row on a small table).
            picked = pick.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
            stmt = (
                LEDGER.update()
                .where(LEDGER.c.entry_id == picked.c.entry_id, LEDGER.c.state == EntryState.PLANNED.value)
                .values(**values)
                .returning(*LEDGER.c)
            )
            claimed = [entry_from_row(r) for r in conn.execute(stmt)]
        return _sort_entries(claimed)

    def entries(
        self, org_id: str, *, states: Iterable[EntryState] | None = None, run_id: str | None = None
    ) -> Sequence[LedgerEntry]:
        """Entries of ``org_id`` (optionally only in ``states`` / of ``run_id``), ordered by creation."""
        stmt = sa.select(LEDGER).where(LEDGER.c.org_id == org_id)
        if states is not None:
            stmt = stmt.where(LEDGER.c.state.in_([EntryState(s).value for s in states]))
        if run_id is not None:
            stmt = stmt.where(LEDGER.c.run_id == run_id)
        with self._db.read(f"loading ledger entries of org {org_id!r}") as conn:
            return [entry_from_row(r) for r in conn.execute(stmt.order_by(*_ENTRY_ORDER))]

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
        """Compare-and-set: move ``entry_id`` from ``expected`` to ``new``; False when it was not in ``expected``.

        ``updated_at`` becomes ``now``; ``outcome`` replaces the stored one only when non-empty.
        With ``epoch``: ``FencedOut`` (nothing written) unless it is the current leader epoch of
        the entry's org; the row records it. An unknown entry is False either way.
        """
        values: dict[str, Any] = {"state": EntryState(new).value, "updated_at": aware(now, "now")}
        if outcome:
            values["outcome"] = outcome
        if epoch is not None:
            values["epoch"] = epoch
        stmt = (
            LEDGER.update()
            .where(LEDGER.c.entry_id == entry_id, LEDGER.c.state == EntryState(expected).value)
            .values(**values)
        )
        with self._db.write(f"updating ledger entry {entry_id!r}") as conn:
            if epoch is not None:
                org_id = conn.execute(sa.select(LEDGER.c.org_id).where(LEDGER.c.entry_id == entry_id)).scalar()
                if org_id is None:
                    return False
                self._db.check_epoch(conn, org_id, epoch)
            return conn.execute(stmt).rowcount == 1

    def count_reducing_since(self, org_id: str, since: datetime) -> int:
        """Access-reducing entries (not restores or cancellations) claimed, requested or confirmed since ``since``."""
        stmt = (
            sa.select(sa.func.count())
            .select_from(LEDGER)
            .where(
                LEDGER.c.org_id == org_id,
                LEDGER.c.op.in_([op.value for op in Op if op.reduces_access]),
                LEDGER.c.state.in_(_COUNTED_STATES),
                LEDGER.c.updated_at >= aware(since, "since"),
            )
        )
        with self._db.read(f"counting ledger entries of org {org_id!r}") as conn:
            return int(conn.execute(stmt).scalar_one())


class _Runs(_Component):
    """Lifecycle runs."""

    def save_run(self, run: LifecycleRun) -> None:
        """Insert or replace ``run``."""
        row = run_row(run)
        with self._db.write(f"saving lifecycle run {run.run_id!r}") as conn:
            self._db.replace_row(conn, LIFECYCLE_RUNS, row, "run_id")

    def get_run(self, run_id: str) -> LifecycleRun:
        """One run; ``LookupError`` when unknown."""
        with self._db.read(f"loading lifecycle run {run_id!r}") as conn:
            row = conn.execute(sa.select(LIFECYCLE_RUNS).where(LIFECYCLE_RUNS.c.run_id == run_id)).first()
        if row is None:
            raise LookupError(f"unknown lifecycle run {run_id!r}")
        return run_from_row(row)

    def recent_runs(self, org_id: str | None, limit: int = 10) -> Sequence[LifecycleRun]:
        """Up to ``limit`` runs of ``org_id`` (or of every org), newest ``created_at`` first."""
        if limit < 1:
            return []
        stmt = sa.select(LIFECYCLE_RUNS)
        if org_id is not None:
            stmt = stmt.where(LIFECYCLE_RUNS.c.org_id == org_id)
        stmt = stmt.order_by(LIFECYCLE_RUNS.c.created_at.desc(), LIFECYCLE_RUNS.c.run_id.desc()).limit(limit)
        with self._db.read("listing lifecycle runs") as conn:
            return [run_from_row(r) for r in conn.execute(stmt)]


class _PauseAndAudit(_Component):
    """The pause switch and the audit trail (append and read; nothing changes or deletes it)."""

    def is_paused(self, org_id: str) -> bool:
        """True while the kill switch is on for ``org_id`` (no row: not paused)."""
        with self._db.read(f"reading the pause switch of org {org_id!r}") as conn:
            paused = conn.execute(sa.select(CONTROLS.c.paused).where(CONTROLS.c.org_id == org_id)).scalar()
        return bool(paused)

    def set_paused(self, org_id: str, paused: bool, audit: AuditEntry) -> None:
        """Flip the kill switch and append its audit event in one transaction."""
        entry = normalised(audit)
        row = {"org_id": org_id, "paused": paused, "updated_at": self._now(), "updated_by": entry.actor}
        with self._db.write(f"setting the pause switch of org {org_id!r}") as conn:
            self._db.replace_row(conn, CONTROLS, row, "org_id")
            self._db.append_audit(conn, [entry])

    def append_audit(self, entry: AuditEntry) -> AuditEvent:
        """Seal and append one audit event (its own short transaction); return the sealed event."""
        sealable = normalised(entry)
        with self._db.write("appending an audit event") as conn:
            return self._db.append_audit(conn, [sealable])[0]

    def audit_head(self) -> AuditEvent | None:
        """The newest audit event (highest ``seq``), or None."""
        stmt = sa.select(AUDIT_EVENTS).order_by(AUDIT_EVENTS.c.seq.desc()).limit(1)
        with self._db.read("reading the audit head") as conn:
            row = conn.execute(stmt).first()
        return audit_from_row(row) if row is not None else None

    def audit_anchor(self) -> Anchor | None:
        """Where the chain starts after an archive (see :mod:`adapters.store.audit_archive`)."""
        with self._db.read("reading the audit anchor") as conn:
            return current_anchor(conn)

    def iter_audit(self, *, since: datetime | None = None, org_id: str | None = None) -> Iterator[AuditEvent]:
        """Stream audit events in ``seq`` order (``since``: only events at or after that time;
        ``org_id``: only that org's).

        The connection is held until the iterator is exhausted or closed.
        """
        stmt = sa.select(AUDIT_EVENTS).order_by(AUDIT_EVENTS.c.seq)
        if since is not None:
            stmt = stmt.where(AUDIT_EVENTS.c.at >= aware(since, "since"))
        if org_id is not None:
            stmt = stmt.where(AUDIT_EVENTS.c.org_id == org_id)
        return self._db.stream("reading the audit trail", stmt, audit_from_row, chunk_size=500, locked=True)


class SqlLifecycleStore(_Cases, _Ledger, _Runs, _PauseAndAudit, EngineStore):
    """A :class:`core.ports.LifecycleStore` on a migrated SQLAlchemy engine (SQLite or PostgreSQL).

    Thread-safe (one pooled connection per call). ``clock`` (a ``core.ports.Clock`` or a
    callable returning an aware datetime; default: UTC now) stamps claims and the pause
    switch. Database failures raise :class:`StoreError` naming the masked URL; unknown ids
    raise ``LookupError``; naive datetimes raise ``ValueError``. The port's methods live in
    the parts it is made of: cases, the ledger, runs, the pause switch and the audit trail.
    """

    def __init__(self, engine: sa.Engine | Database, *, clock: Clock | Callable[[], datetime] | None = None) -> None:
        """Wrap ``engine`` or a shared :class:`Database` (already migrated: :func:`create_lifecycle_store` does it)."""
        self._db = Database.of(engine)
        self._now = _resolve_clock(clock)


# --------------------------------------------------------------------------- factories


def create_lifecycle_store(
    database_url: str, *, clock: Clock | Callable[[], datetime] | None = None
) -> SqlLifecycleStore:
    """Open the lifecycle store at ``database_url``, upgrading the schema to the newest migration.

    Raises :class:`StoreError` naming the (password-masked) URL when the database is
    unreachable or cannot be migrated.
    """
    return SqlLifecycleStore(open_engine(database_url), clock=clock)


def open_stores(
    database_url: str, *, clock: Clock | Callable[[], datetime] | None = None
) -> tuple[SqlStore, SqlLifecycleStore]:
    """The scan store and the lifecycle store on one migrated engine (closing either disposes the pool)."""
    database = Database(open_engine(database_url))
    return SqlStore(database), SqlLifecycleStore(database, clock=clock)


if TYPE_CHECKING:  # mypy proves SqlLifecycleStore implements the LifecycleStore protocol

    def _conforms(store: SqlLifecycleStore) -> LifecycleStore:
        return store

    def _tx_conforms(tx: SqlCaseTransaction) -> CaseTransaction:
        return tx
