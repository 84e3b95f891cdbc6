"""SQL storage for self-service restore requests, on the lifecycle store's database.

A request and its audit event commit together; decisions are compare-and-set updates on the
request's state, so of an admin's Approve and another's Deny exactly one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from adapters.store.database import Database, EngineStore
from adapters.store.restore_tables import RESTORE_REQUESTS
from adapters.store.rows import request_from_row, request_row
from core.audit import AuditEntry, normalised
from core.errors import StoreError
from core.restore_model import FINAL_STATES, RequestState, RestoreRequest


class SqlRestoreStore:
    """Implements ``core.ports.RestoreRequestStore``."""

    def __init__(self, lifecycle: EngineStore | Database) -> None:
        """Use the database of ``lifecycle`` (the lifecycle store), or ``lifecycle`` itself when it is one."""
        self._db = lifecycle if isinstance(lifecycle, Database) else lifecycle.database

    def create_request(self, request: RestoreRequest, audit: AuditEntry) -> bool:
        """Insert the request with its audit event; False when the id exists."""
        key = RESTORE_REQUESTS.c.request_id == request.request_id
        try:
            with self._db.write(f"saving restore request {request.request_id}") as conn:
                if conn.execute(sa.select(RESTORE_REQUESTS.c.request_id).where(key)).first() is not None:
                    return False
                conn.execute(sa.insert(RESTORE_REQUESTS), request_row(request))
                self._db.append_audit(conn, [normalised(audit)])
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):  # inserted concurrently by another replica
                return False
            raise
        return True

    def get_request(self, request_id: str) -> RestoreRequest:
        """One request; ``LookupError`` when unknown."""
        with self._db.read("reading a restore request") as conn:
            row = conn.execute(sa.select(RESTORE_REQUESTS).where(RESTORE_REQUESTS.c.request_id == request_id)).first()
        if row is None:
            raise LookupError(f"no restore request {request_id!r}")
        return request_from_row(row)

    def update_request(self, request: RestoreRequest, expected: RequestState, audit: AuditEntry) -> bool:
        """Compare-and-set on the state; the audit event commits only with the change."""
        values = request_row(request)
        del values["request_id"]
        with self._db.write(f"deciding restore request {request.request_id}") as conn:
            changed = conn.execute(
                sa.update(RESTORE_REQUESTS)
                .where(
                    RESTORE_REQUESTS.c.request_id == request.request_id,
                    RESTORE_REQUESTS.c.state == expected.value,
                )
                .values(**values)
            ).rowcount
            if changed != 1:
                return False
            self._db.append_audit(conn, [normalised(audit)])
        return True

    def count_requests(self, org_id: str, account_id: str, since: datetime) -> int:
        """Requests about the account since ``since``."""
        return self._count(org_id, account_id, since)

    def count_auto_restored(self, org_id: str, account_id: str, since: datetime) -> int:
        """Auto-approved requests about the account that restored it since ``since``."""
        return self._count(
            org_id,
            account_id,
            since,
            RESTORE_REQUESTS.c.route == "auto",
            RESTORE_REQUESTS.c.state == RequestState.RESTORED.value,
        )

    def pending_requests(self, org_id: str) -> Sequence[RestoreRequest]:
        """Requests waiting for an admin, oldest first."""
        return self._in_state(org_id, RequestState.PENDING)

    def approved_requests(self, org_id: str) -> Sequence[RestoreRequest]:
        """Requests approved whose restore is not done or failed yet (queued), oldest first."""
        return self._in_state(org_id, RequestState.APPROVED)

    def _in_state(self, org_id: str, state: RequestState) -> Sequence[RestoreRequest]:
        stmt = (
            sa.select(RESTORE_REQUESTS)
            .where(RESTORE_REQUESTS.c.org_id == org_id, RESTORE_REQUESTS.c.state == state.value)
            .order_by(RESTORE_REQUESTS.c.created_at, RESTORE_REQUESTS.c.request_id)
        )
        with self._db.read(f"listing {state.value} restore requests") as conn:
            return [request_from_row(row) for row in conn.execute(stmt)]

    def mark_told(self, request_id: str, at: datetime) -> None:
        """Record that the requester was told the final outcome."""
        with self._db.write(f"marking restore request {request_id} told") as conn:
            conn.execute(
                sa.update(RESTORE_REQUESTS).where(RESTORE_REQUESTS.c.request_id == request_id).values(told_at=at)
            )

    def untold_requests(self, org_id: str) -> Sequence[RestoreRequest]:
        """Decided requests whose requester has not been told yet, oldest first."""
        final = [s.value for s in FINAL_STATES]
        stmt = (
            sa.select(RESTORE_REQUESTS)
            .where(
                RESTORE_REQUESTS.c.org_id == org_id,
                RESTORE_REQUESTS.c.state.in_(final),
                RESTORE_REQUESTS.c.told_at.is_(None),
            )
            .order_by(RESTORE_REQUESTS.c.created_at, RESTORE_REQUESTS.c.request_id)
        )
        with self._db.read("listing untold restore requests") as conn:
            return [request_from_row(row) for row in conn.execute(stmt)]

    def _count(self, org_id: str, account_id: str, since: datetime, *extra: sa.ColumnElement[bool]) -> int:
        stmt = (
            sa.select(sa.func.count())
            .select_from(RESTORE_REQUESTS)
            .where(
                RESTORE_REQUESTS.c.org_id == org_id,
                RESTORE_REQUESTS.c.account_id == account_id,
                RESTORE_REQUESTS.c.created_at >= since,
                *extra,
            )
        )
        with self._db.read("counting restore requests") as conn:
            return int(conn.execute(stmt).scalar_one())
