"""A running Slack surface over loopback: bot server + Bolt handler, FakeSlack, ChatOps over fakes.

``world`` serves ``bot.server.build_app`` with the Slack handler mounted on 127.0.0.1:0, points
the real ``AsyncWebClient`` at :class:`tests.slackfake.FakeSlack`, and drives it with signed
HTTP requests (httpx). The engine's notifier is the real :class:`SlackNotifier`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from slack_sdk.http_retry import builtin_async_handlers

from adapters.slack.notifier import slack_client
from bot.compose import attach_slack
from bot.settings import Settings
from bot.slack_app import EVENTS_PATH, SlackIntegration, build_slack, slack_admins
from core.chat import Actor
from core.engine import Engine
from core.policy import parse_policy
from tests.fakes import make_account
from tests.fakes_chat import ServedChatWorld, compose_chat_ops, serving
from tests.slackfake import FakeSlack
from tests.slackfake.signing import block_actions_payload, interaction_body, signed_headers, slash_command_body

SECRET = "test-signing-secret-0123456789"
TEAM = "T0ACME"
ADMIN_CHANNEL = "C0ADMIN"
ADMIN = Actor("slack", TEAM, "U0ADMIN", "admin")
OTHER_ADMIN = Actor("slack", TEAM, "U0SEC", "sec")


def policy(**overrides: Any):
    """One rule (remove Jira after 90 days, warn 14 days before) and a Jira seat price."""
    data: dict[str, Any] = {
        "mode": "enforce",
        "rules": [
            {
                "name": "jira",
                "product": "jira-software",
                "inactive_days": 90,
                "action": "remove_product_access",
                "warn_days_before": 14,
            }
        ],
        "prices": {"jira-software": "8.60"},
        "currency": "EUR",
        "new_account_grace_days": 30,
        "safety": {
            "caps": {
                "per_run": {"max_actions": 100, "max_percent": None},
                "window": {"max_actions": None, "max_percent": None},
            },
            "canary": {"size": 2},
        },
    }
    data.update(overrides)
    return parse_policy(data)


def stale(account_id: str, days: int = 200, **kw: Any):
    return make_account(account_id, products={"jira-software": days}, groups=["jira-software-users"], **kw)


def slack_user_of(account_id: str) -> str:
    return "U0" + account_id.upper().replace("-", "")


class World(ServedChatWorld):
    """Everything a Slack test needs; see the module docstring."""

    def __init__(self, fake: FakeSlack, accounts: Iterable[Any], pol: Any, report_folder: Any) -> None:
        self.init_stores(fake, accounts, pol)
        self.settings = self.slack_settings(fake)
        fake.add_user("U0ADMIN", "admin@acme.example", real_name="Ada Admin")
        fake.add_user("U0SEC", "sec@acme.example", real_name="Sec Lead")
        fake.add_user("U0EVE", "eve@acme.example", real_name="Eve")
        fake.add_channel(ADMIN_CHANNEL, ["U0ADMIN", "U0SEC"], name="jira-admins")
        self.client = slack_client(fake.bot_token, fake.api_url)
        self.engine: Engine | None = None

        @asynccontextmanager
        async def open_engine() -> AsyncIterator[Engine]:
            assert self.engine is not None
            yield self.engine

        self.ops = compose_chat_ops(self, slack_admins(self.settings, TEAM), open_engine, report_folder)
        self.slack: SlackIntegration = self.build_surface()
        attach_slack(self.ops, self.slack)  # through the composition root, as serve wires it
        self.engine = Engine(
            self.directory,
            self.scans,
            self.store,
            self.slack.notifier,
            self.clock,
            worker_id="w",
            threads=self.ops.threads,
        )
        self.surface = self.slack
        self._ids = 0

    def slack_settings(self, fake: FakeSlack) -> Settings:
        """The single-workspace settings (SLACK_BOT_TOKEN)."""
        return Settings(
            _env_file=None,
            slack_bot_token=fake.bot_token,
            slack_signing_secret=SECRET,
            slack_api_url=fake.api_url,
            slack_admin_user_ids=f"U0ADMIN,{TEAM}:U0SEC",
            slack_admin_channel_id=ADMIN_CHANNEL,
            slack_warning_contact="#it-help",
        )

    def build_surface(self) -> SlackIntegration:
        """The Slack surface over ``self.ops``."""
        return build_slack(self.settings, self.ops, team_id=TEAM, client=self.client)

    # -- driving ---------------------------------------------------------------------------

    async def run(self, days: int = 0, by: str = "cli:alice"):
        from datetime import timedelta

        self.clock.advance(timedelta(days=days))
        return await self.engine.run(self.policy, requested_by=by)

    async def post(
        self,
        body: bytes,
        *,
        secret: str = SECRET,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> httpx.Response:
        assert self.http is not None
        sent = signed_headers(body, secret, int(time.time()) if timestamp is None else timestamp)
        if content_type:
            sent["Content-Type"] = content_type
        if headers is not None:
            sent = headers
        return await self.http.post(EVENTS_PATH, content=body, headers=sent)

    def response_url(self, name: str | None = None) -> tuple[str, str]:
        self._ids += 1
        name = name or f"r{self._ids}"
        return name, self.fake.response_url(name)

    def click_body(self, user: str, message: dict[str, Any], action_id: str, *, channel: str) -> tuple[bytes, str]:
        """A signed-ready click on the button ``action_id`` of a posted ``message``."""
        value = button_value(message, action_id)
        name, url = self.response_url()
        payload = block_actions_payload(
            user,
            TEAM,
            action_id,
            value,
            channel,
            message["ts"],
            url,
            message_text=message.get("text", ""),
            message_blocks=message.get("blocks", []),
        )
        return interaction_body(payload), name

    async def click(
        self, user: str, message: dict[str, Any], action_id: str, *, channel: str
    ) -> tuple[httpx.Response, str]:
        body, name = self.click_body(user, message, action_id, channel=channel)
        response = await self.post(body)
        await self.settle()
        return response, name

    async def command(
        self, text: str, user: str = "U0ADMIN", channel: str = ADMIN_CHANNEL
    ) -> tuple[httpx.Response, str]:
        name, url = self.response_url()
        body = slash_command_body(text=text, user_id=user, channel_id=channel, response_url=url)
        response = await self.post(body)
        await self.settle()
        return response, name

    async def dm_event(self, user: str, channel: str, text: str, event_id: str = "Ev0001") -> httpx.Response:
        return await self.message_event(user, channel, text, event_id=event_id)

    async def thread_event(self, user: str, parent_ts: str, text: str, event_id: str) -> httpx.Response:
        """``user`` replies ``text`` under the admin channel message ``parent_ts`` (Slack's ``message.channels``)."""
        return await self.message_event(
            user, ADMIN_CHANNEL, text, event_id=event_id, channel_type="channel", thread_ts=parent_ts
        )

    async def message_event(
        self, user: str, channel: str, text: str, *, event_id: str, channel_type: str = "im", **extra: str
    ) -> httpx.Response:
        envelope = {
            "token": "deprecated",
            "team_id": TEAM,
            "api_app_id": "A0JIRACLN",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "message",
                "channel": channel,
                "channel_type": channel_type,
                "user": user,
                "text": text,
                "ts": "1718000500.000100",
                "event_ts": "1718000500.000100",
                **extra,
            },
        }
        body = json.dumps(envelope).encode()
        response = await self.post(body, content_type="application/json")
        await self.settle()
        return response

    async def settle(self) -> None:
        await self.slack.drain()

    # -- looking -------------------------------------------------------------------------

    def dm_messages(self, account_id: str) -> list[dict[str, Any]]:
        dm = self.fake.dm_of(slack_user_of(account_id))
        return [] if dm is None else self.fake.messages(dm)

    def admin_messages(self) -> list[dict[str, Any]]:
        return self.fake.messages(ADMIN_CHANNEL)

    def case(self, account_id: str, rule: str = "jira"):
        return next(c for c in self.store.find_cases("org-1", account_id) if c.rule == rule)

    def updates(self) -> list[Any]:
        return self.fake.calls("chat.update")


def button_value(message: dict[str, Any], action_id: str) -> str:
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return element["value"]
    raise AssertionError(f"no {action_id} button in {message}")


def add_slack_people(fake: FakeSlack, account_ids: Iterable[str]) -> None:
    for account_id in account_ids:
        fake.add_user(slack_user_of(account_id), f"{account_id}@acme.example", real_name=f"User {account_id}")


class Gate:
    """The fake's latency "sleep": open by default; ``close()`` holds every Web API call until ``open()``."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()

    async def __call__(self, seconds: float) -> None:
        await self._open.wait()

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
async def fake_slack(gate: Gate) -> AsyncIterator[FakeSlack]:
    async with FakeSlack(team_id=TEAM, sleep=gate) as fake:
        yield fake


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """slack_sdk's retry handlers sleep through this: record instead of waiting."""
    recorded: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(builtin_async_handlers, "asyncio", SimpleNamespace(sleep=fake_sleep))
    return recorded


@pytest.fixture
async def make_world(fake_slack: FakeSlack, tmp_path):

    def build(accounts: Iterable[Any], pol: Any = None, *, people: bool = True) -> World:
        accounts = list(accounts)
        if people:
            add_slack_people(fake_slack, [a.account_id for a in accounts])
        return World(fake_slack, accounts, pol or policy(), tmp_path / "reports")

    async with serving(build) as make:
        yield make
