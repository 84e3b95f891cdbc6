"""SQL storage of chat conversation references (Teams), on the lifecycle store's engine.

Implements ``core.ports.ConversationStore``: saving a record replaces the previous one for the
same person and kind (or the same channel), so the newest ``serviceUrl`` (regional, may move)
always wins. Emails are stored lower-case and looked up case-insensitively. A store has a
``scope`` (the org, in a deployment of several): it reads and replaces only its own rows, so two
orgs' bots talking to one person keep a reference each.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from adapters.store.database import Database, EngineStore
from adapters.store.rows import conversation_from_row, conversation_row
from adapters.store.teams_tables import CHAT_CONVERSATIONS
from core.ports import ConversationRecord

_KIND_RANK = {"personal": 0, "member": 1}


def conversation_key(record: ConversationRecord) -> str:
    """The primary key of a record: one per (platform, kind, tenant, user) or (platform, channel)."""
    if record.kind == "channel":
        if not record.channel_id:
            raise ValueError("a channel record needs a channel_id")
        return f"{record.platform}|channel|{record.channel_id}"
    if record.kind not in _KIND_RANK:
        raise ValueError(f"unknown conversation kind {record.kind!r} (expected personal, member or channel)")
    if not record.user_id:
        raise ValueError(f"a {record.kind} record needs a user_id")
    return f"{record.platform}|{record.kind}|{record.tenant}|{record.user_id}"


def _best(rows: list[sa.Row[Any]]) -> ConversationRecord | None:
    records = [conversation_from_row(r) for r in rows]
    if not records:
        return None
    records.sort(key=lambda r: r.updated_at, reverse=True)
    records.sort(key=lambda r: _KIND_RANK.get(r.kind, 9))
    return records[0]


class SqlTeamsStore:
    """``ConversationStore`` over the lifecycle database (table ``chat_conversations``)."""

    def __init__(self, lifecycle: EngineStore | Database, scope: str = "") -> None:
        """Use the database of ``lifecycle`` (the lifecycle store), or ``lifecycle`` itself when it is one."""
        self._db = lifecycle if isinstance(lifecycle, Database) else lifecycle.database
        self.scope = scope

    def save_conversation(self, record: ConversationRecord) -> None:
        """Insert or replace the record with the same key."""
        key = conversation_key(record) if not self.scope else f"{self.scope}|{conversation_key(record)}"
        row = {**conversation_row(key, record), "scope": self.scope}
        with self._db.write("saving a conversation reference") as conn:
            conn.execute(sa.delete(CHAT_CONVERSATIONS).where(CHAT_CONVERSATIONS.c.conv_key == key))
            conn.execute(sa.insert(CHAT_CONVERSATIONS), row)

    def conversation_for_user(self, platform: str, tenant: str, user_id: str) -> ConversationRecord | None:
        """``personal`` before ``member``."""
        c = CHAT_CONVERSATIONS.c
        stmt = sa.select(CHAT_CONVERSATIONS).where(
            c.scope == self.scope,
            c.platform == platform,
            c.tenant == tenant,
            c.user_id == user_id,
            c.kind.in_(tuple(_KIND_RANK)),
        )
        with self._db.read("reading a conversation reference") as conn:
            return _best(list(conn.execute(stmt)))

    def conversation_for_email(self, platform: str, email: str) -> ConversationRecord | None:
        """``personal`` before ``member``, newest first."""
        c = CHAT_CONVERSATIONS.c
        stmt = sa.select(CHAT_CONVERSATIONS).where(
            c.scope == self.scope, c.platform == platform, c.email == email.lower(), c.kind.in_(tuple(_KIND_RANK))
        )
        with self._db.read("reading a conversation reference") as conn:
            return _best(list(conn.execute(stmt)))

    def conversation_for_channel(self, platform: str, channel_id: str) -> ConversationRecord | None:
        """A stored channel, or None."""
        c = CHAT_CONVERSATIONS.c
        stmt = sa.select(CHAT_CONVERSATIONS).where(
            c.scope == self.scope, c.platform == platform, c.kind == "channel", c.channel_id == channel_id
        )
        with self._db.read("reading a channel reference") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else conversation_from_row(row)
