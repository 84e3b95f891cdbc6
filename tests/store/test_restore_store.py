"""Restore request stores: the fake and SQL (SQLite, PostgreSQL) keep one contract."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.store import SqlRestoreStore, open_stores
from core.audit import AuditEntry, verify_chain
from core.chat import Actor
from core.restore_model import RequestState, RestoreRequest, request_id_for
from tests.fakes_chat import FakeRestoreStore
from tests.store.pg import postgres_schema_url

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
USER = Actor("email", "", "una@acme.example", "Una")


def _audit(action: str) -> AuditEntry:
    return AuditEntry(at=NOW, actor=USER.audit_id, action=action, outcome="ok", org_id="org-1", subject="a1")


def _request(request_id: str = "rq-1", **changes: object) -> RestoreRequest:
    base = RestoreRequest(
        request_id=request_id,
        org_id="org-1",
        account_id="a1",
        source="email",
        requester=USER,
        created_at=NOW,
        state=RequestState.PENDING,
        route="admin",
        reason="no auto-approve rule matches",
        reply_to="una@acme.example",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def restores(request, tmp_path):
    if request.param == "fake":
        yield FakeRestoreStore(), None
        return
    if request.param == "sqlite":
        scans, lifecycle = open_stores(f"sqlite:///{tmp_path}/restore.db")
        yield SqlRestoreStore(lifecycle), lifecycle
        lifecycle.close()
        scans.close()
        return
    with postgres_schema_url() as url:
        scans, lifecycle = open_stores(url)
        yield SqlRestoreStore(lifecycle), lifecycle
        lifecycle.close()
        scans.close()


def test_round_trip_and_duplicate_ids_are_refused(restores):
    store, lifecycle = restores
    request = _request(rule=None)
    assert store.create_request(request, _audit("restore.requested"))
    assert store.get_request("rq-1") == request
    assert not store.create_request(replace(request, reason="again"), _audit("restore.requested"))
    assert store.get_request("rq-1").reason == "no auto-approve rule matches"
    with pytest.raises(LookupError):
        store.get_request("rq-unknown")
    if lifecycle is not None:
        events = list(lifecycle.iter_audit())
        assert [e.entry.action for e in events] == ["restore.requested"]  # the refused duplicate wrote nothing
        assert verify_chain(events).ok


def test_decisions_are_compare_and_set(restores):
    store, _ = restores
    store.create_request(_request(), _audit("restore.requested"))
    approved = _request(state=RequestState.APPROVED, decided_at=NOW, decided_by="slack:T1/UADMIN")
    assert store.update_request(approved, RequestState.PENDING, _audit("restore.approved"))
    denied = _request(state=RequestState.DENIED, decided_by="slack:T1/UOTHER")
    assert not store.update_request(denied, RequestState.PENDING, _audit("restore.denied"))
    assert store.get_request("rq-1") == approved
    assert store.update_request(replace(approved, state=RequestState.RESTORED), RequestState.APPROVED, _audit("x"))
    assert store.get_request("rq-1").state is RequestState.RESTORED


def test_concurrent_deciders_exactly_one_wins(restores):
    store, _ = restores
    store.create_request(_request(), _audit("restore.requested"))
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def decide(i: int) -> None:
        barrier.wait()
        state = RequestState.APPROVED if i % 2 else RequestState.DENIED
        wins.append(store.update_request(_request(state=state), RequestState.PENDING, _audit("decide")))

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_counts_by_account_window_and_auto_restores(restores):
    store, _ = restores
    old = NOW - timedelta(days=40)
    store.create_request(_request("rq-old", created_at=old, route="auto", state=RequestState.RESTORED), _audit("a"))
    store.create_request(_request("rq-auto", route="auto", state=RequestState.RESTORED), _audit("a"))
    store.create_request(_request("rq-admin", route="admin", state=RequestState.RESTORED), _audit("a"))
    store.create_request(_request("rq-other", account_id="a2", route="auto", state=RequestState.RESTORED), _audit("a"))
    since = NOW - timedelta(days=30)
    assert store.count_requests("org-1", "a1", since) == 2
    assert store.count_requests("org-1", "a1", old) == 3
    assert store.count_auto_restored("org-1", "a1", since) == 1
    assert store.count_requests("org-2", "a1", old) == 0


def test_request_ids_for_redeliveries_are_stable():
    assert request_id_for("org-1", "jsm", "HELP-7") == request_id_for("org-1", "jsm", "HELP-7")
    assert request_id_for("org-1", "jsm", "HELP-7") != request_id_for("org-1", "jsm", "HELP-8")
    assert request_id_for("org-1", "jsm", "HELP-7") != request_id_for("org-2", "jsm", "HELP-7")
    assert len(request_id_for("org-1", "jsm", "HELP-7")) <= 64


def test_pending_requests_oldest_first_and_per_org(restores):
    store, _ = restores
    store.create_request(_request("rq-b", created_at=NOW + timedelta(minutes=1)), _audit("a"))
    store.create_request(_request("rq-a"), _audit("a"))
    store.create_request(_request("rq-done", state=RequestState.RESTORED), _audit("a"))
    store.create_request(_request("rq-other", org_id="org-2"), _audit("a"))
    assert [r.request_id for r in store.pending_requests("org-1")] == ["rq-a", "rq-b"]
    assert [r.request_id for r in store.pending_requests("org-2")] == ["rq-other"]
    store.create_request(_request("rq-queued", state=RequestState.APPROVED), _audit("a"))
    assert [r.request_id for r in store.approved_requests("org-1")] == ["rq-queued"]
    assert store.approved_requests("org-2") == []


def test_untold_final_requests_until_marked(restores):
    store, _ = restores
    store.create_request(_request("rq-pending"), _audit("a"))
    store.create_request(_request("rq-done", state=RequestState.RESTORED), _audit("a"))
    store.create_request(_request("rq-told", state=RequestState.DENIED, told_at=NOW), _audit("a"))
    assert [r.request_id for r in store.untold_requests("org-1")] == ["rq-done"]
    store.mark_told("rq-done", NOW + timedelta(hours=1))
    assert store.untold_requests("org-1") == []
    assert store.get_request("rq-done").told_at == NOW + timedelta(hours=1)
