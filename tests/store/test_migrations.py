"""The hand-written migrations build exactly the schema the table classes declare."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import adapters.store.tables  # noqa: F401  (registers the tables)
from adapters.store import create_store, make_engine
from adapters.store.migrate import (
    HEAD,
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)

TABLES = {
    "orgs",
    "scan_runs",
    "account_snapshots",
    "planned_decisions",
    "api_token_evidence",
    "cases",
    "ledger",
    "lifecycle_runs",
    "controls",
    "audit_events",
    "audit_anchors",
    "leader_epochs",
    "action_tokens",
    "protections",
    "chat_conversations",
    "restore_requests",
    "admin_threads",
    "slack_installations",
    "slack_oauth_states",
    "token_slots",
}


def _diffs(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_migration_creates_exactly_the_declared_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        assert _diffs(engine) == []
        assert set(sa.inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
        assert current_revision(engine) == head_revision() == "0014"
    finally:
        engine.dispose()


def test_the_head_constant_is_alembics_head_and_an_older_database_is_still_upgraded(database_url: str) -> None:
    assert head_revision() == HEAD
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0007")
        upgrade(engine)  # not at HEAD: the quick check must not skip it
        assert current_revision(engine) == HEAD
        assert _diffs(engine) == []
    finally:
        engine.dispose()


def test_0014_gives_each_warning_s_unused_keep_approval_its_slot_the_oldest_when_two_were_asked(
    database_url: str,
) -> None:
    """Approvals asked before 0014 hold their warning's slot, so a press after the upgrade does not ask again."""
    from datetime import UTC, datetime, timedelta

    from adapters.store.chat_tables import ACTION_TOKENS
    from adapters.store.rows import token_row
    from core.chat import Actor, Purpose, new_token

    now = datetime(2026, 12, 1, tzinfo=UTC)
    una = Actor("email", "", "una@acme.example")

    def token(subject: str, minutes: int, purpose: Purpose = Purpose.APPROVE_KEEP, used: bool = False):
        _, made = new_token(
            purpose, "org-1", subject, now + timedelta(minutes=minutes), timedelta(days=45), forbidden=una
        )
        return replace(made, used_at=now) if used else made

    first, twin = token("case-1", 0), token("case-1", 1)  # two presses at once asked twice before 0014
    rows = [first, twin, token("case-2", 0, used=True), token("case-3", 0, Purpose.APPROVE_RESTORE)]
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0013")
        with engine.begin() as conn:
            conn.execute(sa.insert(ACTION_TOKENS), [token_row(t) for t in rows])
        upgrade(engine)
        with engine.connect() as conn:
            slots = conn.execute(sa.text("SELECT org_id, purpose, subject, token_hash FROM token_slots")).all()
        assert [tuple(s) for s in slots] == [("org-1", "approve_keep", "case-1", first.token_hash)]
    finally:
        engine.dispose()


def test_a_command_on_a_migrated_database_does_not_load_alembic(tmp_path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path}/bot.db"
    upgrade(url)
    probe = (
        f"import sys; from adapters.store import create_store; create_store({url!r}); print('alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_ordering_columns_sort_by_code_point_on_postgres(database_url: str) -> None:
    """Alembic does not compare collations, so check the ``C`` collation directly."""
    store = create_store(database_url)
    try:
        if store.engine.dialect.name != "postgresql":
            columns = {c["name"]: c for c in sa.inspect(store.engine).get_columns("planned_decisions")}
            assert columns["rule"].get("collation") in (None, "BINARY")
            return
        query = sa.text(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_name IN ('account_id', 'rule') "
            "AND table_name IN ('account_snapshots', 'planned_decisions', 'cases')"
        )
        with store.engine.connect() as conn:
            rows = {(t, c): coll for t, c, coll in conn.execute(query)}
        assert rows == {
            ("account_snapshots", "account_id"): "C",
            ("planned_decisions", "account_id"): "C",
            ("planned_decisions", "rule"): "C",
            ("cases", "account_id"): "C",
            ("cases", "rule"): "C",
        }
    finally:
        store.close()


def test_upgrade_is_idempotent_and_accepts_a_url(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
        assert _diffs(engine) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        assert current_revision(engine) is None
        upgrade(engine)
        assert _diffs(engine) == []
    finally:
        engine.dispose()


def test_migration_files_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "__init__.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "__init__.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0002_lifecycle.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0003_leader.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0004_chat.py").is_file()


def test_offline_mode_renders_the_sql(capsys: pytest.CaptureFixture[str]) -> None:
    """``upgrade --sql`` works from the in-code config (handy for DBAs reviewing the DDL)."""
    config = alembic_config("postgresql+psycopg://user@localhost/db")
    command.upgrade(config, "head", sql=True)
    out = capsys.readouterr().out
    assert "CREATE TABLE planned_decisions" in out
    assert 'COLLATE "C"' in out
