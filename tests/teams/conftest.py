"""A running Teams surface over loopback: bot server + CloudAdapter handler, FakeConnector, ChatOps over fakes.

``world`` serves ``bot.server.build_app`` with the Teams handler mounted on 127.0.0.1:0 (auth off
through TEAMS_LOCAL_DEV, as the Bot Framework Emulator does), points every activity's
``serviceUrl`` at :class:`tests.teams.fake_connector.FakeConnector`, and drives it with
activities POSTed over HTTP (httpx). The engine's notifier is the real :class:`TeamsNotifier`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bot.compose import attach_teams
from bot.settings import Settings
from bot.teams_app import MESSAGES_PATH, TeamsIntegration, build_teams, teams_admins
from core.chat import Actor
from core.engine import Engine
from core.ports import ConversationRecord
from tests.fakes_chat import ServedChatWorld, compose_chat_ops, serving
from tests.slack.conftest import policy, stale

from .fake_connector import FakeConnector

TENANT = "11111111-2222-3333-4444-555555555555"
OTHER_TENANT = "99999999-2222-3333-4444-555555555555"
BOT_ID = "28:bot-app-id"
ADMIN_AAD = "aaaaaaaa-0000-0000-0000-000000000001"
SEC_AAD = "aaaaaaaa-0000-0000-0000-000000000002"
EVE_AAD = "eeeeeeee-0000-0000-0000-000000000009"
ADMIN_CHANNEL = "19:admins@thread.tacv2"
TEAM_ID = "19:team-general@thread.tacv2"
ADMIN = Actor("teams", TENANT, ADMIN_AAD, "Ada Admin")

__all__ = ["ADMIN", "ADMIN_AAD", "ADMIN_CHANNEL", "EVE_AAD", "SEC_AAD", "TENANT", "World", "policy", "stale"]


def aad_of(account_id: str) -> str:
    """A stable AAD object id for a test account."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aad:{account_id}"))


def member_of(account_id: str) -> str:
    return f"29:{account_id}"


def dm_of(member_id: str) -> str:
    return f"a:dm-{member_id}"


class FakeConversationStore:
    """In-memory :class:`core.ports.ConversationStore` with the SQL store's contract."""

    def __init__(self) -> None:
        self.records: dict[str, ConversationRecord] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(record: ConversationRecord) -> str:
        if record.kind == "channel":
            return f"{record.platform}|channel|{record.channel_id}"
        return f"{record.platform}|{record.kind}|{record.tenant}|{record.user_id}"

    def save_conversation(self, record: ConversationRecord) -> None:
        with self._lock:
            if record.email:
                from dataclasses import replace

                record = replace(record, email=record.email.lower())
            self.records[self._key(record)] = record

    def _best(self, found: list[ConversationRecord]) -> ConversationRecord | None:
        found = [r for r in found if r.kind in ("personal", "member")]
        found.sort(key=lambda r: r.updated_at, reverse=True)
        found.sort(key=lambda r: 0 if r.kind == "personal" else 1)
        return found[0] if found else None

    def conversation_for_user(self, platform: str, tenant: str, user_id: str) -> ConversationRecord | None:
        return self._best(
            [r for r in self.records.values() if (r.platform, r.tenant, r.user_id) == (platform, tenant, user_id)]
        )

    def conversation_for_email(self, platform: str, email: str) -> ConversationRecord | None:
        return self._best([r for r in self.records.values() if r.platform == platform and r.email == email.lower()])

    def conversation_for_channel(self, platform: str, channel_id: str) -> ConversationRecord | None:
        for record in self.records.values():
            if record.platform == platform and record.kind == "channel" and record.channel_id == channel_id:
                return record
        return None


class World(ServedChatWorld):
    """Everything a Teams test needs; see the module docstring."""

    def __init__(self, fake: FakeConnector, accounts: Iterable[Any], pol: Any, report_folder: Any, **settings: Any):
        self.init_stores(fake, accounts, pol)
        self.conversations = FakeConversationStore()
        self.policy = pol
        values: dict[str, Any] = {
            "teams_local_dev": True,
            "teams_admin_aad_ids": f"{TENANT}:{ADMIN_AAD},{TENANT}:{SEC_AAD}",
            "teams_admin_channel_id": ADMIN_CHANNEL,
            "teams_warning_contact": "the IT help channel",
        }
        values.update(settings)
        self.settings = Settings(_env_file=None, **values)
        fake.add_member("29:admin", ADMIN_AAD, "admin@acme.example", "Ada Admin", TENANT)
        fake.add_member("29:sec", SEC_AAD, "sec@acme.example", "Sec Lead", TENANT)
        fake.add_member("29:eve", EVE_AAD, "eve@acme.example", "Eve", TENANT)
        self.engine: Engine | None = None

        @asynccontextmanager
        async def open_engine() -> AsyncIterator[Engine]:
            assert self.engine is not None
            yield self.engine

        self.ops = compose_chat_ops(self, teams_admins(self.settings), open_engine, report_folder)
        self.teams: TeamsIntegration = build_teams(self.settings, self.ops, self.conversations)
        attach_teams(self.ops, self.teams)  # through the composition root, as serve wires it

        async def no_sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        self.sleeps: list[float] = []
        self.teams.connector.sleep = no_sleep
        self.engine = Engine(
            self.directory,
            self.scans,
            self.store,
            self.teams.notifier,
            self.clock,
            worker_id="w",
            threads=self.ops.threads,
        )
        self._ids = 0

    @property
    def surface(self) -> TeamsIntegration:
        """The served surface: ``teams`` (a test may swap it for one with other auth settings)."""
        return self.teams

    # -- activities --------------------------------------------------------------------------

    def _next(self) -> str:
        self._ids += 1
        return f"in-{self._ids}"

    def user(self, member_id: str, aad: str, name: str = "") -> dict[str, Any]:
        return {"id": member_id, "name": name or member_id, "aadObjectId": aad}

    def base(
        self, kind: str, member_id: str, aad: str, conversation: str, conv_type: str = "personal", **extra: Any
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": kind,
            "id": self._next(),
            "timestamp": "2026-11-24T12:00:00Z",
            "channelId": "msteams",
            "serviceUrl": self.fake.url,
            "from": self.user(member_id, aad),
            "recipient": {"id": BOT_ID, "name": "jira-cleanup"},
            "conversation": {"id": conversation, "conversationType": conv_type, "tenantId": TENANT},
            "channelData": {"tenant": {"id": TENANT}},
        }
        if conv_type == "channel":
            channel = conversation.split(";", 1)[0]
            data["channelData"].update({"team": {"id": TEAM_ID}, "channel": {"id": channel}})
        data.update(extra)
        return data

    def install(self, member_id: str, aad: str) -> dict[str, Any]:
        return self.base("installationUpdate", member_id, aad, dm_of(member_id), action="add")

    def message(
        self, member_id: str, aad: str, text: str, *, channel: str | None = None, thread: str = "171"
    ) -> dict[str, Any]:
        """A 1:1 message, or with ``channel`` a channel message in the reply chain of post ``thread``."""
        if channel is not None:
            self.fake.user_posts.add((channel, thread))
            return self.base(
                "message",
                member_id,
                aad,
                f"{channel};messageid={thread}",
                "channel",
                text=f"<at>jira-cleanup</at> {text}",
                entities=[{"type": "mention", "text": "<at>jira-cleanup</at>", "mentioned": {"id": BOT_ID}}],
            )
        return self.base("message", member_id, aad, dm_of(member_id), text=text)

    def bot_added_to_channel(
        self, channel: str, by_member: str = "29:admin", by_aad: str = ADMIN_AAD
    ) -> dict[str, Any]:
        return self.base(
            "conversationUpdate",
            by_member,
            by_aad,
            channel,
            "channel",
            membersAdded=[{"id": BOT_ID}],
        )

    def invoke(
        self, member_id: str, aad: str, token: str, verb: str, conversation: str, reply_to: str, **data: Any
    ) -> dict[str, Any]:
        conv_type = "channel" if conversation.startswith("19:") else "personal"
        return self.base(
            "invoke",
            member_id,
            aad,
            conversation,
            conv_type,
            name="adaptiveCard/action",
            replyToId=reply_to,
            value={"action": {"type": "Action.Execute", "verb": verb, "data": {"token": token, **data}}},
        )

    async def post(self, activity: Any, *, headers: dict[str, str] | None = None) -> httpx.Response:
        assert self.http is not None
        return await self.http.post(MESSAGES_PATH, json=activity, headers=headers or {})

    async def send(self, activity: Any) -> httpx.Response:
        response = await self.post(activity)
        await self.settle()
        return response

    async def settle(self) -> None:
        await self.teams.drain()

    # -- people -------------------------------------------------------------------------------

    def add_person(self, account_id: str) -> tuple[str, str]:
        member, aad = member_of(account_id), aad_of(account_id)
        self.fake.add_member(member, aad, f"{account_id}@acme.example", f"User {account_id}", TENANT)
        return member, aad

    async def install_person(self, account_id: str) -> tuple[str, str]:
        member, aad = self.add_person(account_id)
        response = await self.send(self.install(member, aad))
        assert response.status_code == 201, response.text
        return member, aad

    async def run(self, days: int = 0, by: str = "cli:alice"):
        self.clock.advance(timedelta(days=days))
        assert self.engine is not None
        return await self.engine.run(self.policy, requested_by=by)

    def case(self, account_id: str, rule: str = "jira"):
        return next(c for c in self.store.find_cases("org-1", account_id) if c.rule == rule)

    def cards_in(self, conversation: str) -> list[dict[str, Any]]:
        """The Adaptive Cards posted into ``conversation`` (activities with a card attachment)."""
        return [a for a in self.fake.activities(conversation) if a.get("attachments")]


def card_of(activity: dict[str, Any]) -> dict[str, Any]:
    return activity["attachments"][0]["content"]


def action_token(activity: dict[str, Any], verb: str) -> str:
    for action in card_of(activity).get("actions", []):
        if action.get("verb") == verb:
            return action["data"]["token"]
    raise AssertionError(f"no {verb} action in {activity}")


def card_text(activity: dict[str, Any]) -> str:
    return str(card_of(activity))


@pytest.fixture
async def fake_connector() -> AsyncIterator[FakeConnector]:
    async with FakeConnector() as fake:
        yield fake


@pytest.fixture
async def make_world(fake_connector: FakeConnector, tmp_path):

    def build(accounts: Iterable[Any], pol: Any = None, **settings: Any) -> World:
        return World(fake_connector, list(accounts), pol or policy(), tmp_path / "reports", **settings)

    async with serving(build) as make:
        yield make
