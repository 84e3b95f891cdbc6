"""Failures surface as StoreError naming the database, never its password."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.store import SqlStore, create_store, mask_url
from adapters.store.sql_store import normalise_url
from core.errors import CleanupError, StoreError

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def closed_port() -> int:
    """A local TCP port nobody listens on (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "postgresql", "postgres"])
def test_unreachable_postgres_is_a_store_error_with_the_password_masked(scheme: str) -> None:
    port = closed_port()
    with pytest.raises(StoreError) as caught:
        create_store(f"{scheme}://jira:s3cr%40t-pw@127.0.0.1:{port}/cleanup")
    message = str(caught.value)
    assert isinstance(caught.value, CleanupError)
    assert "s3cr" not in message
    assert "%40" not in message
    assert f"postgresql+psycopg://jira:***@127.0.0.1:{port}/cleanup" in message
    assert "cannot open database" in message


def test_postgres_urls_are_rewritten_to_psycopg() -> None:
    assert normalise_url("postgres://u:p@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u:p@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///./jira-cleanup.db").drivername == "sqlite"
    assert normalise_url("postgres://u:p@h/db").password == "p"


def test_mask_url_hides_passwords_even_in_unparseable_urls() -> None:
    assert mask_url("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_url("sqlite:///./jira-cleanup.db") == "sqlite:///./jira-cleanup.db"
    assert "secret" not in mask_url("::not a url://u:secret@h/db")


def test_invalid_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="invalid database URL"):
        create_store("not a database url")


def test_unknown_driver_is_a_store_error() -> None:
    with pytest.raises(StoreError, match=r"nosuchdb://u:\*\*\*@h/db"):
        create_store("nosuchdb://u:pw@h/db")


def test_sqlite_directory_that_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="a-file"):
        create_store(f"sqlite:///{blocker / 'db' / 'store.db'}")


def test_sqlite_file_and_its_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "jira-cleanup.db"
    store = create_store(f"sqlite:///{path}")
    try:
        assert path.is_file()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.close()


def test_in_memory_sqlite_is_one_shared_database() -> None:
    with create_store("sqlite://") as store:
        run_id = store.start_scan("org-1", NOW, "p")
        assert store.get_scan(run_id).status == "running"


def test_a_database_failure_mid_use_is_a_store_error(store: SqlStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE planned_decisions"))
    with pytest.raises(StoreError, match="reading decisions of scan 'r1' failed on database") as caught:
        list(store.iter_decisions("r1"))
    assert store.url in str(caught.value)
    assert isinstance(caught.value.__cause__, sa.exc.SQLAlchemyError)
