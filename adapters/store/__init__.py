"""Persistence of scans with sqlmodel/SQLAlchemy (SQLite or PostgreSQL), migrated by Alembic.

Public API::

    from adapters.store import SqlStore, create_store
    store = create_store("sqlite:///./jira-cleanup.db")   # or postgresql+psycopg://...

See :mod:`adapters.store.sql_store` for the URL convention and the guarantees.
"""

from adapters.store.migrate import upgrade
from adapters.store.sql_store import DEFAULT_DATABASE_URL, SqlStore, create_store, make_engine, mask_url

__all__ = ["DEFAULT_DATABASE_URL", "SqlStore", "create_store", "make_engine", "mask_url", "upgrade"]
