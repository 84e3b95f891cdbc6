"""The whole ``serve`` composition over loopback: sandbox org + JSM, fake Slack, real SMTP, SQL.

``world`` builds exactly what ``jira-cleanup serve`` builds (:func:`bot.compose.compose`) from
settings that point at loopback peers: the sandbox (Atlassian Admin API and JSM), the fake Slack
Web API, and an aiosmtpd server collecting mail. The bot's aiohttp app listens on a socket bound
before composing, so the email links carry the real URL. The clock is simulated; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import time
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from adapters.atlassian import AtlassianConfig, AtlassianDirectory, OrgRateLimiter
from adapters.sandbox import SandboxConfig, SandboxServer, generate_org
from bot.compose import Stores, Surfaces, compose, stores
from bot.server import build_app
from bot.settings import Settings
from core.chatops import KeepApprovals
from core.clock import FixedClock
from core.engine import Engine
from core.policy import Policy, parse_policy
from tests.browser import ARTIFACTS
from tests.fakes import NOW
from tests.peers import Inbox, text_of
from tests.policies import uncapped
from tests.slackfake import FakeSlack
from tests.slackfake.signing import click_on, interaction_body, signed_headers

SIGNING_SECRET = "e2e-signing-secret-0123456789"
WEBHOOK_SECRET = "e2e-webhook-secret"
TEAM = "T0ACME"
ADMIN_CHANNEL = "C0ADMIN"
LINK = re.compile(r"https?://[^\s\"'<>]+/email/t/[A-Za-z0-9_\-]+")


def restore_policy(*, keep: dict[str, Any] | None = None, **restore: Any) -> Policy:
    """Remove Jira after 90 days (warn 14 days before); no caps in the way; ``restore`` rules; ``keep`` rules."""
    data: dict[str, Any] = {
        "mode": "enforce",
        "new_account_grace_days": 0,
        "rules": [
            {
                "name": "jira",
                "product": "jira-software",
                "inactive_days": 90,
                "action": "remove_product_access",
                "warn_days_before": 14,
            }
        ],
        "lifecycle": {"delivery_order": ["slack", "email"], **({"keep": keep} if keep else {})},
        "safety": {
            "caps": uncapped(),
            "canary": {"size": 0},
            "max_unknown_percent": 100,
        },
    }
    if restore:
        data["restore"] = restore
    return parse_policy(data, source="e2e")


def links_in(message: EmailMessage) -> list[str]:
    return LINK.findall(text_of(message))


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class World:
    clock: FixedClock
    sandbox: SandboxServer
    slack: FakeSlack
    inbox: Inbox
    db: Stores
    surfaces: Surfaces
    engine: Engine
    policy: Policy
    url: str
    http: httpx.AsyncClient
    jsm_http: httpx.AsyncClient
    _ids: list[int] = field(default_factory=lambda: [0])

    @property
    def org(self):
        return self.sandbox.org

    async def run(self, days: int = 0):
        self.clock.advance(timedelta(days=days))
        return await self.engine.run(self.policy, requested_by="cli:alice")

    def cases(self, state: str) -> list[Any]:
        return [
            c
            for a in self.org.users
            for c in self.db.lifecycle.find_cases(self.sandbox.org_id, a)
            if c.state.value == state
        ]

    def email_of(self, account_id: str) -> str:
        return str(self.org.users[account_id].email)

    async def click_admin_button(self, message: dict[str, Any], action_prefix: str, user: str = "U0ADMIN"):
        """An admin clicks a button of a message in the admin channel (a signed Slack interaction)."""
        self._ids[0] += 1
        response_url = self.slack.response_url(f"r{self._ids[0]}")
        payload = click_on(user, TEAM, message, action_prefix, ADMIN_CHANNEL, response_url)
        body = interaction_body(payload)
        response = await self.http.post(
            "/slack/events", content=body, headers=signed_headers(body, SIGNING_SECRET, int(time.time()))
        )
        assert self.surfaces.slack is not None
        await self.surfaces.slack.drain()
        return response

    async def thread_reply(self, user: str, parent_ts: str, text: str):
        """``user`` replies ``text`` under an admin channel message (a signed Slack ``message.channels`` event)."""
        self._ids[0] += 1
        envelope = {
            "token": "deprecated",
            "team_id": TEAM,
            "api_app_id": "A0JIRACLN",
            "type": "event_callback",
            "event_id": f"EvReply{self._ids[0]}",
            "event_time": int(time.time()),
            "event": {
                "type": "message",
                "channel": ADMIN_CHANNEL,
                "channel_type": "channel",
                "user": user,
                "text": text,
                "ts": f"1718000500.{self._ids[0]:06d}",
                "thread_ts": parent_ts,
            },
        }
        body = json.dumps(envelope).encode()
        headers = {**signed_headers(body, SIGNING_SECRET, int(time.time())), "Content-Type": "application/json"}
        response = await self.http.post("/slack/events", content=body, headers=headers)
        assert self.surfaces.slack is not None
        await self.surfaces.slack.drain()
        return response


@pytest.fixture
async def world_factory(tmp_path):
    started: list[tuple[Any, ...]] = []

    async def build(pol: Policy | None = None, users: int = 60, **overrides: Any) -> World:
        """The world; ``overrides`` are settings (e.g. ``slack_admin_user_ids``, ``admin_identities``)."""
        clock = FixedClock(NOW)
        pol = pol or restore_policy()
        sandbox = SandboxServer(
            generate_org(users=users, seed=11, now=NOW, undated_fraction=0.0),
            SandboxConfig(now=clock.now, control_api=True),
        )
        await sandbox.start()
        slack = FakeSlack()
        await slack.start()
        slack.add_user("U0ADMIN", "admin@acme.example", real_name="Ada Admin")
        slack.add_channel(ADMIN_CHANNEL, ["U0ADMIN"], name="jira-admins")
        inbox = Inbox()
        smtp_sock = _free_socket()
        smtp_port = smtp_sock.getsockname()[1]
        smtp_sock.close()
        controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        bot_sock = _free_socket()
        url = f"http://127.0.0.1:{bot_sock.getsockname()[1]}"
        values: dict[str, Any] = {
            "atlassian_org_id": sandbox.org_id,
            "atlassian_api_key": "sandbox-key",
            "atlassian_api_base": sandbox.base_url,
            "slack_bot_token": slack.bot_token,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack.api_url,
            "slack_admin_user_ids": "U0ADMIN",
            "slack_admin_channel_id": ADMIN_CHANNEL,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_sender": "jira-cleanup@acme.example",
            "smtp_tls": "none",
            "public_base_url": url,
            "link_secret": "e2e-link-secret",
            "jsm_site_url": sandbox.base_url,
            "jsm_email": JSM_EMAIL,
            "jsm_api_token": JSM_TOKEN,
            "jsm_webhook_secret": WEBHOOK_SECRET,
            "public_requests_per_minute": 1000,
        }
        settings = Settings(_env_file=None, **{**values, **overrides})
        db = stores(f"sqlite:///{tmp_path}/e2e-{len(started)}.db")
        surfaces = await compose(settings, db, pol, sandbox.org_id, clock=clock)
        config = AtlassianConfig(
            org_id=sandbox.org_id, api_key="sandbox-key", base_url=sandbox.base_url, requests_per_second=None
        )
        directory_http = httpx.AsyncClient(base_url=sandbox.base_url, timeout=30)

        async def no_sleep(seconds: float) -> None:
            clock.advance(timedelta(seconds=seconds))
            await asyncio.sleep(0)

        limiter = OrgRateLimiter(config.org_id, requests_per_second=None, clock=clock.now, sleep=no_sleep)
        directory = AtlassianDirectory(
            directory_http, config, sleep=no_sleep, clock=clock.now, rng=random.Random(1), limiter=limiter
        )
        assert surfaces.notifier is not None
        chatops = surfaces.chatops
        engine = Engine(  # as open_bot builds it for serve, run and the scheduler
            directory,
            db.scans,
            db.lifecycle,
            surfaces.notifier,
            clock,
            worker_id="e2e",
            protections=db.protections,
            people=chatops.people,
            threads=chatops.threads,
            waiting_keeps=KeepApprovals(chatops),
        )
        chatops.owner_notice = surfaces.notifier.tell
        surfaces.bind(engine)

        async def health() -> dict[str, object]:
            return {}

        app = build_app(health=health)
        surfaces.mount(app)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.SockSite(runner, bot_sock).start()
        http = httpx.AsyncClient(base_url=url, timeout=30)
        jsm_http = httpx.AsyncClient(base_url=sandbox.base_url, timeout=30)
        world = World(clock, sandbox, slack, inbox, db, surfaces, engine, pol, url, http, jsm_http)
        started.append((world, controller, runner, directory_http))
        return world

    yield build
    for world, controller, runner, directory_http in started:
        await world.http.aclose()
        await world.jsm_http.aclose()
        await directory_http.aclose()
        await runner.cleanup()
        await world.surfaces.aclose()
        controller.stop()
        await world.slack.stop()
        await world.sandbox.stop()
        for store in (world.db.scans, world.db.lifecycle):
            store.close()


JSM_EMAIL = "agent@acme.example"
JSM_TOKEN = "jsm-api-token"


# -- headless Chromium (the session's browser: tests/browser.py) ----------------------------------


class Page:
    """The browser, from async tests: every driver call runs in a worker thread."""

    def __init__(self, driver: Any, test_name: str) -> None:
        self.driver = driver
        self.test_name = re.sub(r"[^A-Za-z0-9_.-]", "_", test_name)

    async def open(self, url: str) -> None:
        await asyncio.to_thread(self.driver.get, url)

    async def text(self) -> str:
        from selenium.webdriver.common.by import By

        return str(await asyncio.to_thread(lambda: self.driver.find_element(By.TAG_NAME, "body").text))

    async def click(self, label: str) -> None:
        """Press the button labelled ``label`` and wait until the browser has left the page."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        def press() -> None:
            old = self.driver.find_element(By.TAG_NAME, "html")
            button = next(b for b in self.driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == label)
            button.click()
            WebDriverWait(self.driver, 20).until(expected_conditions.staleness_of(old))
            WebDriverWait(self.driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")

        await asyncio.to_thread(press)

    async def press_with_keyboard(self, label: str) -> None:
        """Tab to the button labelled ``label`` and press Enter, as a keyboard-only user would."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        def press() -> None:
            old = self.driver.find_element(By.TAG_NAME, "html")
            body = self.driver.find_element(By.TAG_NAME, "body")
            body.send_keys(Keys.TAB)
            for _ in range(10):
                focused = self.driver.switch_to.active_element
                if focused.tag_name == "button" and focused.text.strip() == label:
                    focused.send_keys(Keys.ENTER)
                    WebDriverWait(self.driver, 20).until(expected_conditions.staleness_of(old))
                    return
                focused.send_keys(Keys.TAB)
            raise AssertionError(f"no button {label!r} reachable with the Tab key")

        await asyncio.to_thread(press)

    async def back(self) -> None:
        await asyncio.to_thread(self.driver.back)

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{self.test_name}-{name}.png"
        assert await asyncio.to_thread(self.driver.save_screenshot, str(path))
        return path


@pytest.fixture
def page(chromium, request):
    chromium.delete_all_cookies()
    return Page(chromium, request.node.name)
