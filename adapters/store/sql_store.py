"""The SQL implementation of :class:`core.ports.ScanStore` (SQLite and PostgreSQL).

Database URL convention: the bot uses ``sqlite:///./jira-cleanup.db`` unless the
``DATABASE_URL`` setting says otherwise. This module never reads the environment; the bot's
settings pass the URL to :func:`create_store`. PostgreSQL URLs may be written
``postgresql+psycopg://``, ``postgresql://`` or ``postgres://``; the last two are rewritten to
the psycopg 3 driver.

Design notes:

* The table classes in :mod:`adapters.store.tables` are storage shapes; :mod:`adapters.store.rows`
  maps them to and from the core's frozen dataclasses, so ``Account`` and ``Decision`` round-trip
  exactly. Engines, URLs and transactions are :mod:`adapters.store.database`'s.
* Pages are written with one Core ``INSERT ... ON CONFLICT DO UPDATE`` executemany per page,
  in one transaction, so re-saving the same (run, account[, rule]) replaces the row.
* Reads of decisions and accounts stream (``yield_per``; a server-side cursor on PostgreSQL).
* Every SQLAlchemy error becomes :class:`core.errors.StoreError`, whose message names the
  database URL with the password masked. Statement parameters never appear in messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select

from adapters.store.database import (
    SQLITE_BUSY_TIMEOUT_S,
    Database,
    EngineStore,
    dialect_insert,
    make_engine,
    mask_url,
    normalise_url,
    open_engine,
)
from adapters.store.rows import (
    account_from_row,
    account_row,
    aware,
    aware_or_none,
    decision_from_row,
    decision_row,
    scan_from_row,
)
from adapters.store.tables import (
    ACCOUNT_SNAPSHOTS,
    API_TOKEN_EVIDENCE,
    ORGS,
    PLANNED_DECISIONS,
    SCAN_RUNS,
    ScanRunRow,
)
from core.model import Account, ApiEvidence, ApiUse, Org
from core.planner import Decision, PlanSummary
from core.ports import ApiEvidenceStore, ScanRun, ScanStore
from core.report import summary_to_mapping

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SCAN_STATUSES",
    "SQLITE_BUSY_TIMEOUT_S",
    "Database",
    "SqlStore",
    "create_store",
    "make_engine",
    "mask_url",
    "normalise_url",
]

#: The database the bot uses when ``DATABASE_URL`` is not set (resolved by the bot's settings).
DEFAULT_DATABASE_URL = "sqlite:///./jira-cleanup.db"

#: Valid values of ``ScanRun.status``.
SCAN_STATUSES: frozenset[str] = frozenset({"running", "completed", "failed"})

_FINAL_STATUSES = frozenset({"completed", "failed"})
_T = TypeVar("_T")


def create_store(database_url: str) -> SqlStore:
    """Open the store at ``database_url`` and upgrade its schema to the newest migration.

    Raises :class:`StoreError` naming the (password-masked) URL when the database is
    unreachable, refuses the connection or cannot be migrated.
    """
    return SqlStore(open_engine(database_url))


def _last_wins(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Drop earlier duplicates of a key within one page (one upsert may not touch a row twice)."""
    by_key = {tuple(r[k] for k in keys): r for r in rows}
    return list(by_key.values()) if len(by_key) != len(rows) else rows


# --------------------------------------------------------------------------- the store


class SqlStore(EngineStore):
    """A :class:`core.ports.ScanStore` on a SQLAlchemy engine (SQLite or PostgreSQL).

    The engine's schema must already be migrated (:func:`create_store` does it). Every
    method is synchronous and thread-safe (one connection per call from the engine's pool);
    database failures raise :class:`StoreError` with the masked URL, naive datetimes raise
    ``ValueError``, unknown scan ids raise ``KeyError`` (a ``LookupError``).
    """

    def __init__(
        self,
        engine: sa.Engine | Database,
        *,
        clock: Callable[[], datetime] | None = None,
        chunk_size: int = 1000,
    ) -> None:
        """Wrap ``engine`` (or a shared :class:`Database`).

        ``clock`` stamps org rows (default: UTC now); reads stream ``chunk_size`` rows at a time.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        self._db = Database.of(engine)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._chunk_size = chunk_size

    # -- writing and streaming ------------------------------------------------------------

    def _upsert(
        self,
        conn: sa.Connection,
        table: sa.Table,
        rows: list[dict[str, Any]],
        keys: tuple[str, ...],
        *,
        keep: tuple[str, ...] = (),
    ) -> None:
        """Insert ``rows``, replacing rows with the same ``keys`` (columns in ``keep`` are left as they were)."""
        if not rows:
            return
        stmt = dialect_insert(conn, table)
        if stmt is None:  # other dialects: delete the old versions, then insert
            key_match = sa.and_(*(table.c[k] == sa.bindparam(f"key_{k}") for k in keys))
            conn.execute(table.delete().where(key_match), [{f"key_{k}": r[k] for k in keys} for r in rows])
            conn.execute(table.insert(), rows)
            return
        update = {c: stmt.excluded[c] for c in rows[0] if c not in keys and c not in keep}
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), rows)

    def _stream(self, operation: str, stmt: sa.Select[Any], convert: Callable[[sa.Row[Any]], _T]) -> Iterator[_T]:
        return self._db.stream(operation, stmt, convert, chunk_size=self._chunk_size)

    # -- ScanStore ------------------------------------------------------------------------

    def upsert_org(self, org: Org) -> None:
        """Record ``org`` or update its directory id and name (``created_at`` is kept)."""
        now = self._clock()
        row = {
            "org_id": org.org_id,
            "directory_id": org.directory_id,
            "name": org.name,
            "created_at": now,
            "updated_at": now,
        }
        with self._db.begin(f"saving org {org.org_id!r}") as conn:
            self._upsert(conn, ORGS, [row], ("org_id",), keep=("created_at",))

    def start_scan(self, org_id: str, started_at: datetime, policy_hash: str) -> str:
        """Create a ``running`` scan of ``org_id`` and return its id (a uuid4 hex string).

        An org that was never upserted is recorded with an empty directory id and name, so a
        scan can always start; :meth:`upsert_org` fills them in later.
        """
        started = aware(started_at, "started_at")
        run_id = uuid.uuid4().hex
        now = self._clock()
        with self._db.begin(f"starting a scan of org {org_id!r}") as conn:
            exists = conn.execute(sa.select(ORGS.c.org_id).where(ORGS.c.org_id == org_id)).first()
            if exists is None:
                placeholder = {"org_id": org_id, "directory_id": "", "name": "", "created_at": now, "updated_at": now}
                insert = dialect_insert(conn, ORGS)
                if insert is None:
                    conn.execute(ORGS.insert(), placeholder)
                else:
                    conn.execute(insert.on_conflict_do_nothing(index_elements=["org_id"]), placeholder)
            conn.execute(
                SCAN_RUNS.insert(),
                {
                    "run_id": run_id,
                    "org_id": org_id,
                    "started_at": started,
                    "finished_at": None,
                    "status": "running",
                    "policy_hash": policy_hash,
                    "plan_hash": None,
                    "accounts": 0,
                    "summary": None,
                    "error": None,
                },
            )
        return run_id

    def save_accounts(self, run_id: str, org_id: str, accounts: Sequence[Account]) -> None:
        """Store one page of the account snapshot of ``run_id`` in one transaction.

        Idempotent: an account saved again for the same run replaces the earlier snapshot
        (within a page, the last occurrence wins). An unknown ``run_id`` raises ``StoreError``.
        """
        rows = _last_wins([account_row(run_id, org_id, a) for a in accounts], ("run_id", "account_id"))
        with self._db.begin(f"saving {len(rows)} accounts of scan {run_id!r}") as conn:
            self._upsert(conn, ACCOUNT_SNAPSHOTS, rows, ("run_id", "account_id"))

    def save_decisions(self, run_id: str, org_id: str, decisions: Sequence[Decision]) -> None:
        """Store one page of planned decisions of ``run_id`` in one transaction.

        Idempotent: a decision saved again for the same (run, account, rule) replaces the
        earlier one. An unknown ``run_id`` raises ``StoreError``.
        """
        keys = ("run_id", "account_id", "rule")
        rows = _last_wins([decision_row(run_id, org_id, d) for d in decisions], keys)
        with self._db.begin(f"saving {len(rows)} decisions of scan {run_id!r}") as conn:
            self._upsert(conn, PLANNED_DECISIONS, rows, keys)

    def finish_scan(
        self,
        run_id: str,
        finished_at: datetime,
        *,
        status: str,
        plan_hash: str | None,
        accounts: int,
        summary: PlanSummary | None,
        error: str | None = None,
    ) -> None:
        """Close scan ``run_id`` as ``completed`` or ``failed`` (``ValueError`` otherwise).

        The summary is stored as :func:`core.report.summary_to_mapping` data. Raises
        ``KeyError`` for an unknown ``run_id``. Finishing twice overwrites the outcome.
        """
        if status not in _FINAL_STATUSES:
            raise ValueError(f"a scan finishes as 'completed' or 'failed', not {status!r}")
        values = {
            "finished_at": aware(finished_at, "finished_at"),
            "status": status,
            "plan_hash": plan_hash,
            "accounts": accounts,
            "summary": summary_to_mapping(summary) if summary is not None else None,
            "error": error,
        }
        with self._db.begin(f"finishing scan {run_id!r}") as conn:
            result = conn.execute(SCAN_RUNS.update().where(SCAN_RUNS.c.run_id == run_id).values(**values))
            if result.rowcount == 0:
                raise KeyError(f"unknown scan run {run_id!r}")

    def get_scan(self, run_id: str) -> ScanRun:
        """Load scan ``run_id``; raises ``KeyError`` (a ``LookupError``) when there is none."""
        with self._db.guard(f"loading scan {run_id!r}"), Session(self._db.engine) as session:
            row = session.get(ScanRunRow, run_id)
            if row is None:
                raise KeyError(f"unknown scan run {run_id!r}")
            return scan_from_row(row)

    def latest_scan(self, org_id: str) -> ScanRun | None:
        """The most recently started scan of ``org_id`` (any status), or ``None``."""
        scans = self.list_scans(org_id, limit=1)
        return scans[0] if scans else None

    def list_scans(self, org_id: str | None = None, limit: int = 20) -> list[ScanRun]:
        """Up to ``limit`` scans, most recently started first, of ``org_id`` or of every org."""
        if limit < 1:
            return []
        stmt = select(ScanRunRow)
        if org_id is not None:
            stmt = stmt.where(col(ScanRunRow.org_id) == org_id)
        stmt = stmt.order_by(col(ScanRunRow.started_at).desc(), col(ScanRunRow.run_id).desc()).limit(limit)
        with self._db.guard("listing scans"), Session(self._db.engine) as session:
            return [scan_from_row(row) for row in session.exec(stmt)]

    def iter_decisions(self, run_id: str) -> Iterator[Decision]:
        """Stream every stored decision of ``run_id``, ordered by (account id, rule) by code point.

        Rows are fetched ``chunk_size`` at a time; the connection is held until the iterator
        is exhausted or closed. An unknown ``run_id`` yields nothing.
        """
        stmt = (
            sa.select(PLANNED_DECISIONS)
            .where(PLANNED_DECISIONS.c.run_id == run_id)
            .order_by(PLANNED_DECISIONS.c.account_id, PLANNED_DECISIONS.c.rule)
        )
        return self._stream(f"reading decisions of scan {run_id!r}", stmt, decision_from_row)

    def get_account(self, run_id: str, account_id: str) -> Account | None:
        """The snapshot of ``account_id`` in ``run_id``, or ``None`` when it was not saved."""
        stmt = sa.select(ACCOUNT_SNAPSHOTS).where(
            ACCOUNT_SNAPSHOTS.c.run_id == run_id, ACCOUNT_SNAPSHOTS.c.account_id == account_id
        )
        with self._db.connect(f"loading account {account_id!r} of scan {run_id!r}") as conn:
            row = conn.execute(stmt).first()
        return account_from_row(row) if row is not None else None

    # -- ApiEvidenceStore -----------------------------------------------------------------

    def recall_api_use(self, org_id: str, account_ids: Sequence[str]) -> Mapping[str, ApiEvidence]:
        """The evidence kept for those of ``account_ids`` that have any (one query per 500 ids)."""
        table, found = API_TOKEN_EVIDENCE, {}
        ids = sorted(set(account_ids))
        with self._db.connect(f"reading API-token evidence of org {org_id!r}") as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                stmt = sa.select(table).where(table.c.org_id == org_id, table.c.account_id.in_(chunk))
                for row in conn.execute(stmt):
                    api = ApiUse(known=True, label=row.label, last_access=row.last_access)
                    found[row.account_id] = ApiEvidence(row.account_id, api, row.read_at)
        return found

    def remember_api_use(self, org_id: str, evidence: Sequence[ApiEvidence]) -> None:
        """Keep the known ``evidence``, replacing what was kept for the same accounts."""
        rows = [
            {
                "org_id": org_id,
                "account_id": e.account_id,
                "label": e.api.label,
                "last_access": aware_or_none(e.api.last_access, "last_access"),
                "read_at": aware(e.read_at, "read_at"),
            }
            for e in evidence
            if e.api.known
        ]
        with self._db.write(f"keeping API-token evidence of org {org_id!r}") as conn:
            self._upsert(conn, API_TOKEN_EVIDENCE, _last_wins(rows, ("org_id", "account_id")), ("org_id", "account_id"))

    # -- extras for the CLI ---------------------------------------------------------------

    def iter_accounts(self, run_id: str) -> Iterator[Account]:
        """Stream the account snapshot of ``run_id`` ordered by account id (same order as decisions).

        Lets a caller merge accounts with :meth:`iter_decisions` (e.g. for the preview CSV)
        without one query per account.
        """
        stmt = (
            sa.select(ACCOUNT_SNAPSHOTS)
            .where(ACCOUNT_SNAPSHOTS.c.run_id == run_id)
            .order_by(ACCOUNT_SNAPSHOTS.c.account_id)
        )
        return self._stream(f"reading accounts of scan {run_id!r}", stmt, account_from_row)

    def count_decisions(self, run_id: str) -> Mapping[str, int]:
        """How many stored decisions of ``run_id`` carry each code (``warn``, ``skip:admin``...)."""
        stmt = (
            sa.select(PLANNED_DECISIONS.c.code, sa.func.count())
            .where(PLANNED_DECISIONS.c.run_id == run_id)
            .group_by(PLANNED_DECISIONS.c.code)
        )
        with self._db.connect(f"counting decisions of scan {run_id!r}") as conn:
            return {str(code): int(n) for code, n in conn.execute(stmt)}


if TYPE_CHECKING:  # mypy proves SqlStore implements every ScanStore method with the same signature

    def _conforms(store: SqlStore) -> ScanStore:
        return store

    def _keeps_evidence(store: SqlStore) -> ApiEvidenceStore:
        return store
