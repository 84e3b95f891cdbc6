"""A migrated database (SQLite file or private PostgreSQL schema) plus the leaders made on it, for tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from adapters.store import PostgresLeader, SqliteLeader, SqlLifecycleStore, create_lifecycle_store, leader_for
from core.clock import FixedClock

from .pg import postgres_schema_url

__all__ = ["Db", "open_db"]


@dataclass
class Db:
    """A migrated database (SQLite file or private PostgreSQL schema) and the leaders made on it."""

    url: str
    store: SqlLifecycleStore
    leaders: list[PostgresLeader | SqliteLeader] = field(default_factory=list)

    @property
    def postgres(self) -> bool:
        return self.url.startswith("postgresql")

    def leader(self, holder: str, **kwargs: Any) -> PostgresLeader | SqliteLeader:
        made: PostgresLeader | SqliteLeader
        made = PostgresLeader(self.url, holder=holder, **kwargs) if kwargs else leader_for(self.url, holder=holder)
        self.leaders.append(made)
        return made

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.store.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def terminate(self, pid: int | None) -> bool:
        """End a server session and wait (up to 10 s) until it is gone, its advisory locks with it.

        Plain ``pg_terminate_backend(pid)`` only signals the backend: right after it returns the session
        may still hold its locks, so a check that follows could see it alive.
        """
        return bool(self.scalar("SELECT pg_terminate_backend(:pid, 10000)", pid=pid))


@contextmanager
def open_db(kind: str, tmp_path: Path, clock: FixedClock) -> Iterator[Db]:
    """Stores migrated on ``kind`` (sqlite | postgresql); every leader made through it is released afterwards."""
    with ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'leader.db'}" if kind == "sqlite" else stack.enter_context(postgres_schema_url())
        store = create_lifecycle_store(url, clock=clock)
        made = Db(url, store)
        try:
            yield made
        finally:
            for leader in made.leaders:
                leader.release()
            store.close()
