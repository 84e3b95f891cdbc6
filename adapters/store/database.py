"""The one database object the SQL stores share: engine, transactions, audit appends.

A :class:`Database` owns the SQLAlchemy engine and everything the stores must do the same way:

* engines: :func:`make_engine` (SQLite pragmas, busy timeout, WAL; PostgreSQL psycopg 3,
  connect timeout, pre-ping) and :func:`open_engine` (the same, migrated);
* transactions: :meth:`Database.write` (``BEGIN IMMEDIATE`` on SQLite: the write lock is taken
  up front, so writers serialise instead of failing on a lock upgrade), :meth:`Database.read`,
  :meth:`Database.begin` (a plain transaction) and :meth:`Database.stream`;
* every SQLAlchemy error becomes :class:`core.errors.StoreError` naming the masked URL;
* the audit chain: :meth:`Database.append_audit` seals entries after the chain's last event
  (under a transaction-scoped advisory lock on PostgreSQL, the write lock on SQLite);
* fencing: :meth:`Database.check_epoch` raises :class:`core.errors.FencedOut` for a stale
  leader epoch inside the write transaction it guards.

The stores (:mod:`adapters.store.sql_store`, :mod:`adapters.store.lifecycle_store` and the chat,
restore and Teams stores) use only this public API; none reaches into another store.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Self, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from adapters.store.audit_archive import current_anchor
from adapters.store.migrate import upgrade
from adapters.store.rows import audit_row
from adapters.store.tables import AUDIT_EVENTS, LEADER_EPOCHS
from core.audit import GENESIS, AuditEntry, AuditEvent, seal_after
from core.errors import FencedOut, StoreError

__all__ = [
    "AUDIT_LOCK_KEY",
    "SQLITE_BUSY_TIMEOUT_S",
    "Database",
    "EngineStore",
    "dialect_insert",
    "make_engine",
    "mask_url",
    "normalise_url",
    "open_engine",
    "reason",
]

#: How long a SQLite connection waits for another writer's lock before failing (seconds).
SQLITE_BUSY_TIMEOUT_S = 30.0

#: The PostgreSQL advisory lock key that serialises audit chain appends ("jira_aud").
AUDIT_LOCK_KEY = 0x6A6972615F617564

_T = TypeVar("_T")


# --------------------------------------------------------------------------- URLs and messages


def mask_url(url: str | URL) -> str:
    """``url`` as text with any password replaced by ``***``; never raises."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
        return parsed.render_as_string(hide_password=True)
    except Exception:  # unparseable: mask by pattern instead
        return re.sub(r"(://[^:/@?#]*:)[^@/?#]*@", r"\1***@", str(url))


def reason(exc: BaseException, url: URL | None) -> str:
    """A one-line reason for ``exc``: the driver's message, password removed."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip() or type(exc).__name__
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    password = url.password if url is not None else None
    if password:
        text = text.replace(str(password), "***")
    return text


def normalise_url(database_url: str | URL) -> URL:
    """Parse ``database_url``, rewriting ``postgres://``/``postgresql://`` to ``postgresql+psycopg://``.

    Raises :class:`StoreError` (URL masked) when the text is not a database URL.
    """
    if isinstance(database_url, URL):
        url = database_url
    else:
        try:
            url = make_url(database_url.strip())
        except (ArgumentError, ValueError):
            raise StoreError(f"invalid database URL {mask_url(database_url)!s}") from None
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An ``INSERT`` with ``ON CONFLICT`` support for PostgreSQL and SQLite; ``None`` on other dialects."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return pg_dialect.insert(table)
    if dialect == "sqlite":
        return sqlite_dialect.insert(table)
    return None


# --------------------------------------------------------------------------- engines


def _sqlite_is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def make_engine(database_url: str | URL) -> sa.Engine:
    """Create (but do not migrate) an engine for ``database_url``.

    SQLite: ``check_same_thread=False``, a busy timeout of :data:`SQLITE_BUSY_TIMEOUT_S` (writers
    wait for each other instead of failing), WAL journal and foreign keys on every connection, the
    parent directory of the file created when missing; ``sqlite://`` is one shared in-memory
    database. PostgreSQL: psycopg 3, ``connect_timeout`` 10 s unless the URL sets one,
    pre-ping. Raises :class:`StoreError` for a bad URL, a missing driver or an uncreatable
    directory.
    """
    url = normalise_url(database_url)
    masked = mask_url(url)
    kwargs: dict[str, Any] = {"hide_parameters": True}
    try:
        backend = url.get_backend_name()
        if backend == "sqlite":
            memory = _sqlite_is_memory(url)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}
            if memory:
                kwargs["poolclass"] = sa.StaticPool
            elif url.database and not url.database.startswith("file:"):
                Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, **kwargs)
            sa.event.listen(engine, "connect", _sqlite_pragmas(wal=not memory))
            return engine
        if backend == "postgresql":
            if "connect_timeout" not in url.query:
                kwargs["connect_args"] = {"connect_timeout": 10}
            kwargs["pool_pre_ping"] = True
        return sa.create_engine(url, **kwargs)
    except OSError as exc:
        raise StoreError(f"cannot create the database directory for {masked}: {exc}") from exc
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot use database {masked}: {reason(exc, url)}") from exc


def _sqlite_pragmas(*, wal: bool) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()

    return on_connect


def open_engine(database_url: str) -> sa.Engine:
    """An engine for ``database_url`` with its schema upgraded to the newest migration.

    Raises :class:`StoreError` naming the (password-masked) URL when the database is
    unreachable, refuses the connection or cannot be migrated.
    """
    url = normalise_url(database_url)
    engine = make_engine(url)
    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"cannot open database {mask_url(url)}: {reason(exc, url)}") from exc
    return engine


# --------------------------------------------------------------------------- the database


class Database:
    """One migrated engine and the way every store opens transactions on it.

    Thread-safe: one pooled connection per transaction. One shared in-memory SQLite connection
    (``StaticPool``) cannot hold two transactions at once, so there :meth:`read` and
    :meth:`write` also take a process-local lock.
    """

    def __init__(self, engine: sa.Engine) -> None:
        """Wrap ``engine`` (already migrated: :func:`open_engine` does it)."""
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._local_lock: AbstractContextManager[Any] = (
            threading.RLock() if isinstance(engine.pool, sa.StaticPool) else nullcontext()
        )

    @classmethod
    def of(cls, engine_or_database: sa.Engine | Database) -> Database:
        """``engine_or_database`` itself when it is a :class:`Database`, else one wrapping the engine."""
        return engine_or_database if isinstance(engine_or_database, Database) else cls(engine_or_database)

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return mask_url(self.engine.url)

    def close(self) -> None:
        """Release every pooled connection (the engine reconnects when used again)."""
        self.engine.dispose()

    @contextmanager
    def guard(self, operation: str) -> Iterator[None]:
        """Turn SQLAlchemy errors inside the block into ``StoreError`` naming ``operation`` and the masked URL."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(f"{operation} failed on database {self.url}: {reason(exc, self.engine.url)}") from exc

    @contextmanager
    def write(self, operation: str) -> Iterator[sa.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` on SQLite; commit on normal exit, else roll back."""
        with self.guard(operation), self._local_lock, self.engine.connect() as conn:
            try:
                if self.sqlite:
                    # pysqlite begins lazily and DEFERRED; take the write lock up front instead.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    @contextmanager
    def read(self, operation: str) -> Iterator[sa.Connection]:
        """One connection for reading (under the in-memory lock when there is one)."""
        with self.guard(operation), self._local_lock, self.engine.connect() as conn:
            yield conn

    @contextmanager
    def begin(self, operation: str) -> Iterator[sa.Connection]:
        """A plain (deferred) transaction, committed on normal exit, without the in-memory lock."""
        with self.guard(operation), self.engine.begin() as conn:
            yield conn

    def stream(
        self,
        operation: str,
        stmt: sa.Select[Any],
        convert: Callable[[sa.Row[Any]], _T],
        *,
        chunk_size: int,
        locked: bool = False,
    ) -> Iterator[_T]:
        """Yield ``convert(row)`` for every row, fetched ``chunk_size`` at a time.

        The connection (with the in-memory lock when ``locked``) is held until the iterator is
        exhausted or closed.
        """
        opened = self.read(operation) if locked else self.connect(operation)
        with opened as conn:
            result = conn.execution_options(yield_per=chunk_size).execute(stmt)
            try:
                for row in result:
                    yield convert(row)
            finally:
                result.close()  # also when the caller stops early: frees the server-side cursor

    @contextmanager
    def connect(self, operation: str) -> Iterator[sa.Connection]:
        """One connection without the in-memory lock (the scan store's reads)."""
        with self.guard(operation), self.engine.connect() as conn:
            yield conn

    # -- inside a write transaction ------------------------------------------------------

    @staticmethod
    def append_audit(conn: sa.Connection, entries: Sequence[AuditEntry]) -> list[AuditEvent]:
        """Seal ``entries`` (already normalised) after the chain's last event and insert them.

        Must run inside a :meth:`write` transaction; takes the chain lock on PostgreSQL.
        """
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
        last = conn.execute(
            sa.select(AUDIT_EVENTS.c.seq, AUDIT_EVENTS.c.hash).order_by(AUDIT_EVENTS.c.seq.desc()).limit(1)
        ).first()
        if last is not None:
            seq, prev = int(last.seq), str(last.hash)
        else:  # empty: a new chain, or every row was archived and the chain goes on from the anchor
            anchor = current_anchor(conn)
            seq, prev = (anchor.seq, anchor.hash) if anchor is not None else (0, GENESIS)

        def org_head(org_id: str) -> tuple[int, str]:
            c = AUDIT_EVENTS.c
            stmt = sa.select(c.org_seq, c.org_hash).where(c.org_id == org_id, c.org_seq.is_not(None))
            row = conn.execute(stmt.order_by(c.org_seq.desc()).limit(1)).first()
            return (int(row.org_seq), str(row.org_hash)) if row is not None else (0, GENESIS)

        events = seal_after(entries, seq, prev, org_head)
        conn.execute(AUDIT_EVENTS.insert(), [audit_row(e) for e in events])
        return events

    @staticmethod
    def check_epoch(conn: sa.Connection, org_id: str, epoch: int) -> None:
        """Raise ``FencedOut`` unless ``epoch`` is the current leader epoch of ``org_id``.

        Must run inside the write transaction it guards. On PostgreSQL the epoch row is locked
        ``FOR SHARE`` until that transaction ends: a new leader's bump waits for it, and a
        transaction that waited for a bump reads the bumped epoch. On SQLite the write lock
        (``BEGIN IMMEDIATE``) already excludes the bump.
        """
        stmt = sa.select(LEADER_EPOCHS.c.epoch).where(LEADER_EPOCHS.c.org_id == org_id)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(read=True)
        current = conn.execute(stmt).scalar()
        if current is None or int(current) != epoch:
            raise FencedOut(org_id, epoch, None if current is None else int(current))

    @staticmethod
    def replace_row(conn: sa.Connection, table: sa.Table, row: dict[str, Any], key: str) -> None:
        """Insert ``row``, or replace every other column of the row with the same ``key``."""
        stmt = dialect_insert(conn, table)
        if stmt is None:
            raise StoreError(f"unsupported database dialect {conn.dialect.name!r}")
        update = {c: stmt.excluded[c] for c in row if c != key}
        conn.execute(stmt.on_conflict_do_update(index_elements=[key], set_=update), row)


class EngineStore:
    """A store on one :class:`Database`: its engine, masked URL and closing."""

    _db: Database

    @property
    def database(self) -> Database:
        """The database this store (and every store sharing it) uses."""
        return self._db

    @property
    def engine(self) -> sa.Engine:
        """The underlying engine."""
        return self._db.engine

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return self._db.url

    def close(self) -> None:
        """Release every pooled connection. The store can still be used afterwards (it reconnects)."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
