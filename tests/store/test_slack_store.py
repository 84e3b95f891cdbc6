"""Slack OAuth storage (installations, one-use states) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from slack_sdk.oauth.installation_store import Installation

from adapters.store import create_lifecycle_store
from adapters.store.database import Database
from adapters.store.slack_store import SqlSlackInstallations, SqlSlackStates, TokenCipher
from adapters.store.slack_tables import SLACK_INSTALLATIONS

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    store = create_lifecycle_store(database_url)
    try:
        yield store.database
    finally:
        store.close()


def installation(team: str, token: str, *, enterprise: str | None = None, org_wide: bool = False, at: float = 0):
    return Installation(
        app_id="A0APP",
        enterprise_id=enterprise,
        team_id=None if org_wide else team,
        team_name=f"team {team}",
        bot_token=token,
        bot_id=f"B{team}",
        bot_user_id=f"U{team}BOT",
        bot_scopes="chat:write,users:read.email",
        user_id="U0INSTALLER",
        is_enterprise_install=org_wide,
        installed_at=T0.timestamp() + at,
    )


async def test_installations_are_saved_found_replaced_and_deleted_per_scope(db: Database) -> None:
    """One row per workspace and org scope; a re-install replaces it; deleting one leaves the others."""
    cipher = TokenCipher("k" * 32)
    acme, globex = SqlSlackInstallations(db, cipher, "acme"), SqlSlackInstallations(db, cipher, "globex")
    await acme.async_save(installation("T1", "xoxb-one"))
    await acme.async_save(installation("T2", "xoxb-two", at=5))
    await globex.async_save(installation("T1", "xoxb-globex"))
    bot = await acme.async_find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None
    assert bot.bot_token == "xoxb-one"
    assert bot.bot_user_id == "UT1BOT"
    assert bot.bot_scopes == ["chat:write", "users:read.email"]
    found = await acme.async_find_installation(enterprise_id=None, team_id="T2")
    assert found is not None
    assert found.bot_token == "xoxb-two"
    assert [w.team_id for w in acme.installed()] == ["T1", "T2"]  # oldest first
    assert (await globex.async_find_bot(enterprise_id=None, team_id="T1")).bot_token == "xoxb-globex"
    assert await globex.async_find_bot(enterprise_id=None, team_id="T2") is None

    await acme.async_save(installation("T1", "xoxb-one-again", at=10))
    assert (await acme.async_find_bot(enterprise_id=None, team_id="T1")).bot_token == "xoxb-one-again"
    assert len(acme.installed()) == 2

    await acme.async_delete_all(enterprise_id=None, team_id="T1")
    assert await acme.async_find_bot(enterprise_id=None, team_id="T1") is None
    assert [w.team_id for w in acme.installed()] == ["T2"]
    assert (await globex.async_find_bot(enterprise_id=None, team_id="T1")).bot_token == "xoxb-globex"


async def test_tokens_are_encrypted_at_rest_and_another_key_reads_as_not_installed(db: Database) -> None:
    """The database never holds the token in clear; rows sealed with another key are not used."""
    store = SqlSlackInstallations(db, TokenCipher("first key " * 4))
    await store.async_save(installation("T1", "xoxb-secret-token"))
    with db.read("test") as conn:
        raw = conn.execute(sa.select(SLACK_INSTALLATIONS.c.bot_token)).scalar()
    assert "xoxb" not in raw
    other = SqlSlackInstallations(db, TokenCipher("second key " * 4))
    assert await other.async_find_bot(enterprise_id=None, team_id="T1") is None
    assert other.installed() == []


async def test_an_org_wide_grid_install_answers_for_its_workspaces(db: Database) -> None:
    store = SqlSlackInstallations(db, TokenCipher("k" * 32))
    await store.async_save(installation("", "xoxb-grid", enterprise="E1", org_wide=True))
    bot = await store.async_find_bot(enterprise_id="E1", team_id="T9")
    assert bot is not None
    assert bot.bot_token == "xoxb-grid"
    assert bot.is_enterprise_install
    assert await store.async_find_bot(enterprise_id="E2", team_id="T9") is None
    assert store.delete("E1", None)
    assert await store.async_find_bot(enterprise_id="E1", team_id="T9") is None


async def test_an_installation_without_a_bot_token_is_refused(db: Database) -> None:
    store = SqlSlackInstallations(db, TokenCipher("k" * 32))
    with pytest.raises(ValueError, match="bot token"):
        await store.async_save(Installation(team_id="T1", user_id="U1", installed_at=T0.timestamp()))


async def test_a_state_is_good_once_before_it_expires_and_only_in_its_scope(db: Database) -> None:
    now = [T0]
    states = SqlSlackStates(db, "acme", expiration_seconds=600, now=lambda: now[0])
    other = SqlSlackStates(db, "globex", now=lambda: now[0])
    first = await states.async_issue()
    second = await states.async_issue()
    assert first != second
    assert len(first) >= 40
    assert not await other.async_consume(first)  # another org's install flow
    assert await states.async_consume(first)
    assert not await states.async_consume(first)  # reused
    assert not await states.async_consume("made-up")
    assert not await states.async_consume("")
    now[0] = T0 + timedelta(seconds=600)
    assert not await states.async_consume(second)  # expired
    third = await states.async_issue()
    now[0] += timedelta(seconds=599)
    assert await states.async_consume(third)
