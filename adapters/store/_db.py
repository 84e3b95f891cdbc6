"""What the SQL stores share: masked URLs, error reasons, UTC times, dialect inserts and the engine wrapper."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from core.errors import StoreError


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


def aware(value: datetime, what: str) -> datetime:
    """``value`` in UTC; ``ValueError`` naming ``what`` when it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def aware_or_none(value: datetime | None, what: str) -> datetime | None:
    """:func:`aware`, passing ``None`` through."""
    return None if value is None else aware(value, what)


def parse_iso(value: str) -> datetime:
    """An ISO 8601 time stored as text, in UTC (a naive one is taken as UTC)."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An ``INSERT`` with ``ON CONFLICT`` support for PostgreSQL and SQLite; ``None`` on other dialects."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return pg_dialect.insert(table)
    if dialect == "sqlite":
        return sqlite_dialect.insert(table)
    return None


class EngineStore:
    """A store on one SQLAlchemy engine: the engine, its masked URL, closing, SQLAlchemy errors as ``StoreError``."""

    _engine: sa.Engine

    @property
    def engine(self) -> sa.Engine:
        """The underlying engine."""
        return self._engine

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return mask_url(self._engine.url)

    def close(self) -> None:
        """Release every pooled connection. The store can still be used afterwards (it reconnects)."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _guard(self, operation: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(f"{operation} failed on database {self.url}: {reason(exc, self._engine.url)}") from exc
