"""The whole server as ``serve`` builds it (Slack, Teams, email pages, JSM webhook), for hostile input.

Runs on a background event loop with the sandbox, the fake Slack and a real SMTP server, so
hypothesis drives it from plain synchronous tests over real HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from adapters.sandbox import SandboxConfig, SandboxServer, generate_org
from bot.compose import compose, stores
from bot.server import build_app
from bot.settings import Settings
from core.policy import parse_policy
from tests.peers import ThreadedSlack, smtp_inbox, threaded_slack
from tests.slackfake.signing import signed_headers

SLACK_SECRET = "fuzz-signing-secret-0123456789"
JSM_SECRET = "fuzz-webhook-secret"
TEAMS_APP_ID = "00000000-1111-2222-3333-444444444444"


@dataclass
class Target:
    """The running server and what a test needs to sign requests and count writes."""

    url: str
    peers: ThreadedSlack
    sandbox: SandboxServer
    http: httpx.Client

    def slack_headers(self, body: bytes, content_type: str) -> dict[str, str]:
        headers = signed_headers(body, SLACK_SECRET, int(time.time()))
        headers["Content-Type"] = content_type
        return headers

    @staticmethod
    def jsm_signature(body: bytes) -> str:
        return "sha256=" + hmac.new(JSM_SECRET.encode(), body, hashlib.sha256).hexdigest()

    def writes(self) -> int:
        return len(self.peers.call(self.sandbox.mutating_requests))


@contextmanager
def target(tmp: Path) -> Iterator[Target]:
    with threaded_slack() as peers, smtp_inbox() as (_inbox, smtp_port):
        sandbox = SandboxServer(generate_org(users=20, seed=3, undated_fraction=0.0), SandboxConfig())
        peers.call(sandbox.start)
        fake = peers.fake
        fake.add_user("U0ADMIN", "admin@acme.example", real_name="Ada Admin")
        fake.add_channel("C0ADMIN", ["U0ADMIN"], name="jira-admins")
        settings = Settings(
            _env_file=None,
            atlassian_org_id=sandbox.org_id,
            atlassian_api_key="sandbox-key",
            atlassian_api_base=sandbox.base_url,
            database_url=f"sqlite:///{tmp}/fuzz.db",
            slack_bot_token=fake.bot_token,
            slack_signing_secret=SLACK_SECRET,
            slack_api_url=fake.api_url,
            slack_admin_user_ids="U0ADMIN",
            slack_admin_channel_id="C0ADMIN",
            microsoft_app_id=TEAMS_APP_ID,
            microsoft_app_password="not-used",
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_sender="jira-cleanup@acme.example",
            smtp_tls="none",
            link_secret="fuzz-link-secret",
            jsm_site_url=sandbox.base_url,
            jsm_email="agent@acme.example",
            jsm_api_token="jsm-api-token",
            jsm_webhook_secret=JSM_SECRET,
            public_requests_per_minute=1_000_000,
            chat_requests_per_minute=1_000_000,
        )
        policy = parse_policy(
            {"mode": "enforce", "rules": [{"name": "r", "product": "any", "inactive_days": 90, "action": "suspend"}]},
            source="fuzz",
        )
        db = stores(settings.database_url)
        holder: dict[str, Any] = {}

        async def start() -> str:
            surfaces = await compose(settings, db, policy, sandbox.org_id)

            async def health() -> dict[str, object]:
                return {}

            app = build_app(health=health, limiter=surfaces.chat_limiter)
            surfaces.mount(app)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            holder.update(runner=runner, surfaces=surfaces)
            host, port = runner.addresses[0][:2]
            return f"http://{host}:{port}"

        url = peers.call(start)

        async def stop() -> None:
            await holder["runner"].cleanup()
            await holder["surfaces"].aclose()

        with httpx.Client(base_url=url, timeout=30) as http:
            try:
                yield Target(url, peers, sandbox, http)
            finally:
                peers.call(stop)
                peers.call(sandbox.stop)
                db.close()
