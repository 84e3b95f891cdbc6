"""Persistence with sqlmodel/SQLAlchemy (SQLite or PostgreSQL), migrated by Alembic.

Public API::

    from adapters.store import SqlStore, create_store
    store = create_store("sqlite:///./jira-cleanup.db")   # or postgresql+psycopg://...

    from adapters.store import open_stores
    scans, lifecycle = open_stores(url)   # ScanStore + LifecycleStore on one engine

    from adapters.store import leader_for
    leader = leader_for(url, leader_url=os.environ.get("LEADER_DATABASE_URL"))
    epoch = leader.acquire(org_id)        # LeaderLock: None while another replica leads

Layout: :mod:`adapters.store.database` is the one database object every store shares (engine,
transactions, ``BEGIN IMMEDIATE``, the audit chain append, the fencing check);
:mod:`adapters.store.rows` maps every table to and from the core's dataclasses. See
:mod:`adapters.store.sql_store` for the URL convention and the guarantees of the scan store,
and :mod:`adapters.store.lifecycle_store` for the lifecycle store's transactions.
"""

from adapters.store import slack_tables as _slack_tables  # noqa: F401  (registers the Slack OAuth tables)
from adapters.store.chat_store import SqlChatStore
from adapters.store.database import Database
from adapters.store.leader import (
    LEADER_DATABASE_URL_ENV,
    LeaderLockError,
    PoolerDetected,
    PostgresLeader,
    SqliteLeader,
    leader_for,
    leader_key,
)
from adapters.store.lifecycle_store import (
    SqlCaseTransaction,
    SqlLifecycleStore,
    create_lifecycle_store,
    open_stores,
)
from adapters.store.migrate import upgrade
from adapters.store.restore_store import SqlRestoreStore
from adapters.store.sql_store import DEFAULT_DATABASE_URL, SqlStore, create_store, make_engine, mask_url
from adapters.store.teams_store import SqlTeamsStore

__all__ = [
    "DEFAULT_DATABASE_URL",
    "LEADER_DATABASE_URL_ENV",
    "Database",
    "LeaderLockError",
    "PoolerDetected",
    "PostgresLeader",
    "SqlCaseTransaction",
    "SqlChatStore",
    "SqlLifecycleStore",
    "SqlRestoreStore",
    "SqlStore",
    "SqlTeamsStore",
    "SqliteLeader",
    "create_lifecycle_store",
    "create_store",
    "leader_for",
    "leader_key",
    "make_engine",
    "mask_url",
    "open_stores",
    "upgrade",
]
