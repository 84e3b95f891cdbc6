"""Token and protection stores: the fake and SQL (SQLite, PostgreSQL) keep one contract."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from adapters.store import open_stores
from adapters.store.chat_store import SqlChatStore
from core.audit import AuditEntry, verify_chain
from core.chat import Actor, Purpose, TokenStatus, new_token
from tests.fakes_chat import FakeProtectionStore, FakeTokenStore
from tests.store.pg import postgres_schema_url

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
USER = Actor("slack", "T1", "U1", "Una")
EVE = Actor("slack", "T1", "U9", "Eve")


class FakeChat(FakeTokenStore, FakeProtectionStore):
    def __init__(self) -> None:
        FakeTokenStore.__init__(self)
        FakeProtectionStore.__init__(self)


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def chat(request, tmp_path):
    if request.param == "fake":
        yield FakeChat(), None
        return
    if request.param == "sqlite":
        scans, lifecycle = open_stores(f"sqlite:///{tmp_path}/chat.db")
        yield SqlChatStore(lifecycle), lifecycle
        lifecycle.close()
        scans.close()
        return
    with postgres_schema_url() as url:
        scans, lifecycle = open_stores(url)
        yield SqlChatStore(lifecycle), lifecycle
        lifecycle.close()
        scans.close()


def test_token_round_trip_and_single_use(chat):
    """A stored token comes back equal; it can be used once, by its intended user only."""
    store, _ = chat
    raw, token = new_token(Purpose.KEEP, "org-1", "case-1", NOW, timedelta(days=1), intended=USER, account_id="a1")
    store.save_token(token)
    assert store.get_token(token.token_hash) == token
    assert raw not in repr(store.get_token(token.token_hash))
    assert store.consume_token(token.token_hash, EVE, NOW).status is TokenStatus.WRONG_USER
    first = store.consume_token(token.token_hash, USER, NOW)
    assert first.status is TokenStatus.OK
    assert first.token.used_by == USER.audit_id
    assert store.consume_token(token.token_hash, USER, NOW).status is TokenStatus.ALREADY_USED
    store.set_outcome(token.token_hash, "kept until 1 March")
    store.attach_message([token.token_hash], "D1:1718000000.000100")
    saved = store.get_token(token.token_hash)
    assert (saved.outcome, saved.message_ref) == ("kept until 1 March", "D1:1718000000.000100")
    assert store.get_token("nope") is None


def test_expired_and_forbidden(chat):
    """Expired tokens and the forbidden actor (a requester approving their own run) are refused."""
    store, _ = chat
    _, token = new_token(Purpose.APPROVE, "org-1", "run-1", NOW, timedelta(hours=1), forbidden=USER)
    store.save_token(token)
    assert store.consume_token(token.token_hash, USER, NOW).status is TokenStatus.WRONG_USER
    assert store.consume_token(token.token_hash, EVE, NOW + timedelta(hours=2)).status is TokenStatus.EXPIRED
    assert store.consume_token(token.token_hash, EVE, NOW).status is TokenStatus.OK


def test_concurrent_clicks_consume_once(chat):
    """Eight simultaneous clicks on one button: exactly one wins."""
    store, _ = chat
    _, token = new_token(Purpose.KEEP, "org-1", "case-1", NOW, timedelta(days=1), intended=USER)
    store.save_token(token)
    barrier = threading.Barrier(8)
    results = []

    def click():
        barrier.wait()
        results.append(store.consume_token(token.token_hash, USER, NOW).status)

    threads = [threading.Thread(target=click) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(TokenStatus.OK) == 1
    assert results.count(TokenStatus.ALREADY_USED) == 7


def test_protections_round_trip_with_audit(chat):
    """protect/unprotect per org, emails case-folded, each change audited in the same transaction."""
    store, lifecycle = chat

    def audit(action):
        return AuditEntry(at=NOW, actor=USER.audit_id, action=action, outcome="ok", org_id="org-1")

    store.set_protection("org-1", "account", "Ada@Acme.example", True, audit("protect"))
    store.set_protection("org-1", "group", "break-glass", True, audit("protect"))
    store.set_protection("org-2", "group", "other", True, audit("protect"))
    assert store.protections("org-1") == (frozenset({"ada@acme.example"}), frozenset({"break-glass"}))
    store.set_protection("org-1", "account", "ada@acme.example", False, audit("unprotect"))
    assert store.protections("org-1") == (frozenset(), frozenset({"break-glass"}))
    with pytest.raises(ValueError, match="unknown protection kind"):
        store.set_protection("org-1", "team", "x", True, audit("protect"))
    if lifecycle is not None:
        events = list(lifecycle.iter_audit())
        assert [e.entry.action for e in events] == ["protect", "protect", "protect", "unprotect"]
        assert verify_chain(events).ok


def test_count_issued_counts_by_purpose_subject_and_time(chat):
    """Rate limits count tokens per (org, purpose, subject) since a moment."""
    store, _ = chat
    for minutes in (0, 30, 90):
        _, token = new_token(
            Purpose.APPROVE_RESTORE,
            "org-1",
            "a1",
            NOW + timedelta(minutes=minutes),
            timedelta(hours=72),
            forbidden=USER,
        )
        store.save_token(token)
    _, other = new_token(Purpose.DENY_RESTORE, "org-1", "a1", NOW, timedelta(hours=72))
    store.save_token(other)
    assert store.count_issued("org-1", Purpose.APPROVE_RESTORE, "a1", NOW) == 3
    assert store.count_issued("org-1", Purpose.APPROVE_RESTORE, "a1", NOW + timedelta(minutes=31)) == 1
    assert store.count_issued("org-1", Purpose.APPROVE_RESTORE, "a2", NOW) == 0
    assert store.count_issued("org-2", Purpose.APPROVE_RESTORE, "a1", NOW) == 0


def test_open_tokens_are_the_unused_unexpired_ones_of_a_purpose_and_subject(chat):
    """A keep waiting for an admin is an open Approve keep token of its case: not used, not expired."""
    store, _ = chat

    def issue(subject: str, minutes: int, ttl_hours: int = 72, purpose: Purpose = Purpose.APPROVE_KEEP) -> str:
        _, token = new_token(
            purpose, "org-1", subject, NOW + timedelta(minutes=minutes), timedelta(hours=ttl_hours), forbidden=USER
        )
        store.save_token(token)
        return token.token_hash

    first, second = issue("case-1", 0), issue("case-1", 5)
    issue("case-1", 1, ttl_hours=1)  # expires an hour after it was issued
    issue("case-2", 0)
    issue("case-1", 0, purpose=Purpose.APPROVE_RESTORE)
    later = NOW + timedelta(hours=2)
    assert [t.token_hash for t in store.open_tokens("org-1", Purpose.APPROVE_KEEP, "case-1", later)] == [first, second]
    assert store.consume_token(first, Actor("slack", "T1", "U2", "Ada"), later).status is TokenStatus.OK
    assert [t.token_hash for t in store.open_tokens("org-1", Purpose.APPROVE_KEEP, "case-1", later)] == [second]
    assert store.open_tokens("org-2", Purpose.APPROVE_KEEP, "case-1", later) == []
    every = store.open_tokens("org-1", Purpose.APPROVE_KEEP, None, later)  # every subject: the admin home's list
    assert [t.subject for t in every] == ["case-2", "case-1"]
    assert store.open_tokens("org-1", Purpose.APPROVE_KEEP, "case-1", NOW + timedelta(hours=80)) == []


def test_a_token_is_saved_once_per_subject_while_one_is_open(chat):
    """One open Approve keep per warning: a second is not stored while the first is open; once it
    was used or expired, the next one is."""
    store, _ = chat

    def approval(subject: str = "case-1", at: datetime = NOW, org: str = "org-1", ttl: int = 45):
        return new_token(Purpose.APPROVE_KEEP, org, subject, at, timedelta(days=ttl), forbidden=USER)[1]

    first = approval()
    assert store.save_token_if_none_open(first, NOW) is None
    assert store.get_token(first.token_hash) == first
    second = approval()
    assert store.save_token_if_none_open(second, NOW) == first  # nothing stored: the open one answers
    assert store.get_token(second.token_hash) is None
    for other in (approval("case-2"), approval(org="org-2")):  # another warning, another org
        assert store.save_token_if_none_open(other, NOW) is None
    _, restore = new_token(Purpose.APPROVE_RESTORE, "org-1", "case-1", NOW, timedelta(days=1))
    assert store.save_token_if_none_open(restore, NOW) is None  # another purpose

    assert store.consume_token(first.token_hash, EVE, NOW).status is TokenStatus.OK  # decided
    after_use = approval(at=NOW + timedelta(minutes=1), ttl=1)
    assert store.save_token_if_none_open(after_use, NOW + timedelta(minutes=1)) is None
    later = NOW + timedelta(days=2)  # after_use expired unused
    fresh = approval(at=later)
    assert store.save_token_if_none_open(fresh, later) is None
    assert [t.token_hash for t in store.open_tokens("org-1", Purpose.APPROVE_KEEP, "case-1", later)] == [
        fresh.token_hash
    ]


@pytest.mark.parametrize("open_before", [False, True], ids=["first-ask", "after-an-expired-ask"])
def test_simultaneous_saves_for_one_subject_store_exactly_one(chat, open_before):
    """Eight Keep presses asking at once (first, or replacing an expired ask): exactly one approval is stored."""
    store, _ = chat
    at = NOW
    if open_before:
        expired = new_token(Purpose.APPROVE_KEEP, "org-1", "case-1", NOW, timedelta(hours=1), forbidden=USER)[1]
        assert store.save_token_if_none_open(expired, NOW) is None
        at = NOW + timedelta(hours=2)
    made = [
        new_token(Purpose.APPROVE_KEEP, "org-1", "case-1", at, timedelta(days=45), forbidden=USER)[1] for _ in range(8)
    ]
    barrier = threading.Barrier(8)
    results: dict[str, object] = {}

    def ask(token):
        barrier.wait()
        results[token.token_hash] = store.save_token_if_none_open(token, at)

    threads = [threading.Thread(target=ask, args=(t,)) for t in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = [h for h, held in results.items() if held is None]
    assert len(stored) == 1
    assert {held.token_hash for held in results.values() if held is not None} == set(stored)
    assert [t.token_hash for t in store.open_tokens("org-1", Purpose.APPROVE_KEEP, "case-1", at)] == stored
