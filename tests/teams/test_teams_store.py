"""ConversationStore: the fake and SQL (SQLite, PostgreSQL) keep one contract."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.store import SqlTeamsStore, open_stores
from core.ports import ConversationRecord
from tests.store.pg import postgres_schema_url

from .conftest import FakeConversationStore

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def personal(user: str = "u1", email: str | None = "Una@Acme.example", **kw) -> ConversationRecord:
    return ConversationRecord(
        platform="teams",
        kind=kw.pop("kind", "personal"),
        tenant=kw.pop("tenant", "t1"),
        service_url=kw.pop("service_url", "https://smba.trafficmanager.net/emea/"),
        reference={"conversation": {"id": f"a:{user}"}, "serviceUrl": "https://smba.trafficmanager.net/emea/"},
        updated_at=kw.pop("updated_at", NOW),
        user_id=user,
        email=email,
        **kw,
    )


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def conversations(request, tmp_path):
    if request.param == "fake":
        yield FakeConversationStore()
        return
    if request.param == "sqlite":
        scans, lifecycle = open_stores(f"sqlite:///{tmp_path}/teams.db")
        yield SqlTeamsStore(lifecycle)
        lifecycle.close()
        scans.close()
        return
    with postgres_schema_url() as url:
        scans, lifecycle = open_stores(url)
        yield SqlTeamsStore(lifecycle)
        lifecycle.close()
        scans.close()


def test_save_and_find_by_user_and_email(conversations) -> None:
    conversations.save_conversation(personal())
    by_user = conversations.conversation_for_user("teams", "t1", "u1")
    assert by_user is not None
    assert by_user.email == "una@acme.example"
    assert by_user.reference["conversation"] == {"id": "a:u1"}
    assert by_user.updated_at == NOW
    assert conversations.conversation_for_email("teams", "UNA@acme.EXAMPLE") == by_user
    assert conversations.conversation_for_user("teams", "t2", "u1") is None
    assert conversations.conversation_for_email("slack", "una@acme.example") is None


def test_saving_again_replaces_and_personal_beats_member(conversations) -> None:
    conversations.save_conversation(personal(kind="member", updated_at=NOW + timedelta(hours=1)))
    assert conversations.conversation_for_user("teams", "t1", "u1").kind == "member"
    conversations.save_conversation(personal())
    assert conversations.conversation_for_user("teams", "t1", "u1").kind == "personal"
    moved = replace(personal(), service_url="https://smba.trafficmanager.net/amer/", updated_at=NOW + timedelta(days=1))
    conversations.save_conversation(moved)
    found = conversations.conversation_for_email("teams", "una@acme.example")
    assert found.kind == "personal"
    assert found.service_url.endswith("/amer/")


def test_channels(conversations) -> None:
    channel = ConversationRecord(
        platform="teams",
        kind="channel",
        tenant="t1",
        service_url="https://smba.trafficmanager.net/emea/",
        reference={"conversation": {"id": "19:c@thread.tacv2"}},
        updated_at=NOW,
        channel_id="19:c@thread.tacv2",
    )
    conversations.save_conversation(channel)
    conversations.save_conversation(channel)
    assert conversations.conversation_for_channel("teams", "19:c@thread.tacv2") == channel
    assert conversations.conversation_for_channel("teams", "19:other") is None
    assert conversations.conversation_for_user("teams", "t1", "u1") is None


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_each_org_of_a_deployment_keeps_its_own_references(backend, tmp_path) -> None:
    """Two orgs' bots talking to one person in one tenant: neither reads or replaces the other's reference."""
    with postgres_schema_url() if backend == "postgresql" else _sqlite(tmp_path) as url:
        scans, lifecycle = open_stores(url)
        acme, globex, single = (
            SqlTeamsStore(lifecycle, "org-acme"),
            SqlTeamsStore(lifecycle, "org-globex"),
            SqlTeamsStore(lifecycle),
        )
        acme.save_conversation(replace(personal(), service_url="https://acme.example/"))
        globex.save_conversation(replace(personal(), service_url="https://globex.example/"))
        acme.save_conversation(replace(personal(kind="channel", channel_id="19:c@thread"), user_id=None))
        assert acme.conversation_for_email("teams", "una@acme.example").service_url == "https://acme.example/"
        assert globex.conversation_for_user("teams", "t1", "u1").service_url == "https://globex.example/"
        assert globex.conversation_for_channel("teams", "19:c@thread") is None
        assert single.conversation_for_email("teams", "una@acme.example") is None  # one-org rows are apart too
        lifecycle.close()
        scans.close()


@contextmanager
def _sqlite(tmp_path):
    yield f"sqlite:///{tmp_path}/scoped.db"
