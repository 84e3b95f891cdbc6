"""PostgreSQL for tests, with one decision point for "unreachable": skip locally, fail in CI.

Reuse from any test module::

    from tests.store.pg import postgres_schema_url, require_postgres

    def test_something():
        with postgres_schema_url() as url:      # a fresh, private schema; dropped afterwards
            store = create_store(url)
            ...

or pull the ready-made fixture into a ``conftest.py``: ``from tests.store.pg import postgres_url``.

The server is ``postgresql+psycopg://postgres@127.0.0.1:5432/test`` (trust auth) unless
``TEST_POSTGRES_URL`` says otherwise. When it cannot be reached, :func:`unavailable` fails the
test if the ``CI`` environment variable is set (PostgreSQL is required there) and skips it
otherwise.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_URL_ENV = "TEST_POSTGRES_URL"


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set (to anything but an explicit no)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def base_url() -> str:
    """The URL of the test PostgreSQL database (``TEST_POSTGRES_URL`` or the default)."""
    return os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


@functools.cache
def _probe(url: str) -> str | None:
    """``None`` when ``url`` answers ``SELECT 1``, else why not (probed once per process)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        orig = getattr(exc, "orig", None) or exc
        return f"{type(orig).__name__}: {' '.join(str(orig).split())}"
    finally:
        engine.dispose()
    return None


def unavailable(reason: str) -> NoReturn:
    """The single place that decides: fail when ``CI`` is set, skip otherwise."""
    where = make_url(base_url()).render_as_string(hide_password=True)
    if in_ci():
        pytest.fail(f"PostgreSQL is required when CI is set, but {where} is unreachable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL at {where} is unreachable ({reason}); set {POSTGRES_URL_ENV} or start it")


def require_postgres() -> str:
    """The base PostgreSQL URL, or skip/fail the current test via :func:`unavailable`."""
    url = base_url()
    reason = _probe(url)
    if reason is not None:
        unavailable(reason)
    return url


@contextmanager
def postgres_schema_url() -> Iterator[str]:
    """A URL whose ``search_path`` is a brand-new schema ``t_<uuid>``, dropped (cascade) on exit.

    Each test gets its own schema, so parallel runs never collide and migrations run fresh.
    Dispose engines made from the URL before leaving the block.
    """
    base = require_postgres()
    schema = f"t_{uuid.uuid4().hex}"
    admin = sa.create_engine(base, poolclass=sa.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL schema's URL for one test (skips, or fails under ``CI``, when unreachable)."""
    with postgres_schema_url() as url:
        yield url
