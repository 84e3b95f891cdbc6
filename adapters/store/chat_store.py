"""SQL storage for chat: single-use button tokens and runtime protections.

Shares the lifecycle store's engine and transactions, so a protection change and its audit
event commit together, and consuming a token is one compare-and-set ``UPDATE``: of any number
of concurrent clicks exactly one gets ``OK``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa

from adapters.store.chat_tables import ACTION_TOKENS, PROTECTIONS, TOKEN_SLOTS
from adapters.store.database import Database, EngineStore, dialect_insert
from adapters.store.rows import token_from_row, token_row
from core.audit import AuditEntry, normalised
from core.chat import ActionToken, Actor, Purpose, TokenStatus, TokenUse, judge_use


class SqlChatStore:
    """Implements ``core.ports.TokenStore`` and ``core.ports.ProtectionStore`` on the lifecycle database."""

    def __init__(self, lifecycle: EngineStore | Database) -> None:
        """Use the database of ``lifecycle`` (the lifecycle store), or ``lifecycle`` itself when it is one."""
        self._db = lifecycle if isinstance(lifecycle, Database) else lifecycle.database

    # -- tokens -------------------------------------------------------------------------

    def save_token(self, token: ActionToken) -> None:
        """Insert a new token (its hash; the raw value is never stored)."""
        row = token_row(token)
        with self._db.write("saving a button token") as conn:
            conn.execute(sa.insert(ACTION_TOKENS), row)

    def save_token_if_none_open(self, token: ActionToken, now: datetime) -> ActionToken | None:
        """Store ``token`` unless a token of its org, purpose and subject is open at ``now``; None when stored.

        Atomic: the token takes its subject's row in ``token_slots`` (an insert that does nothing
        when the row exists, waiting for a concurrent one to commit), or replaces a holder that was
        used or expired with a compare-and-set; of concurrent calls exactly one stores its token.
        The others store nothing and get the open holder.
        """
        s = TOKEN_SLOTS.c
        slot = (s.org_id == token.org_id) & (s.purpose == token.purpose.value) & (s.subject == token.subject)
        key = {"org_id": token.org_id, "purpose": token.purpose.value, "subject": token.subject}
        with self._db.write("saving a token once per subject") as conn:
            insert = dialect_insert(conn, TOKEN_SLOTS)
            if insert is None:
                raise NotImplementedError(f"token slots need PostgreSQL or SQLite, not {conn.dialect.name}")
            stmt = insert.on_conflict_do_nothing(index_elements=["org_id", "purpose", "subject"])
            if conn.execute(stmt, {**key, "token_hash": token.token_hash}).rowcount != 1:
                held = conn.execute(sa.select(s.token_hash).where(slot)).scalar_one()
                holder = self._token_in(conn, held)
                if holder is not None and holder.used_at is None and holder.expires_at > now:
                    return holder
                moved = sa.update(TOKEN_SLOTS).where(slot, s.token_hash == held).values(token_hash=token.token_hash)
                if conn.execute(moved).rowcount != 1:  # another call replaced it first: theirs is open
                    current = self._token_in(conn, conn.execute(sa.select(s.token_hash).where(slot)).scalar_one())
                    if current is None:  # a slot and its token are written in one transaction
                        raise RuntimeError(f"token slot of {token.subject!r} names a missing token")
                    return current
            conn.execute(sa.insert(ACTION_TOKENS), token_row(token))
        return None

    @staticmethod
    def _token_in(conn: sa.Connection, token_hash: str) -> ActionToken | None:
        row = conn.execute(sa.select(ACTION_TOKENS).where(ACTION_TOKENS.c.token_hash == token_hash)).first()
        return None if row is None else token_from_row(row)

    def get_token(self, token_hash: str) -> ActionToken | None:
        """The token with this hash, or ``None``."""
        with self._db.read("reading a button token") as conn:
            row = conn.execute(sa.select(ACTION_TOKENS).where(ACTION_TOKENS.c.token_hash == token_hash)).first()
        return None if row is None else token_from_row(row)

    def consume_token(self, token_hash: str, actor: Actor, now: datetime) -> TokenUse:
        """Check the token for ``actor`` and mark it used with one compare-and-set update."""
        with self._db.write("using a button token") as conn:
            row = conn.execute(sa.select(ACTION_TOKENS).where(ACTION_TOKENS.c.token_hash == token_hash)).first()
            token = None if row is None else token_from_row(row)
            status = judge_use(token, actor, now)
            if status is not TokenStatus.OK or token is None:
                return TokenUse(status, token)
            changed = conn.execute(
                sa.update(ACTION_TOKENS)
                .where(ACTION_TOKENS.c.token_hash == token_hash, ACTION_TOKENS.c.used_at.is_(None))
                .values(used_at=now, used_by=actor.audit_id)
            ).rowcount
            if changed != 1:
                return TokenUse(TokenStatus.ALREADY_USED, token)
            return TokenUse(TokenStatus.OK, replace(token, used_at=now, used_by=actor.audit_id))

    def set_outcome(self, token_hash: str, outcome: str) -> None:
        """Record what the click did."""
        with self._db.write("recording a click's outcome") as conn:
            conn.execute(
                sa.update(ACTION_TOKENS).where(ACTION_TOKENS.c.token_hash == token_hash).values(outcome=outcome)
            )

    def attach_message(self, token_hashes: Iterable[str], message_ref: str) -> None:
        """Remember the message carrying these buttons."""
        hashes = list(token_hashes)
        if not hashes:
            return
        with self._db.write("attaching a message to buttons") as conn:
            conn.execute(
                sa.update(ACTION_TOKENS).where(ACTION_TOKENS.c.token_hash.in_(hashes)).values(message_ref=message_ref)
            )

    def count_issued(self, org_id: str, purpose: Purpose, subject: str, since: datetime) -> int:
        """Tokens of ``purpose`` about ``subject`` issued since ``since``."""
        stmt = (
            sa.select(sa.func.count())
            .select_from(ACTION_TOKENS)
            .where(
                ACTION_TOKENS.c.org_id == org_id,
                ACTION_TOKENS.c.purpose == purpose.value,
                ACTION_TOKENS.c.subject == subject,
                ACTION_TOKENS.c.created_at >= since,
            )
        )
        with self._db.read("counting button tokens") as conn:
            return int(conn.execute(stmt).scalar_one())

    def open_tokens(self, org_id: str, purpose: Purpose, subject: str | None, now: datetime) -> list[ActionToken]:
        """Tokens of ``purpose`` about ``subject`` (None: any) neither used nor expired at ``now``, oldest first."""
        t = ACTION_TOKENS.c
        where = [t.org_id == org_id, t.purpose == purpose.value, t.used_at.is_(None), t.expires_at > now]
        if subject is not None:
            where.append(t.subject == subject)
        stmt = sa.select(ACTION_TOKENS).where(*where).order_by(t.created_at, t.token_hash)
        with self._db.read("reading open button tokens") as conn:
            return [token_from_row(row) for row in conn.execute(stmt)]

    # -- protections --------------------------------------------------------------------

    def protections(self, org_id: str) -> tuple[frozenset[str], frozenset[str]]:
        """(accounts, groups) protected from chat in ``org_id``."""
        with self._db.read("reading protections") as conn:
            rows = conn.execute(
                sa.select(PROTECTIONS.c.kind, PROTECTIONS.c.value).where(PROTECTIONS.c.org_id == org_id)
            ).all()
        accounts = frozenset(r.value for r in rows if r.kind == "account")
        groups = frozenset(r.value for r in rows if r.kind == "group")
        return accounts, groups

    def set_protection(self, org_id: str, kind: str, value: str, protected: bool, audit: AuditEntry) -> None:
        """Add or remove a protection and append its audit event in one transaction."""
        if kind not in ("account", "group"):
            raise ValueError(f"unknown protection kind {kind!r} (expected account or group)")
        value_key = value.lower() if "@" in value else value
        entry = normalised(audit)
        with self._db.write(f"changing the protection of {kind} {value_key!r}") as conn:
            key = (PROTECTIONS.c.org_id == org_id) & (PROTECTIONS.c.kind == kind) & (PROTECTIONS.c.value == value_key)
            conn.execute(sa.delete(PROTECTIONS).where(key))
            if protected:
                conn.execute(
                    sa.insert(PROTECTIONS),
                    {
                        "org_id": org_id,
                        "kind": kind,
                        "value": value_key,
                        "added_at": entry.at,
                        "added_by": entry.actor,
                    },
                )
            self._db.append_audit(conn, [entry])
