"""Fixtures: ``database_url`` and ``store`` run every test on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.store import SqlStore, create_store

from .pg import postgres_schema_url, postgres_url

__all__ = ["database_url", "postgres_url", "store"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database: a SQLite file under a temp dir, or a private PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'sub' / 'store.db'}"
        return
    with postgres_schema_url() as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    """A migrated :class:`SqlStore` on ``database_url``, closed after the test."""
    sql_store = create_store(database_url)
    try:
        yield sql_store
    finally:
        sql_store.close()
