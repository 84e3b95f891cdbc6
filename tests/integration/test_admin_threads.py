"""One held run, one thread per admin surface: decided on Slack, on Teams or from the CLI, shown on both.

The bot is built by the composition root (``open_bot``) over a SQLite file, the fake Slack Web API
and the fake Bot Connector on loopback, as ``serve`` and the CLI build it. The decision is made
through the same use cases a button click or ``jira-cleanup approve`` / ``deny`` reach.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiohttp import web

from adapters.store.teams_store import SqlTeamsStore
from bot.compose import Bot, open_bot, stores
from bot.server import build_app
from bot.settings import Settings
from core.chat import Actor
from core.clock import FixedClock
from core.ledger import RunStatus
from core.ports import ConversationRecord
from tests.fakes import NOW, FakeDirectory
from tests.slack.conftest import add_slack_people, button_value, policy, stale
from tests.slackfake.server import FakeSlack
from tests.teams.conftest import ADMIN_AAD, SEC_AAD, TENANT, action_token, card_of
from tests.teams.fake_connector import FakeConnector

SLACK_TEAM = "T0ACME"
SLACK_ADMINS = "C0ADMIN"
TEAMS_ADMINS = "19:admins@thread.tacv2"
BOT_ID = "28:bot-app-id"
ACCOUNTS = [stale(f"a{i}") for i in range(3)]
HELD_SAFETY = {"caps": {"per_run": {"max_actions": 0, "max_percent": None}}, "canary": {"size": 0}}


def reports(tmp_path: Path) -> dict[str, Any]:
    """The policy's report folder inside the test's own folder."""
    return {"report_folder": str(tmp_path / "reports")}


def settings(tmp_path: Path, slack: FakeSlack) -> Settings:
    return Settings(
        _env_file=None,
        link_secret="thread-links-secret-0123456789abcdef",
        public_base_url="https://jira-cleanup.acme.example",
        database_url=f"sqlite:///{tmp_path}/bot.db",
        atlassian_org_id="org-1",
        atlassian_api_key="key",
        slack_bot_token=slack.bot_token,
        slack_signing_secret="test-signing-secret-0123456789",
        slack_api_url=slack.api_url,
        slack_admin_user_ids=f"U0ADMIN,{SLACK_TEAM}:U0SEC",
        slack_admin_channel_id=SLACK_ADMINS,
        teams_local_dev=True,
        teams_admin_aad_ids=f"{TENANT}:{ADMIN_AAD},{TENANT}:{SEC_AAD}",
        teams_admin_channel_id=TEAMS_ADMINS,
    )


def admin_channel_seen_by_the_bot(url: str, connector: FakeConnector) -> None:
    """What the Teams surface stores when the bot is added to the admin channel."""
    reference = {
        "bot": {"id": BOT_ID, "name": "jira-cleanup"},
        "conversation": {"id": TEAMS_ADMINS, "conversationType": "channel", "tenantId": TENANT, "isGroup": True},
        "channelId": "msteams",
        "serviceUrl": connector.url,
    }
    record = ConversationRecord("teams", "channel", TENANT, connector.url, reference, NOW, channel_id=TEAMS_ADMINS)
    db = stores(url)
    try:
        SqlTeamsStore(db.lifecycle).save_conversation(record)
    finally:
        db.close()


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakeConnector]]:
    async with FakeSlack() as slack, FakeConnector() as connector:
        slack.add_user("U0ADMIN", "admin@acme.example", real_name="Ada Admin")
        slack.add_user("U0SEC", "sec@acme.example", real_name="Sec Lead")
        slack.add_channel(SLACK_ADMINS, ["U0ADMIN", "U0SEC"], name="jira-admins")
        add_slack_people(slack, [str(a.account_id) for a in ACCOUNTS])
        yield slack, connector


@asynccontextmanager
async def held_run(tmp_path: Path, slack: FakeSlack, connector: FakeConnector) -> AsyncIterator[tuple[Bot, str]]:
    """The bot with Slack and Teams, after a run whose actions were all held for approval."""
    s = settings(tmp_path, slack)
    admin_channel_seen_by_the_bot(s.database_url, connector)
    clock = FixedClock(NOW)
    held = policy(safety=HELD_SAFETY, lifecycle=reports(tmp_path))
    async with open_bot(s, held, directory=FakeDirectory(list(ACCOUNTS)), clock=clock, acts=True) as bot:
        engine = bot.require_engine()
        engine.claim_batch = 2  # batches of two, so the thread hears progress between them
        await engine.run(held, requested_by="cli:alice")
        clock.advance(timedelta(days=15))
        report = await engine.run(held, requested_by="cli:alice")
        assert report.status is RunStatus.AWAITING_APPROVAL, report
        yield bot, report.run_id


def slack_parent(slack: FakeSlack) -> dict[str, Any]:
    [parent] = [m for m in slack.messages(SLACK_ADMINS) if "Approval needed" in json.dumps(m.get("blocks"))]
    return parent


def teams_parent(connector: FakeConnector) -> dict[str, Any]:
    [parent] = connector.activities(TEAMS_ADMINS)
    return parent


def approval_ref_of(parents: tuple[dict[str, Any], dict[str, Any]]) -> str:
    """The audit rows' ``approval_ref`` of a run posted to both platforms."""
    return f"slack:{SLACK_ADMINS}/{parents[0]['ts']}, teams:{TEAMS_ADMINS}/{parents[1]['id']}"


def slack_thread(slack: FakeSlack, parent: dict[str, Any]) -> list[str]:
    return [m["text"] for m in slack.messages(SLACK_ADMINS) if m.get("thread_ts") == parent["ts"]]


def teams_thread(connector: FakeConnector, parent: dict[str, Any]) -> list[str]:
    return [json.dumps(card_of(a)) for a in connector.activities(f"{TEAMS_ADMINS};messageid={parent['id']}")]


async def fetch(bot: Bot, url: str) -> bytes:
    """GET ``url``'s path from the HTTP routes ``serve`` mounts for this bot."""

    async def healthy() -> dict[str, Any]:
        return {}

    app = build_app(health=healthy)
    bot.surfaces.mount(app)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with httpx.AsyncClient() as client:
            response = await client.get(base + urlsplit(url).path)
        assert response.status_code == 200, response.text
        return response.content
    finally:
        await runner.cleanup()


async def decide(bot: Bot, run_id: str, where: str, parents: tuple[dict[str, Any], dict[str, Any]]) -> str:
    """Approve ``run_id`` from ``where`` as the second admin; the approver's audit id."""
    slack_message, teams_activity = parents

    async def respond(_reply: Any) -> None:
        return None

    if where == "slack":
        actor = Actor("slack", SLACK_TEAM, "U0SEC", "Sec Lead")
        result = await bot.chatops.click(actor, button_value(slack_message, "jc_approve"), respond)
    elif where == "teams":
        actor = Actor("teams", TENANT, SEC_AAD, "Sec Lead")
        result = await bot.chatops.click(actor, action_token(teams_activity, "jc_approve"), respond)
    else:
        await bot.require_engine().approve(run_id, "cli:bob", bot.policy)
        return "cli:bob"
    assert result.ok, result.text
    return actor.audit_id


@pytest.mark.parametrize("where", ["slack", "teams", "cli"])
async def test_a_held_run_decided_anywhere_is_one_thread_on_each_platform(tmp_path, fakes, where) -> None:
    slack, connector = fakes
    async with held_run(tmp_path, slack, connector) as (bot, run_id):
        parents = slack_parent(slack), teams_parent(connector)
        assert [b["type"] for b in parents[0]["blocks"]][-1] == "actions"
        assert card_of(parents[1])["actions"], "the Teams parent has its buttons"
        approver = await decide(bot, run_id, where, parents)
        # Safety bar 40: from any surface, the rows link both approval messages (as stored by SQL).
        rows = [e.entry for e in bot.db.lifecycle.iter_audit() if e.entry.run_id == run_id]
        [granted] = [e for e in rows if e.action == "approval.granted"]
        assert (granted.approver, granted.after["approval_ref"]) == (approver, approval_ref_of(parents))
        acts = {(e.approver, e.after["approval_ref"]) for e in rows if e.action.startswith("act.")}
        assert acts == {(approver, approval_ref_of(parents))}
        csv_reply = connector.activities(f"{TEAMS_ADMINS};messageid={parents[1]['id']}")[-1]
        [download] = card_of(csv_reply)["actions"]
        assert download["type"] == "Action.OpenUrl"
        assert download["url"].startswith("https://jira-cleanup.acme.example/files/")
        assert (await fetch(bot, download["url"])).count(b",confirmed,") == 3, "serve hands out the run CSV"
    slack_now = slack.message(SLACK_ADMINS, parents[0]["ts"])
    assert slack_now is not None
    assert not [b for b in slack_now["blocks"] if b["type"] == "actions"]
    assert f"Approved by {approver}" in json.dumps(slack_now["blocks"])
    teams_now = connector.activity(TEAMS_ADMINS, parents[1]["id"])
    assert not card_of(teams_now).get("actions"), "the Teams parent's buttons are gone too"
    assert "Approved by" in json.dumps(card_of(teams_now))

    decision = f"Approved by {approver}: carrying out 3 held actions."
    progress, result = "Carried out 2 of 3 held actions.", "Result (completed): 3 actions done."
    assert slack_thread(slack, parents[0]) == [decision, progress, result]
    teams = teams_thread(connector, parents[1])
    assert len(teams) == 4, teams
    assert decision in teams[0]
    assert progress in teams[1]
    assert result in teams[2]
    assert "-outcome.csv" in teams[3]
    assert not (Path.cwd() / "reports").exists()
    [csv_file] = slack.files()
    assert csv_file["thread_ts"] == parents[0]["ts"]
    assert csv_file["content"].count(b",confirmed,") == 3
    # Nothing about this run outside its threads: one top-level message per platform.
    assert [m for m in slack.messages(SLACK_ADMINS) if not m.get("thread_ts")] == [slack_now]
    assert connector.activities(TEAMS_ADMINS) == [teams_now]


async def test_a_denial_from_the_terminal_closes_both_threads(tmp_path, fakes) -> None:
    slack, connector = fakes
    async with held_run(tmp_path, slack, connector) as (bot, run_id):
        parents = slack_parent(slack), teams_parent(connector)
        await bot.require_engine().deny(run_id, "cli:bob", "wrong org")
        assert bot.db.lifecycle.get_run(run_id).status is RunStatus.COMPLETED
        [denied] = [e.entry for e in bot.db.lifecycle.iter_audit() if e.entry.action == "approval.denied"]
        assert (denied.approver, denied.after) == ("cli:bob", {"approval_ref": approval_ref_of(parents)})
    words = "Denied by cli:bob (wrong org): nothing was changed."
    assert slack_thread(slack, parents[0]) == [words]
    assert words in teams_thread(connector, parents[1])[0]
    assert "Denied by cli:bob" in json.dumps(slack.message(SLACK_ADMINS, parents[0]["ts"]))
    assert "Denied by cli:bob" in json.dumps(card_of(connector.activity(TEAMS_ADMINS, parents[1]["id"])))
    assert slack.files() == []


async def test_a_held_run_nobody_decides_expires_at_the_next_run_and_both_threads_say_so(tmp_path, fakes) -> None:
    slack, connector = fakes
    async with held_run(tmp_path, slack, connector) as (bot, run_id):
        parents = slack_parent(slack), teams_parent(connector)
        engine = bot.require_engine()
        held = bot.db.lifecycle.get_run(run_id)
        assert held.expires_at is not None
        assert isinstance(engine.clock, FixedClock)
        engine.clock.advance(held.expires_at - engine.clock.now() + timedelta(minutes=1))
        await engine.run(bot.policy, requested_by="cli:alice")
        assert bot.db.lifecycle.get_run(run_id).status is RunStatus.EXPIRED
        [expired] = [e.entry for e in bot.db.lifecycle.iter_audit() if e.entry.action == "approval.expired"]
        assert expired.actor.startswith("system:")
        assert expired.after == {"approval_ref": approval_ref_of(parents)}
    [said] = slack_thread(slack, parents[0])
    assert said.startswith(f"Expired: the approval of run {run_id} expired")
    assert "3 held actions dropped" in said
    assert "Expired: nobody decided in time" in json.dumps(slack.message(SLACK_ADMINS, parents[0]["ts"]))
    assert "3 held actions dropped" in teams_thread(connector, parents[1])[0]
    assert not card_of(connector.activity(TEAMS_ADMINS, parents[1]["id"])).get("actions")


async def test_a_restore_request_decided_in_the_teams_thread_closes_the_slack_thread_too(tmp_path, fakes) -> None:
    slack, connector = fakes
    s = settings(tmp_path, slack)
    admin_channel_seen_by_the_bot(s.database_url, connector)
    clock = FixedClock(NOW)
    acting = policy(lifecycle=reports(tmp_path))
    async with open_bot(s, acting, directory=FakeDirectory(list(ACCOUNTS)), clock=clock, acts=True) as bot:
        engine = bot.require_engine()
        await engine.run(acting, requested_by="cli:alice")
        clock.advance(timedelta(days=15))
        await engine.run(acting, requested_by="cli:alice")
        asked = await bot.chatops.request_restore(Actor("slack", SLACK_TEAM, "U0A0", "User a0"), "a0@acme.example")
        assert asked.ok, asked.text
        [slack_post] = [m for m in slack.messages(SLACK_ADMINS) if "Restore request" in json.dumps(m)]
        [teams_post] = [a for a in connector.activities(TEAMS_ADMINS) if "Restore request" in json.dumps(a)]
        talk = await bot.chatops.thread_reply(
            Actor("teams", TENANT, SEC_AAD), "teams", TEAMS_ADMINS, teams_post["id"], "who asked?"
        )
        assert not talk.handled
        answer = await bot.chatops.thread_reply(
            Actor("teams", TENANT, SEC_AAD), "teams", TEAMS_ADMINS, teams_post["id"], "approve"
        )
        assert answer.handled
        assert answer.reply is None
        assert list(bot.db.restores.pending_requests("org-1")) == [], "the request is decided"
    said = f"Restored by teams:{TENANT}/{SEC_AAD}"
    [slack_said] = slack_thread(slack, slack_post)
    assert slack_said.startswith(said)
    assert said in teams_thread(connector, teams_post)[0]
    assert f"Approved by teams:{TENANT}/{SEC_AAD}" in json.dumps(slack.message(SLACK_ADMINS, slack_post["ts"]))
    assert not card_of(connector.activity(TEAMS_ADMINS, teams_post["id"])).get("actions")


async def test_an_undelivered_warning_is_one_thread_that_hears_the_retries_and_the_late_delivery(
    tmp_path, fakes
) -> None:
    slack, connector = fakes
    s = settings(tmp_path, slack)
    admin_channel_seen_by_the_bot(s.database_url, connector)
    clock = FixedClock(NOW)
    acting = policy(lifecycle=reports(tmp_path))
    nobody = stale("zz-unknown")  # no Slack user, no Teams conversation: nobody can be told
    async with open_bot(s, acting, directory=FakeDirectory([nobody]), clock=clock, acts=True) as bot:
        engine = bot.require_engine()
        await engine.run(acting, requested_by="cli:alice")
        [slack_post] = [m for m in slack.messages(SLACK_ADMINS) if "needs a human" in m["text"]]
        [teams_post] = [a for a in connector.activities(TEAMS_ADMINS) if "Needs attention" in json.dumps(a)]
        clock.advance(timedelta(days=1))
        await engine.run(acting, requested_by="cli:alice")
    slack.add_user("U0ZZUNKNOWN", "zz-unknown@acme.example", real_name="Zed")  # they joined Slack
    clock.advance(timedelta(days=1))
    async with open_bot(s, acting, directory=FakeDirectory([nobody]), clock=clock, acts=True) as bot:  # next cron
        await bot.require_engine().run(acting, requested_by="cli:alice")
    said = slack_thread(slack, slack_post)
    assert said[0].startswith("Tried again: still not delivered (")
    assert said[-1] == "The warning reached them via slack after all; the countdown starts now."
    assert "after all" in teams_thread(connector, teams_post)[-1]
    assert "Delivered later via slack" in json.dumps(slack.message(SLACK_ADMINS, slack_post["ts"]))
    assert "Delivered later via slack" in json.dumps(card_of(connector.activity(TEAMS_ADMINS, teams_post["id"])))
    assert len([m for m in slack.messages(SLACK_ADMINS) if not m.get("thread_ts")]) == 1, "one post, the rest in it"


async def test_restoring_one_account_of_an_approved_run_is_told_in_that_runs_threads(tmp_path, fakes) -> None:
    slack, connector = fakes
    async with held_run(tmp_path, slack, connector) as (bot, run_id):
        parents = slack_parent(slack), teams_parent(connector)
        await decide(bot, run_id, "cli", parents)
        restored = await bot.require_engine().restore("org-1", "a1", "cli:carol", bot.policy, reason="on leave")
        assert restored.accepted, restored.reason
    later = "Later: a1 restored by cli:carol (on leave)."
    assert slack_thread(slack, parents[0])[-1] == later
    assert later in teams_thread(connector, parents[1])[-1]


async def test_a_teams_command_answers_with_its_csv_as_a_download_link(tmp_path, fakes) -> None:
    """``preview`` from a Teams admin: the answer card links the CSV, which ``serve`` hands out."""
    from bot import teams_render

    slack, _connector = fakes
    s = settings(tmp_path, slack)
    pol = policy(lifecycle=reports(tmp_path))
    async with open_bot(s, pol, directory=FakeDirectory(list(ACCOUNTS)), clock=FixedClock(NOW), acts=True) as bot:
        assert bot.surfaces.teams is not None
        assert bot.chatops.owner_notice is not None, "owners hear of restores asked for them"
        answers = []

        async def respond(reply) -> None:
            answers.append(reply)

        admin = Actor("teams", TENANT, ADMIN_AAD, "Ada Admin")
        await bot.chatops.command(admin, "preview", respond)
        await bot.chatops.drain()
        [answer] = answers
        assert answer.file is not None
        _text, card = teams_render.reply_card(answer, bot.surfaces.teams.file_link)
        [download] = card["actions"]
        assert download["type"] == "Action.OpenUrl"
        assert download["url"].startswith("https://jira-cleanup.acme.example/files/")
        assert answer.file.name in json.dumps(card["body"])
        assert str(answer.file.parent) not in json.dumps(card), "no server path once there is a link"
        assert (await fetch(bot, download["url"])) == answer.file.read_bytes()

    _text, card = teams_render.reply_card(answer)  # without LINK_SECRET: the server path, no link
    assert "actions" not in card
    assert "written on the bot's server" in json.dumps(card["body"])
