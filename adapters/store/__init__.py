"""Persistence with sqlmodel/SQLAlchemy (SQLite or PostgreSQL), migrated by Alembic.

Public API::

    from adapters.store import SqlStore, create_store
    store = create_store("sqlite:///./jira-cleanup.db")   # or postgresql+psycopg://...

    from adapters.store import open_stores
    scans, lifecycle = open_stores(url)   # ScanStore + LifecycleStore on one engine

See :mod:`adapters.store.sql_store` for the URL convention and the guarantees of the scan
store, and :mod:`adapters.store.lifecycle_store` for the lifecycle store's transactions.
"""

from adapters.store.lifecycle_store import (
    SqlCaseTransaction,
    SqlLifecycleStore,
    create_lifecycle_store,
    open_stores,
)
from adapters.store.migrate import upgrade
from adapters.store.sql_store import DEFAULT_DATABASE_URL, SqlStore, create_store, make_engine, mask_url

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SqlCaseTransaction",
    "SqlLifecycleStore",
    "SqlStore",
    "create_lifecycle_store",
    "create_store",
    "make_engine",
    "mask_url",
    "open_stores",
    "upgrade",
]
