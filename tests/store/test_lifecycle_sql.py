"""SQL-only lifecycle store behaviour: tampering is detected, the audit table is append-only,
the schema has its partial index, the factories work and errors are StoreErrors."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
import sqlalchemy as sa

from adapters.store import SqlLifecycleStore, SqlStore, create_lifecycle_store, open_stores
from adapters.store.tables import OPEN_CASE_STATES
from core.audit import AuditEvent, verify_chain
from core.errors import StoreError
from core.lifecycle import CaseState
from core.model import AccountId, DirectoryId, Org, OrgId
from core.ports import LifecycleStore, ScanStore
from tests.fakes import make_account

from .lifecycle_data import NOW, ORG, audit, make_case


def fill(store: SqlLifecycleStore, count: int = 6) -> list[AuditEvent]:
    events = [store.append_audit(audit(f"a{n}", minute=n, reason=f"event {n}")) for n in range(count)]
    assert verify_chain(store.iter_audit()).ok
    return events


@contextmanager
def tamper(store: SqlLifecycleStore) -> Iterator[sa.Connection]:
    """A raw transaction that may rewrite ``audit_events`` (the PostgreSQL trigger is bypassed on purpose)."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))  # superuser only
        else:  # whoever holds the SQLite file can drop the append-only triggers
            for name in ("audit_events_no_update", "audit_events_no_delete"):
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
        yield conn


@pytest.mark.parametrize("k", [1, 3, 6])
def test_changing_one_byte_of_a_row_is_reported_at_that_row(sql_lifecycle_store: SqlLifecycleStore, k: int) -> None:
    fill(sql_lifecycle_store)
    with tamper(sql_lifecycle_store) as conn:
        changed = conn.execute(
            sa.text("UPDATE audit_events SET reason = 'E' || substr(reason, 2) WHERE seq = :k"), {"k": k}
        )
        assert changed.rowcount == 1
    report = verify_chain(sql_lifecycle_store.iter_audit())
    assert (report.ok, report.bad_seq, report.checked) == (False, k, k - 1)
    assert "changed" in report.problem


@pytest.mark.parametrize("k", [1, 3, 5])
def test_deleting_a_row_is_reported_at_that_row(sql_lifecycle_store: SqlLifecycleStore, k: int) -> None:
    fill(sql_lifecycle_store)
    with tamper(sql_lifecycle_store) as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE seq = :k"), {"k": k})
    report = verify_chain(sql_lifecycle_store.iter_audit())
    assert (report.ok, report.bad_seq) == (False, k)


def test_swapping_two_rows_is_reported(sql_lifecycle_store: SqlLifecycleStore) -> None:
    fill(sql_lifecycle_store)
    with tamper(sql_lifecycle_store) as conn:
        for old, new in ((2, -1), (5, 2), (-1, 5)):
            conn.execute(sa.text("UPDATE audit_events SET seq = :new WHERE seq = :old"), {"old": old, "new": new})
    report = verify_chain(sql_lifecycle_store.iter_audit())
    assert (report.ok, report.bad_seq) == (False, 2)


def test_rewriting_a_row_and_its_hash_breaks_the_next_row(sql_lifecycle_store: SqlLifecycleStore) -> None:
    events = fill(sql_lifecycle_store)
    with tamper(sql_lifecycle_store) as conn:
        conn.execute(sa.text("UPDATE audit_events SET hash = :h WHERE seq = 3"), {"h": "0" * 64})
    report = verify_chain(sql_lifecycle_store.iter_audit())
    assert (report.ok, report.bad_seq) == (False, 3)
    assert len(events) == 6


def test_the_application_cannot_rewrite_the_audit_trail(sql_lifecycle_store: SqlLifecycleStore) -> None:
    """Triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) even for the table's owner."""
    store = sql_lifecycle_store
    fill(store, 3)
    statements = ["UPDATE audit_events SET reason = 'x' WHERE seq = 2", "DELETE FROM audit_events WHERE seq = 2"]
    if store.engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_events")
    for statement in statements:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert verify_chain(store.iter_audit()).checked == 3


def test_store_offers_no_way_to_change_the_audit_trail() -> None:
    methods = {name for name in dir(SqlLifecycleStore) if "audit" in name and not name.startswith("_")}
    assert methods == {"append_audit", "audit_anchor", "audit_head", "iter_audit"}  # append and read, nothing else


def test_partial_unique_index_is_in_the_database(sql_lifecycle_store: SqlLifecycleStore) -> None:
    assert {s.value for s in CaseState if s.is_open} == set(OPEN_CASE_STATES)
    engine = sql_lifecycle_store.engine
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            ddl = conn.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE name = 'ux_cases_open_org_id_account_id_rule'")
            ).scalar_one()
        else:
            ddl = conn.execute(
                sa.text(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                    "AND indexname = 'ux_cases_open_org_id_account_id_rule'"
                )
            ).scalar_one()
    assert "UNIQUE" in ddl.upper()
    assert "WHERE" in ddl.upper()
    assert all(state in ddl for state in OPEN_CASE_STATES)


def test_sql_lifecycle_store_satisfies_the_protocol(sql_lifecycle_store: SqlLifecycleStore) -> None:
    store: LifecycleStore = sql_lifecycle_store
    assert store.is_paused(ORG) is False
    assert sql_lifecycle_store.url.startswith(("sqlite", "postgresql"))


def test_open_stores_share_one_migrated_engine(database_url: str) -> None:
    scans, lifecycle = open_stores(database_url)
    try:
        assert scans.engine is lifecycle.engine
        scan_store: ScanStore = scans
        scan_store.upsert_org(Org(OrgId(ORG), DirectoryId("dir-1"), "Acme"))
        lifecycle.create_case(make_case(), audit())
        assert lifecycle.get_case("case-1") == make_case()
    finally:
        lifecycle.close()
        scans.close()
    again = create_lifecycle_store(database_url)  # reopening finds the data, migration is idempotent
    try:
        assert again.get_case("case-1") == make_case()
        assert verify_chain(again.iter_audit()).checked == 1
    finally:
        again.close()


def test_scheduled_for_deletion_round_trips(store: SqlStore) -> None:
    run_id = store.start_scan(ORG, NOW, "policy")
    flagged = replace(make_account("acc-flagged", now=NOW), scheduled_for_deletion=True)
    plain = make_account("acc-plain", now=NOW)
    store.save_accounts(run_id, ORG, [flagged, plain])
    assert store.get_account(run_id, AccountId("acc-flagged")) == flagged
    assert store.get_account(run_id, AccountId("acc-plain")) == plain
    assert [a.scheduled_for_deletion for a in store.iter_accounts(run_id)] == [True, False]


def _closed_port() -> int:
    """A local TCP port nobody listens on (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_database_is_a_store_error_with_the_password_masked() -> None:
    port = _closed_port()
    for factory in (create_lifecycle_store, open_stores):
        with pytest.raises(StoreError) as caught:
            factory(f"postgresql://jira:s3cr%40t-pw@127.0.0.1:{port}/cleanup")
        message = str(caught.value)
        assert "s3cr" not in message
        assert f"postgresql+psycopg://jira:***@127.0.0.1:{port}/cleanup" in message


def test_database_failures_are_store_errors(sql_lifecycle_store: SqlLifecycleStore) -> None:
    with sql_lifecycle_store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE controls"))
    with pytest.raises(StoreError, match="pause switch"):
        sql_lifecycle_store.is_paused(ORG)
    with pytest.raises(StoreError, match="pause switch"):
        sql_lifecycle_store.set_paused(ORG, True, audit("pause"))
    assert list(sql_lifecycle_store.iter_audit()) == []  # the failed switch left no audit event


def test_in_memory_sqlite_works_from_threads() -> None:
    """``sqlite://`` shares one connection: the store serialises its transactions itself."""
    lifecycle = create_lifecycle_store("sqlite://")
    try:
        barrier = threading.Barrier(4)

        def work(i: int) -> None:
            barrier.wait()
            for n in range(5):
                lifecycle.append_audit(audit(f"t{i}.{n}"))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert verify_chain(lifecycle.iter_audit()).checked == 20
    finally:
        lifecycle.close()


@pytest.mark.postgres
def test_serve_as_a_role_with_only_insert_and_select_on_the_audit_table(postgres_url: str) -> None:
    """The README's PostgreSQL set-up: migrations as the owner, the bot as a role that can only append.

    That role works (the store appends and reads), but cannot delete audit rows, nor switch the
    append-only trigger off, nor drop it: only the owner could, and the bot never runs as the owner.
    """
    import uuid

    from sqlalchemy.engine import make_url

    owner = create_lifecycle_store(postgres_url)  # migrates
    fill(owner, 2)
    role = f"jc_bot_{uuid.uuid4().hex[:10]}"
    schema = make_url(postgres_url).query["options"].split("=", 1)[1]
    with owner.engine.begin() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(sa.text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
        conn.execute(sa.text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
        conn.execute(sa.text(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'))
        conn.execute(sa.text(f'REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM "{role}"'))
    bot_url = make_url(postgres_url).set(username=role).render_as_string(hide_password=False)
    bot = create_lifecycle_store(bot_url)
    try:
        bot.append_audit(audit("a9", minute=9, reason="appended by the bot's role"))
        assert verify_chain(bot.iter_audit()).checked == 3
        for statement in (
            "DELETE FROM audit_events WHERE seq = 3",
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete",
            "DROP TRIGGER audit_events_no_update_delete ON audit_events",
        ):
            with pytest.raises(sa.exc.DBAPIError, match=r"permission denied|must be owner"), bot.engine.begin() as conn:
                conn.execute(sa.text(statement))
    finally:
        bot.close()
        with owner.engine.begin() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
            conn.execute(sa.text(f'DROP ROLE "{role}"'))
        owner.close()


def test_archiving_keeps_the_chain_verifiable_from_the_anchor(sql_lifecycle_store: SqlLifecycleStore) -> None:
    """The owner's archive step (triggers lifted for the delete only) leaves a chain that continues."""
    from adapters.store.audit_archive import archive_audit

    store = sql_lifecycle_store
    events = fill(store, 5)
    assert archive_audit(store.engine, events[2], "archive.csv", NOW) == 3
    anchor = store.audit_anchor()
    assert (anchor.seq, anchor.hash) == (3, events[2].hash)
    assert [e.seq for e in store.iter_audit()] == [4, 5]
    assert verify_chain(store.iter_audit(), anchor).ok
    assert not verify_chain(store.iter_audit()).ok  # without the anchor the start is missing
    assert store.append_audit(audit("later", minute=9)).seq == 6
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE seq = 4"))  # the triggers are back
