"""SQL storage of admin thread parents (table ``admin_threads``), on the lifecycle store's database.

Implements ``core.threads.ThreadStore``: one row per (org, request kind, request id, platform);
saving again for the same platform replaces the row, so a re-posted parent wins.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from adapters.store.chat_tables import ADMIN_THREADS
from adapters.store.database import Database, EngineStore
from core.threads import ThreadKey, ThreadKind, ThreadRef

T = ADMIN_THREADS.c


class SqlThreadStore:
    """``ThreadStore`` over the lifecycle database."""

    def __init__(self, lifecycle: EngineStore | Database) -> None:
        """Use the database of ``lifecycle`` (the lifecycle store), or ``lifecycle`` itself when it is one."""
        self._db = lifecycle if isinstance(lifecycle, Database) else lifecycle.database

    @staticmethod
    def _match(org_id: str, thread: ThreadKey) -> sa.ColumnElement[bool]:
        return sa.and_(T.org_id == org_id, T.kind == thread.kind.value, T.thread_key == thread.key)

    def save_thread(self, org_id: str, thread: ThreadKey, ref: ThreadRef) -> None:
        """Insert or replace the parent of ``thread`` on ``ref.platform``."""
        if not (ref.platform and ref.channel and ref.parent):
            raise ValueError("a thread reference needs a platform, a channel and a parent message id")
        row = {
            "org_id": org_id,
            "kind": thread.kind.value,
            "thread_key": thread.key,
            "platform": ref.platform,
            "channel": ref.channel,
            "parent": ref.parent,
            "text": ref.text,
            "created_at": datetime.now(UTC),
        }
        with self._db.write("saving an admin thread") as conn:
            conn.execute(sa.delete(ADMIN_THREADS).where(self._match(org_id, thread), T.platform == ref.platform))
            conn.execute(sa.insert(ADMIN_THREADS), row)

    def threads_of(self, org_id: str, thread: ThreadKey) -> list[ThreadRef]:
        """Every platform's parent of ``thread``, by platform name."""
        query = sa.select(T.platform, T.channel, T.parent, T.text).where(self._match(org_id, thread))
        with self._db.read("reading admin threads") as conn:
            rows = conn.execute(query.order_by(T.platform)).all()
        return [ThreadRef(r.platform, r.channel, r.parent, r.text) for r in rows]

    def thread_at(self, platform: str, channel: str, parent: str) -> tuple[str, ThreadKey] | None:
        """The org and request whose parent this is, or None."""
        query = sa.select(T.org_id, T.kind, T.thread_key).where(
            T.platform == platform, T.channel == channel, T.parent == parent
        )
        with self._db.read("finding an admin thread") as conn:
            row = conn.execute(query.limit(1)).first()
        if row is None:
            return None
        return str(row.org_id), ThreadKey(ThreadKind(row.kind), str(row.thread_key))
