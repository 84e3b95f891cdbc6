"""Fixtures: ``database_url`` and ``store`` run every test on SQLite and on PostgreSQL.

Lifecycle store fixtures:

* ``lifecycle_clock``: the :class:`core.clock.FixedClock` the lifecycle stores stamp claims with.
* ``lifecycle_store``: a :class:`core.ports.LifecycleStore` on the in-memory fake, on SQLite
  and on PostgreSQL (three params: ``fake``, ``sqlite``, ``postgresql``), for contract tests.
* ``sql_lifecycle_store``: a migrated :class:`SqlLifecycleStore` on ``database_url`` (SQLite and
  PostgreSQL), for tests that need raw SQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.store import SqlLifecycleStore, SqlStore, create_lifecycle_store, create_store
from core.clock import FixedClock
from core.ports import LifecycleStore
from tests.fakes_lifecycle import FakeLifecycleStore

from .lifecycle_data import NOW as LIFECYCLE_NOW
from .pg import postgres_schema_url, postgres_url

__all__ = [
    "LIFECYCLE_NOW",
    "database_url",
    "lifecycle_clock",
    "lifecycle_store",
    "postgres_url",
    "sql_lifecycle_store",
    "store",
]


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


@pytest.fixture
def lifecycle_clock() -> FixedClock:
    """The clock the lifecycle store fixtures use (starts at :data:`LIFECYCLE_NOW`)."""
    return FixedClock(LIFECYCLE_NOW)


@pytest.fixture
def sql_lifecycle_store(database_url: str, lifecycle_clock: FixedClock) -> Iterator[SqlLifecycleStore]:
    """A migrated :class:`SqlLifecycleStore` on ``database_url``, closed after the test."""
    sql = create_lifecycle_store(database_url, clock=lifecycle_clock)
    try:
        yield sql
    finally:
        sql.close()


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def lifecycle_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, lifecycle_clock: FixedClock
) -> Iterator[LifecycleStore]:
    """The same contract on three stores: the in-memory fake, SQLite and PostgreSQL."""
    if request.param == "fake":
        yield FakeLifecycleStore(clock=lifecycle_clock)
        return
    if request.param == "sqlite":
        sql = create_lifecycle_store(
            f"sqlite:///{tmp_path_factory.mktemp('lifecycle') / 'store.db'}", clock=lifecycle_clock
        )
        try:
            yield sql
        finally:
            sql.close()
        return
    with postgres_schema_url() as url:
        sql = create_lifecycle_store(url, clock=lifecycle_clock)
        try:
            yield sql
        finally:
            sql.close()
