"""Leader election among replicas, with a fencing epoch per leadership (:class:`core.ports.LeaderLock`).

Public API::

    from adapters.store import leader_for
    leader = leader_for(database_url, leader_url=os.environ.get("LEADER_DATABASE_URL"))
    epoch = leader.acquire(org_id)          # None: another replica leads; try again later
    engine = Engine(..., epoch=epoch)       # every ledger write is fenced by the epoch
    ... before the next scheduled run: leader.still_leader() (False: acquire again) ...
    leader.release()

PostgreSQL (:class:`PostgresLeader`): a session-level advisory lock
(``pg_try_advisory_lock``) on a 64-bit key derived from the org id (:func:`leader_key`),
held by a **dedicated** psycopg connection in autocommit mode, never one of the
SQLAlchemy pool (the key includes the connection's ``current_schema()``, where its
``leader_epochs`` lives). Postgres releases the lock by itself when that session ends (the process
died, the connection was terminated), so a crashed leader frees the org at once.

Session advisory locks break behind a transaction-mode pooler (PgBouncer and the like): the
lock is taken on one server connection and the unlock lands on another, and an orphaned lock
can freeze every replica until the pooler recycles the server connection. So the leader URL
(``LEADER_DATABASE_URL`` when the application URL goes through a pooler) must be a direct,
non-pooled connection to the **same database and schema** as the stores. The lock refuses to
work (:class:`PoolerDetected`) when the connection does not behave like a direct one: the
backend pid the handshake announced differs from ``pg_backend_pid()`` (poolers answer the
handshake themselves), or ``pg_locks`` does not show the lock held by this very backend right
after taking it.

Each new leadership bumps ``leader_epochs.epoch`` of the org (migration 0003) on the same
connection. :class:`adapters.store.lifecycle_store.SqlLifecycleStore` checks the epoch in
the transaction of every fenced write (``claim``, ``set_entry_state``, ``lock_case``) and
raises :class:`core.errors.FencedOut` for a stale one: a leader that paused or lost its lock
connection without noticing cannot write to the ledger any more.

What fencing does not cover: Atlassian. The epoch guards the *ledger*; an HTTP write that a
stale leader had already committed as ``REQUESTED`` still goes out when it wakes up. The new
leader reconciles ``REQUESTED`` entries by reading the account first, so the duplicate is
only possible if that read happens before the stale write lands: the engine leaves an older
epoch's ``REQUESTED`` entries alone for a grace longer than the HTTP timeout
(``Engine._maybe_in_flight``). ``still_leader`` is checked by the bot's service before each
scheduled run (``bot.service.Service.lead``); within a run, the fenced ledger writes
(:class:`core.errors.FencedOut`) are what stop a stale leader.

SQLite (:class:`SqliteLeader`): one host, so a file lock: ``flock(LOCK_EX | LOCK_NB)`` on
``<database file>.leader.lock`` (one leader process per database file, whatever the org),
released by the kernel when the process dies; the epoch lives in the same ``leader_epochs``
table. Neither class creates the table: open the stores first (they migrate).

Both classes are thread-safe; their methods block (a database round trip), so async code
calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from adapters.store.database import make_engine, mask_url, normalise_url, reason
from adapters.store.tables import LEADER_EPOCHS
from core.errors import StoreError

__all__ = [
    "LEADER_DATABASE_URL_ENV",
    "LeaderLockError",
    "PoolerDetected",
    "PostgresLeader",
    "SqliteLeader",
    "default_holder",
    "leader_for",
    "leader_key",
]

log = logging.getLogger(__name__)

#: The environment variable ``serve`` reads the direct (non-pooled) leader connection URL from.
LEADER_DATABASE_URL_ENV = "LEADER_DATABASE_URL"

_BUMP_SQL = """
INSERT INTO leader_epochs (org_id, epoch, holder, acquired_at) VALUES (%s, 1, %s, now())
ON CONFLICT (org_id) DO UPDATE
SET epoch = leader_epochs.epoch + 1, holder = EXCLUDED.holder, acquired_at = EXCLUDED.acquired_at
RETURNING epoch
"""

# Is the advisory lock ``%s`` (high 32 bits, low 32 bits) held by this very backend?
# A bigint key shows in pg_locks as classid = high half, objid = low half, objsubid = 1.
_HELD_SQL = """
SELECT pg_backend_pid(), EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1
)
"""
# The same, plus the org's current epoch: what ``still_leader`` checks in one round trip.
_STATUS_SQL = """
SELECT pg_backend_pid(), EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1
), (SELECT epoch FROM leader_epochs WHERE org_id = %s)
"""


# Live replicas of a schema: sessions holding a two-key presence lock in its namespace (objsubid 2).
_PRESENT_SQL = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid::bigint = (%s::int & 4294967295)
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def presence_namespace(schema: str, group: str = "") -> int:
    """The signed 32-bit first key of the presence locks of ``schema``'s replicas of ``group``."""
    digest = hashlib.sha256(f"jira-cleanup:replicas:{schema}:{group}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


class LeaderLockError(StoreError):
    """The leader lock cannot be used safely (no ``leader_epochs`` table, an unsupported URL...)."""


class PoolerDetected(LeaderLockError):
    """The leader connection goes through a connection pooler: session advisory locks are unsafe there."""


def leader_key(org_id: str, schema: str = "public") -> int:
    """The signed 64-bit advisory lock key of ``org_id``'s leadership in ``schema`` (stable across versions).

    Advisory locks are per database, epochs per schema (``leader_epochs``): the schema is part
    of the key, so deployments (or test runs) in other schemas of one database never contend.
    """
    digest = hashlib.sha256(f"jira-cleanup:leader:{schema}:{org_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def default_holder() -> str:
    """``host:pid:random``: unique per process, readable in ``leader_epochs.holder`` and ``pg_stat_activity``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _halves(key: int) -> tuple[int, int]:
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


class _Leadership:
    """What both leader locks share: the org led and its epoch, re-acquiring, closing."""

    holder: str
    _org: str | None
    _epoch: int | None

    @property
    def org_id(self) -> str | None:
        """The org this object leads, or None."""
        return self._org

    @property
    def epoch(self) -> int | None:
        """The fencing epoch of the current leadership, or None."""
        return self._epoch

    def still_leader(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def _held_or_released(self, org_id: str) -> bool:
        """Before a new ``acquire``: True when ``org_id`` is still led by us; else release a lost leadership."""
        if self.still_leader():
            if self._org == org_id:
                return True
            raise RuntimeError(f"{self.holder} already leads org {self._org!r}: release() first")
        self.release()
        return False

    def close(self) -> None:
        """Same as :meth:`release`."""
        self.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


# --------------------------------------------------------------------------- PostgreSQL


class _PgSession:
    """The dedicated lock connection of a :class:`PostgresLeader` and its siblings."""

    def __init__(self) -> None:
        self.mutex = threading.RLock()
        #: This replica's presence lock key (second half) and whether the session holds it.
        self.member = int.from_bytes(os.urandom(4), "big", signed=True)
        self.present = False
        self.conn: Any = None  # psycopg.Connection (imported lazily: an optional dependency)
        self.pid: int | None = None
        self.schema = "public"
        #: The orgs the siblings lead right now (the connection closes when none is left).
        self.leading: set[str] = set()


class PostgresLeader(_Leadership):
    """Leadership of one org at a time through a session advisory lock on a dedicated connection.

    ``dsn`` is a SQLAlchemy (``postgresql+psycopg://``) or libpq (``postgresql://``) URL of a
    *direct* connection to the stores' database and schema. ``holder`` names this replica
    (default :func:`default_holder`). ``lock_timeout`` bounds how long the epoch bump waits for
    the old leader's in-flight fenced transactions (it then gives up: ``acquire`` returns None).
    TCP keepalives (client and server side) and ``tcp_user_timeout`` make a vanished peer
    noticed within about ``keepalive_s`` × 3 seconds.

    ``acquire`` raises :class:`PoolerDetected` for a pooled connection, :class:`LeaderLockError`
    when the ``leader_epochs`` table is missing and :class:`StoreError` when the database is
    unreachable (standbys retry later); ``still_leader`` and ``release`` never raise.
    """

    def __init__(
        self,
        dsn: str,
        *,
        holder: str | None = None,
        connect_timeout: float = 10.0,
        lock_timeout: float = 5.0,
        statement_timeout: float = 10.0,
        keepalive_s: int = 10,
    ) -> None:
        url = normalise_url(dsn)
        if url.get_backend_name() != "postgresql":
            raise LeaderLockError(f"PostgresLeader needs a PostgreSQL URL, not {mask_url(url)}")
        self._url: URL = url
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.holder = holder or default_holder()
        self.connect_timeout = connect_timeout
        self.lock_timeout = lock_timeout
        self.statement_timeout = statement_timeout
        self.keepalive_s = keepalive_s
        self._session = _PgSession()
        self._mutex = self._session.mutex
        self._org: str | None = None
        self._key: int | None = None
        self._epoch: int | None = None

    def sibling(self) -> PostgresLeader:
        """A leader for another org over the same lock connection (one session leads many orgs).

        Each org has its own advisory lock and epoch; the connection closes when no sibling
        leads any more (or fails, which ends every sibling's leadership at once, as Postgres
        frees every lock of a session that ends).
        """
        other = PostgresLeader.__new__(PostgresLeader)
        other.__dict__.update(self.__dict__)
        other._org = other._key = other._epoch = None
        return other

    # The connection is the session's, shared by siblings.
    @property
    def _conn(self) -> Any:
        return self._session.conn

    @_conn.setter
    def _conn(self, value: Any) -> None:
        self._session.conn = value

    @property
    def _pid(self) -> int | None:
        return self._session.pid

    @_pid.setter
    def _pid(self, value: int | None) -> None:
        self._session.pid = value

    # -- read-only state -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """The leader connection URL, password masked."""
        return mask_url(self._url)

    @property
    def lock_key(self) -> int | None:
        """The advisory lock key held while leading (:func:`leader_key` of the org and schema), or None."""
        return self._key

    @property
    def backend_pid(self) -> int | None:
        """The server process id of the lock connection while it is open (for ``pg_terminate_backend``)."""
        return self._pid

    # -- the connection ------------------------------------------------------------------

    def _usable(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.closed and not conn.broken

    def _connect(self) -> Any:
        if self._usable():
            return self._conn
        self._drop()
        import psycopg

        ms_statement = max(1, int(self.statement_timeout * 1000))
        try:
            conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=max(1, round(self.connect_timeout)),
                application_name=f"jira-cleanup-leader {self.holder}"[:63],
                keepalives=1,
                keepalives_idle=self.keepalive_s,
                keepalives_interval=max(1, self.keepalive_s // 2),
                keepalives_count=3,
                tcp_user_timeout=self.keepalive_s * 3 * 1000,
            )
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the leader connection to {self.url}: {reason(exc, self._url)}") from exc
        try:
            # The server notices a vanished client (and frees the lock) after the same keepalives.
            conn.execute(f"SET tcp_keepalives_idle = {int(self.keepalive_s)}")
            conn.execute(f"SET tcp_keepalives_interval = {max(1, self.keepalive_s // 2)}")
            conn.execute("SET tcp_keepalives_count = 3")
            conn.execute(f"SET statement_timeout = {ms_statement}")
            if conn.info.server_version >= 140000:
                conn.execute("SET idle_session_timeout = 0")  # an idle leader session must not be cut
            server_pid, schema = conn.execute("SELECT pg_backend_pid(), current_schema()").fetchone() or (None, None)
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"cannot set up the leader connection to {self.url}: {reason(exc, self._url)}") from exc
        announced = int(conn.info.backend_pid)
        if server_pid != announced:  # PgBouncer & co. answer the handshake with their own key data
            conn.close()
            raise PoolerDetected(
                f"the leader connection {self.url} goes through a connection pooler (the handshake announced "
                f"backend pid {announced}, the server runs this session in pid {server_pid}): session advisory "
                f"locks are unsafe behind a pooler. Set {LEADER_DATABASE_URL_ENV} to a direct connection to the "
                "same database (for PgBouncer, the PostgreSQL host and port behind it)"
            )
        if schema is None:
            conn.close()
            raise LeaderLockError(f"{self.url}: no schema of the search_path exists (migrate the stores first)")
        self._conn, self._pid, self._session.schema = conn, server_pid, str(schema)
        return conn

    def _drop(self) -> None:
        conn, self._conn, self._pid = self._conn, None, None
        self._session.present = False
        self._session.leading.clear()  # Postgres frees every lock of the session with it
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # closing a broken connection must not mask the real problem
                log.debug("closing the leader connection failed: %s", exc)

    def _unlock_quietly(self, key: int) -> None:
        try:
            if self._usable():
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except Exception as exc:
            log.warning("could not release the leader lock on %s: %s", self.url, exc)

    # -- LeaderLock ----------------------------------------------------------------------

    def acquire(self, org_id: str) -> int | None:
        """Try once to lead ``org_id``: the new epoch, or None when another session holds the lock.

        Called again while leading ``org_id``, it returns the current epoch when still leader
        and competes anew (after a :meth:`release`) when leadership was lost. ``RuntimeError``
        while still leading another org.
        """
        import psycopg

        with self._mutex:
            if self._org is not None and self._held_or_released(org_id):
                return self._epoch
            if org_id in self._session.leading:  # advisory locks are re-entrant within one session
                raise RuntimeError(f"a sibling of {self.holder} already leads org {org_id!r}")
            conn = self._connect()
            key = leader_key(org_id, self._session.schema)
            try:
                got = bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])
            except psycopg.Error as exc:
                self._drop()
                raise StoreError(f"taking the leader lock on {self.url} failed: {reason(exc, self._url)}") from exc
            if not got:
                return None
            try:
                self._verify_held(conn, key)
                epoch = self._bump(conn, org_id)
            except PoolerDetected:
                self._unlock_quietly(key)
                self._drop()
                raise
            except psycopg.errors.LockNotAvailable:
                log.warning(
                    "org %r: took the leader lock but the old leader's transactions kept the epoch row locked "
                    "for more than %.1fs; giving the lock back",
                    org_id,
                    self.lock_timeout,
                )
                self._unlock_quietly(key)
                return None
            except psycopg.errors.UndefinedTable as exc:
                self._unlock_quietly(key)
                self._drop()
                raise LeaderLockError(
                    f"{self.url} has no leader_epochs table: open the stores first (they migrate the schema), and "
                    "make the leader URL point at the same database and schema"
                ) from exc
            except psycopg.Error as exc:
                self._unlock_quietly(key)
                self._drop()
                raise StoreError(f"bumping the leader epoch on {self.url} failed: {reason(exc, self._url)}") from exc
            self._org, self._key, self._epoch = org_id, key, epoch
            self._session.leading.add(org_id)
            log.info("leader of org %r with epoch %d (%s)", org_id, epoch, self.holder)
            return epoch

    def _verify_held(self, conn: Any, key: int) -> None:
        """``PoolerDetected`` unless ``pg_locks`` shows ``key`` held by this connection's own backend."""
        high, low = _halves(key)
        pid, held = conn.execute(_HELD_SQL, (high, low)).fetchone()
        if int(pid) != self._pid or not held:
            raise PoolerDetected(
                f"pg_try_advisory_lock succeeded on {self.url} but pg_locks does not show the lock held by this "
                f"session (expected backend pid {self._pid}, the check ran in pid {pid}): the connection is "
                f"pooled. Set {LEADER_DATABASE_URL_ENV} to a direct, non-pooled connection"
            )

    def _bump(self, conn: Any, org_id: str) -> int:
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = {max(1, int(self.lock_timeout * 1000))}")
            row = conn.execute(_BUMP_SQL, (org_id, self.holder)).fetchone()
        return int(row[0])

    def replicas(self, group: str = "") -> int:
        """How many replicas of ``group`` (e.g. the orgs they serve) run on this schema now, this one included.

        Each replica's lock session holds a *presence* lock: a two-key advisory lock whose first
        key is the namespace of the schema and group (:func:`presence_namespace`), so ``pg_locks``
        counts the live sessions without any table or coordinator; a dead replica's session, and
        its presence, end together. Replicas serving other sets of orgs are not counted: each
        replica's fair share is taken among those that could lead the same orgs. Raises
        :class:`StoreError` when the database is unreachable.
        """
        import psycopg

        with self._mutex:
            conn = self._connect()
            namespace = presence_namespace(self._session.schema, group)
            try:
                if not self._session.present:
                    conn.execute("SELECT pg_advisory_lock(%s, %s)", (namespace, self._session.member))
                    self._session.present = True
                row = conn.execute(_PRESENT_SQL, (namespace,)).fetchone()
            except psycopg.Error as exc:
                self._drop()
                raise StoreError(f"counting the replicas on {self.url} failed: {reason(exc, self._url)}") from exc
            return max(1, int(row[0]))

    def still_leader(self) -> bool:
        """True while the lock connection is alive, holds the lock and the org's epoch is still ours.

        One round trip; False for good once the connection failed (call ``release``, then
        ``acquire`` again to compete anew).
        """
        import psycopg

        with self._mutex:
            if self._org is None or self._key is None or not self._usable():
                return False
            high, low = _halves(self._key)
            try:
                pid, held, current = self._conn.execute(_STATUS_SQL, (high, low, self._org)).fetchone()
            except psycopg.Error as exc:
                log.warning("org %r: the leader connection failed (%s): leadership lost", self._org, exc)
                self._drop()
                return False
            if int(pid) != self._pid or not held:
                log.warning("org %r: the leader lock is no longer held by this session", self._org)
                return False
            if current is None or int(current) != self._epoch:
                log.warning("org %r: the epoch moved from %s to %s: leadership lost", self._org, self._epoch, current)
                return False
            return True

    def release(self) -> None:
        """Unlock (warning when Postgres says this session did not hold the lock); close the connection
        unless a sibling still leads on it."""
        import psycopg

        with self._mutex:
            org, key = self._org, self._key
            self._org = self._key = self._epoch = None
            self._session.leading.discard(org or "")
            if key is not None and self._usable():
                try:
                    unlocked = bool(self._conn.execute("SELECT pg_advisory_unlock(%s)", (key,)).fetchone()[0])
                except psycopg.Error as exc:
                    log.warning("org %r: releasing the leader lock failed (%s); closing the session frees it", org, exc)
                else:
                    if not unlocked:
                        log.warning(
                            "org %r: pg_advisory_unlock returned false: this session did not hold the leader lock "
                            "(is the leader connection pooled?)",
                            org,
                        )
            if not self._session.leading:
                self._drop()


# --------------------------------------------------------------------------- SQLite


class _FileLock:
    """The lock file descriptor of a :class:`SqliteLeader` and its siblings."""

    def __init__(self) -> None:
        self.mutex = threading.RLock()
        self.fd: int | None = None
        #: The orgs the siblings lead right now (the file lock is given back when none is left).
        self.leading: set[str] = set()


class SqliteLeader(_Leadership):
    """Leadership on one host: an exclusive ``flock`` on ``<database file>.leader.lock``.

    One process leads per database file (whatever the org; one object leads one org at a
    time). The kernel drops the lock when the process dies. ``database`` is a ``sqlite:///``
    URL or a file path; an in-memory database raises :class:`LeaderLockError`.
    """

    def __init__(self, database: str | Path, *, holder: str | None = None) -> None:
        text = str(database)
        url = normalise_url(text if text.startswith("sqlite") else f"sqlite:///{Path(text).expanduser()}")
        if url.get_backend_name() != "sqlite":
            raise LeaderLockError(f"SqliteLeader needs a SQLite database, not {mask_url(url)}")
        path = url.database or ""
        if path in ("", ":memory:") or path.startswith("file:") or url.query.get("mode") == "memory":
            raise LeaderLockError(f"{mask_url(url)}: use a SQLite database file for leader election")
        self.path = Path(path).expanduser().resolve()
        self.lock_path = self.path.with_name(self.path.name + ".leader.lock")
        self.holder = holder or default_holder()
        self._url = url
        self._engine: sa.Engine | None = None
        self._file = _FileLock()
        self._mutex = self._file.mutex
        self._org: str | None = None
        self._epoch: int | None = None

    def sibling(self) -> SqliteLeader:
        """A leader for another org sharing this one's file lock: the process that holds it leads them all."""
        other = SqliteLeader.__new__(SqliteLeader)
        other.__dict__.update(self.__dict__)
        other._engine, other._org, other._epoch = None, None, None
        return other

    @property
    def _fd(self) -> int | None:
        return self._file.fd

    @_fd.setter
    def _fd(self, value: int | None) -> None:
        self._file.fd = value

    def _db(self) -> sa.Engine:
        if self._engine is None:
            self._engine = make_engine(self._url)
        return self._engine

    def acquire(self, org_id: str) -> int | None:
        """Try once to lead ``org_id``: the new epoch, or None when another process holds the file lock.

        Called again while leading: as :meth:`PostgresLeader.acquire` (the current epoch while
        still leader, a fresh attempt after a loss, ``RuntimeError`` for another org).
        """
        with self._mutex:
            if self._org is not None and self._held_or_released(org_id):
                return self._epoch
            if org_id in self._file.leading:
                raise RuntimeError(f"a sibling of {self.holder} already leads org {org_id!r}")
            if self._fd is not None:  # a sibling holds the file lock: this process leads every org
                epoch = self._bump(org_id)
                self._org, self._epoch = org_id, epoch
                self._file.leading.add(org_id)
                log.info("leader of org %r with epoch %d (%s)", org_id, epoch, self.holder)
                return epoch
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return None
            try:
                os.ftruncate(fd, 0)
                os.write(fd, f"{self.holder} {org_id}\n".encode())
                epoch = self._bump(org_id)
            except BaseException:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                raise
            self._fd, self._org, self._epoch = fd, org_id, epoch
            self._file.leading.add(org_id)
            log.info("leader of org %r with epoch %d (%s)", org_id, epoch, self.holder)
            return epoch

    def _bump(self, org_id: str) -> int:
        insert = sqlite_dialect.insert(LEADER_EPOCHS).values(
            org_id=org_id, epoch=1, holder=self.holder, acquired_at=datetime.now(UTC)
        )
        stmt = insert.on_conflict_do_update(
            index_elements=["org_id"],
            set_={
                "epoch": LEADER_EPOCHS.c.epoch + 1,
                "holder": insert.excluded.holder,
                "acquired_at": insert.excluded.acquired_at,
            },
        ).returning(LEADER_EPOCHS.c.epoch)
        try:
            with self._db().connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                epoch = int(conn.execute(stmt).scalar_one())
                conn.commit()
        except SQLAlchemyError as exc:
            why = reason(exc, self._url)
            if "no such table" in why:
                raise LeaderLockError(
                    f"{mask_url(self._url)} has no leader_epochs table: open the stores first (they migrate)"
                ) from exc
            raise StoreError(f"bumping the leader epoch in {mask_url(self._url)} failed: {why}") from exc
        return epoch

    def replicas(self, group: str = "") -> int:
        """Always 1: one process leads every org of a SQLite database file (it is one host)."""
        return 1

    def still_leader(self) -> bool:
        """True while the file lock is held on the file at the lock path and the org's epoch is ours."""
        with self._mutex:
            if self._fd is None or self._org is None:
                return False
            try:
                if os.fstat(self._fd).st_ino != os.stat(self.lock_path).st_ino:
                    log.warning("org %r: the leader lock file was replaced: leadership lost", self._org)
                    return False
                stmt = sa.select(LEADER_EPOCHS.c.epoch).where(LEADER_EPOCHS.c.org_id == self._org)
                with self._db().connect() as conn:
                    current = conn.execute(stmt).scalar()
            except (OSError, SQLAlchemyError) as exc:
                log.warning("org %r: cannot confirm leadership (%s)", self._org, exc)
                return False
            return current is not None and int(current) == self._epoch

    def release(self) -> None:
        """Unlock and close the lock file (the file stays: deleting lock files races with other lockers)."""
        with self._mutex:
            self._file.leading.discard(self._org or "")
            self._org = self._epoch = None
            fd = self._fd
            if fd is not None and not self._file.leading:
                self._fd = None
                try:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                finally:
                    os.close(fd)
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


# --------------------------------------------------------------------------- factory


def leader_for(
    database_url: str, *, leader_url: str | None = None, holder: str | None = None
) -> PostgresLeader | SqliteLeader:
    """The leader lock for the stores at ``database_url``.

    PostgreSQL: a :class:`PostgresLeader` on ``leader_url`` when given (the value of
    ``LEADER_DATABASE_URL``: a direct connection, needed when ``database_url`` goes through a
    pooler), else on ``database_url`` itself; a pooled one is refused on ``acquire``.
    SQLite: a :class:`SqliteLeader` on the database file (``leader_url`` is not used).
    """
    url = normalise_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return SqliteLeader(database_url, holder=holder)
    if backend == "postgresql":
        return PostgresLeader(leader_url or database_url, holder=holder)
    raise LeaderLockError(f"no leader election for database {mask_url(url)}")


if TYPE_CHECKING:  # mypy proves both classes implement the LeaderLock protocol
    from core.ports import LeaderLock

    def _conforms(pg: PostgresLeader, lite: SqliteLeader) -> tuple[LeaderLock, LeaderLock]:
        return pg, lite
