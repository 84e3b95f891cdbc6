"""Slack's OAuth install flow over loopback HTTP: install, per-workspace tokens, refusals, uninstall."""

from __future__ import annotations

import io
import json
import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml

from adapters.store import create_lifecycle_store
from bot.settings import Settings
from bot.slack_app import SlackIntegration, build_slack
from bot.slack_oauth import DEFAULT_SCOPES, build_oauth, redirect_url
from core.lifecycle import CaseState
from tests.slackfake import FakeSlack
from tests.slackfake.signing import interaction_body

from .conftest import ADMIN_CHANNEL, SECRET, TEAM, World, button_value, policy, slack_user_of, stale

CLIENT_ID = "0000000000.1111111111"
CLIENT_SECRET = "fake-client-secret"
OTHER_TEAM = "T0GLOBEX"
ACME_TOKEN = "xoxb-acme-installed-0001"
GLOBEX_TOKEN = "xoxb-globex-installed-0002"
COOKIE = "jira-cleanup-slack-state"


class OAuthWorld(World):
    """The Slack test world with the install flow on and no SLACK_BOT_TOKEN."""

    database_url = ""

    def slack_settings(self, fake: FakeSlack) -> Settings:
        return Settings(
            _env_file=None,
            slack_client_id=CLIENT_ID,
            slack_client_secret=CLIENT_SECRET,
            slack_signing_secret=SECRET,
            slack_api_url=fake.api_url,
            slack_admin_user_ids=f"{TEAM}:U0ADMIN,{TEAM}:U0SEC",
            slack_admin_channel_id=ADMIN_CHANNEL,
            slack_warning_contact="#it-help",
            public_base_url="https://bot.example.test",
        )

    def build_surface(self) -> SlackIntegration:
        self.sql = create_lifecycle_store(self.database_url)
        self.oauth = build_oauth(self.settings, self.sql, now=self.clock.now)
        return build_slack(self.settings, self.ops, team_id="", oauth=self.oauth)

    async def stop(self) -> None:
        await super().stop()
        self.sql.close()

    # -- the install flow --------------------------------------------------------------------

    async def start_install(self) -> str:
        """``GET /slack/install``: the state of the 302 (checked against its cookie)."""
        assert self.http is not None
        response = await self.http.get("/slack/install")
        assert response.status_code == 302
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        state = query["state"][0]
        assert response.cookies.get(COOKIE) == state
        return state

    async def finish_install(self, state: str, code: str, *, cookie: str | None = None) -> httpx.Response:
        """Slack sends the browser back with ``code`` and ``state`` (and the browser its cookie)."""
        assert self.http is not None
        headers = {"Cookie": f"{COOKIE}={state if cookie is None else cookie}"} if cookie != "" else {}
        return await self.http.get("/slack/oauth_redirect", params={"code": code, "state": state}, headers=headers)

    async def install(self, fake: FakeSlack, code: str, token: str) -> None:
        fake.grant(code, bot_token=token)
        answer = await self.finish_install(await self.start_install(), code)
        assert answer.status_code == 200, answer.text
        assert "is now installed" in answer.text

    def installed(self) -> list[str]:
        return [w.team_id for w in self.oauth.installations.installed()]

    async def event(self, team: str, event: dict[str, Any], event_id: str) -> httpx.Response:
        envelope = {
            "token": "deprecated",
            "team_id": team,
            "api_app_id": "A0JIRACLN",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
        response = await self.post(json.dumps(envelope).encode(), content_type="application/json")
        await self.settle()
        return response

    async def dm(self, team: str, user: str, text: str, event_id: str) -> httpx.Response:
        event = {"type": "message", "channel": "D0ANY", "channel_type": "im", "user": user, "text": text}
        return await self.event(team, {**event, "ts": "1718000500.000100"}, event_id)


@pytest.fixture
async def oauth_world(make_world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``build(accounts)``: a started :class:`OAuthWorld` (installations in a SQLite file)."""
    monkeypatch.setattr(OAuthWorld, "database_url", f"sqlite:///{tmp_path / 'bot.db'}")
    monkeypatch.setattr("tests.slack.conftest.World", OAuthWorld)
    return make_world


def bearer(fake: FakeSlack, method: str) -> list[str | None]:
    return [call.auth for call in fake.calls(method)]


async def test_install_then_a_dm_from_that_workspace_is_answered_with_its_own_token(oauth_world, fake_slack) -> None:
    """Not installed: nothing answers. Install (302 + state → redirect + code): the installation is stored
    and the next DM from that workspace is answered through its token."""
    world = await oauth_world([])
    await world.dm(TEAM, "U0EVE", "hello", "Ev1")
    assert fake_slack.calls("chat.postMessage") == []

    state = await world.start_install()
    fake_slack.grant("code-1", bot_token=ACME_TOKEN)
    answer = await world.finish_install(state, "code-1")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert f"({TEAM})" in answer.text
    assert world.installed() == [TEAM]
    [exchange] = fake_slack.calls("oauth.v2.access")
    assert exchange.params["code"] == "code-1"
    assert exchange.params["redirect_uri"] == "https://bot.example.test/slack/oauth_redirect"

    await world.dm(TEAM, "U0EVE", "hello", "Ev2")
    assert bearer(fake_slack, "chat.postMessage") == [f"Bearer {ACME_TOKEN}"]


async def test_the_install_redirect_asks_slack_for_the_manifest_scopes(oauth_world) -> None:
    world = await oauth_world([])
    response = await world.http.get("/slack/install")
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://slack.com/oauth/v2/authorize"
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"][0].split(",") == list(DEFAULT_SCOPES)
    assert query["redirect_uri"] == ["https://bot.example.test/slack/oauth_redirect"]
    assert "HttpOnly" in response.headers["Set-Cookie"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("made-up state", "invalid_state"),
        ("no cookie", "invalid_browser"),
        ("another cookie", "invalid_browser"),
        ("used twice", "invalid_state"),
        ("expired", "invalid_state"),
        ("refused code", "invalid_code"),
        ("cancelled", "access_denied"),
    ],
)
async def test_a_bad_redirect_is_refused_naming_why_and_stores_nothing(
    oauth_world, fake_slack, case: str, reason: str
) -> None:
    world = await oauth_world([])
    fake_slack.grant("code-1", bot_token=ACME_TOKEN)
    state = await world.start_install()
    if case == "made-up state":
        answer = await world.finish_install("not-a-state-we-gave", "code-1")
    elif case == "no cookie":
        answer = await world.finish_install(state, "code-1", cookie="")
    elif case == "another cookie":
        answer = await world.finish_install(state, "code-1", cookie=await world.start_install())
    elif case == "used twice":
        fake_slack.grant("code-2", bot_token="xoxb-second-0003")
        assert (await world.finish_install(state, "code-1")).status_code == 200
        await world.oauth.installations.async_delete_all(enterprise_id=None, team_id=TEAM)
        answer = await world.finish_install(state, "code-2")
    elif case == "expired":
        world.clock.advance(timedelta(minutes=10))
        answer = await world.finish_install(state, "code-1")
    elif case == "refused code":
        answer = await world.finish_install(state, "code-from-elsewhere")
    else:
        answer = await world.http.get("/slack/oauth_redirect", params={"error": "access_denied", "state": state})
    assert answer.status_code >= 400
    assert f"Installation failed ({reason})" in answer.text
    assert world.installed() == []
    if reason != "invalid_code":
        assert len(fake_slack.calls("oauth.v2.access")) == (1 if case == "used twice" else 0)


async def test_two_workspaces_each_person_is_warned_through_their_own_workspace(oauth_world, fake_slack) -> None:
    """Acme's person is found in Acme and DMed with Acme's token, Globex's in Globex with Globex's;
    a click from Globex updates the message through Globex's token."""
    globex = FakeSlack(team_id=OTHER_TEAM, team_domain="globex", bot_token="xoxb-globex-unused")
    fake_slack.join(globex)
    globex.add_user(slack_user_of("g1"), "g1@acme.example", real_name="Gus")
    world = await oauth_world([stale("a1"), stale("g1")], policy(), people=False)
    fake_slack.add_user(slack_user_of("a1"), "a1@acme.example", real_name="Ada")
    await world.install(fake_slack, "code-acme", ACME_TOKEN)
    await world.install(globex, "code-globex", GLOBEX_TOKEN)
    assert world.installed() == [TEAM, OTHER_TEAM]

    report = await world.run()
    assert report.counts["warnings_delivered"] == 2
    assert bearer(fake_slack, "chat.postMessage") == [f"Bearer {ACME_TOKEN}"]
    assert bearer(globex, "chat.postMessage") == [f"Bearer {GLOBEX_TOKEN}"]
    [warning] = globex.messages(globex.dm_of("U0G1"))
    assert world.case("g1").delivered_at is not None

    payload = _click(warning, "U0G1", OTHER_TEAM, globex.dm_of("U0G1"), world.response_url()[1])
    assert (await world.post(interaction_body(payload))).status_code == 200
    await world.settle()
    assert world.case("g1").state is CaseState.KEPT
    assert bearer(globex, "chat.update") == [f"Bearer {GLOBEX_TOKEN}"]


def _click(message: dict[str, Any], user: str, team: str, channel: str, response_url: str) -> dict[str, Any]:
    from tests.slackfake.signing import block_actions_payload

    value = button_value(message, "jc_keep")
    return block_actions_payload(user, team, "jc_keep", value, channel, message["ts"], response_url)


async def test_uninstall_deletes_the_installation_and_the_workspace_is_no_longer_answered(
    oauth_world, fake_slack
) -> None:
    world = await oauth_world([])
    await world.install(fake_slack, "code-1", ACME_TOKEN)
    user_only = {"type": "tokens_revoked", "tokens": {"oauth": ["U0EVE"], "bot": []}}
    await world.event(TEAM, user_only, "Ev1")
    assert world.installed() == [TEAM]  # only a user's token went

    await world.event(TEAM, {"type": "app_uninstalled"}, "Ev2")
    assert world.installed() == []
    await world.dm(TEAM, "U0EVE", "hello", "Ev3")
    assert fake_slack.calls("chat.postMessage") == []

    await world.install(fake_slack, "code-2", "xoxb-again-0004")
    await world.event(TEAM, {"type": "tokens_revoked", "tokens": {"bot": ["U0BOT"]}}, "Ev4")
    assert world.installed() == []


async def test_bot_tokens_never_reach_the_log(oauth_world, fake_slack) -> None:
    """Even at DEBUG (slack_sdk logs its requests), through the bot's redacting log handler."""
    from bot.logs import configure_logging

    root = logging.getLogger()
    level = root.level
    out = io.StringIO()
    handler = configure_logging("DEBUG", [CLIENT_SECRET], stream=out)
    try:
        world = await oauth_world([stale("a1")])
        await world.install(fake_slack, "code-1", ACME_TOKEN)
        await world.run()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert "installed in T0ACME" in out.getvalue()
    assert ACME_TOKEN not in out.getvalue()
    assert CLIENT_SECRET not in out.getvalue()


async def test_with_a_bot_token_too_its_workspace_needs_no_install(fake_slack, tmp_path: Path) -> None:
    """SLACK_BOT_TOKEN and OAuth together: the token's workspace is served (and is the admin workspace)."""
    from bot.compose import compose, stores

    settings = Settings(
        _env_file=None,
        slack_bot_token=fake_slack.bot_token,
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_signing_secret=SECRET,
        slack_api_url=fake_slack.api_url,
        slack_admin_user_ids="U0ADMIN",
        slack_admin_channel_id=ADMIN_CHANNEL,
    )
    db = stores(f"sqlite:///{tmp_path / 'both.db'}")
    try:
        surfaces = await compose(settings, db, policy(), "org-1")
        slack = surfaces.slack
        assert slack is not None
        assert slack.oauth is not None
        assert "installs at /slack/install" in " ".join(surfaces.names)
        assert await slack.oauth.workspaces.teams() == [TEAM]
        assert (await slack.oauth.authorize(None, TEAM)).bot_token == fake_slack.bot_token
        assert await slack.oauth.authorize(None, OTHER_TEAM) is None
        fake_slack.add_channel(ADMIN_CHANNEL, ["U0ADMIN"])
        await slack.notifier.notify_admins("org-1", "hello admins")
        assert bearer(fake_slack, "chat.postMessage") == [f"Bearer {fake_slack.bot_token}"]
        await surfaces.aclose()
    finally:
        db.close()


def test_oauth_settings_defaults_and_secrets(tmp_path: Path) -> None:
    """On with client id + secret + signing secret (no bot token needed); the redirect URL follows the org's
    public URL; the client secret and the token key are redacted; manifest.yml asks for the default scopes."""
    off = Settings(_env_file=None, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET)
    assert not off.slack_oauth_enabled
    assert not off.slack_enabled
    on = Settings(
        _env_file=None,
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_signing_secret=SECRET,
        slack_token_key="k" * 40,
        public_base_url="https://bot.example.test/o/acme/",
    )
    assert on.slack_oauth_enabled
    assert on.slack_enabled
    assert redirect_url(on) == "https://bot.example.test/o/acme/slack/oauth_redirect"
    assert CLIENT_SECRET in on.secret_values()
    assert "k" * 40 in on.secret_values()
    manifest = yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text(encoding="utf-8"))
    assert manifest["oauth_config"]["scopes"]["bot"] == list(DEFAULT_SCOPES)
    assert manifest["oauth_config"]["redirect_urls"] == ["https://YOUR-HOST/slack/oauth_redirect"]


async def test_the_install_pages_are_limited_per_address(oauth_world) -> None:
    """Each install writes a state: past PUBLIC_REQUESTS_PER_MINUTE an address gets 429."""
    from bot.ratelimit import RateLimiter

    world = await oauth_world([])
    world.oauth.limiter = RateLimiter(world.clock, 2)
    assert [(await world.http.get("/slack/install")).status_code for _ in range(3)] == [302, 302, 429]
    assert (await world.http.get("/slack/oauth_redirect", params={"state": "x", "code": "y"})).status_code == 429


async def test_each_org_of_a_deployment_installs_under_its_prefix_and_keeps_its_own(fake_slack, tmp_path: Path) -> None:
    """/o/acme/slack/install redirects back to /o/acme/...; Acme's state is refused by Globex; the
    installation is Acme's only."""
    from aiohttp import web

    from bot.server import ROUTES, build_app, serve

    async def health() -> dict[str, object]:
        return {}

    sql = create_lifecycle_store(f"sqlite:///{tmp_path / 'orgs.db'}")
    app, flows = build_app(health=health), {}
    for name in ("acme", "globex"):
        settings = Settings(
            _env_file=None,
            jira_cleanup_orgs=tmp_path / "orgs.yml",
            atlassian_org_id=f"org-{name}",
            slack_client_id=CLIENT_ID,
            slack_client_secret=CLIENT_SECRET,
            slack_signing_secret=SECRET,
            slack_api_url=fake_slack.api_url,
            public_base_url=f"https://bot.example.test/o/{name}",
        )
        flows[name] = build_oauth(settings, sql)
        sub = web.Application()
        sub[ROUTES] = []
        flows[name].mount(sub)
        app.add_subapp(f"/o/{name}", sub)
    runner, url = await serve(app, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            started = await http.get("/o/acme/slack/install")
            query = parse_qs(urlsplit(started.headers["Location"]).query)
            assert query["redirect_uri"] == ["https://bot.example.test/o/acme/slack/oauth_redirect"]
            state = query["state"][0]
            [(cookie, value)] = started.cookies.items()
            assert value == state
            fake_slack.grant("code-1", bot_token=ACME_TOKEN)
            params = {"code": "code-1", "state": state}
            other = await http.get(
                "/o/globex/slack/oauth_redirect", params=params, headers={"Cookie": f"{cookie}={state}"}
            )
            assert "Installation failed (invalid_browser)" in other.text  # Globex's cookie is another
            globex_cookie = f"{cookie.replace('org-acme', 'org-globex')}={state}"
            other = await http.get("/o/globex/slack/oauth_redirect", params=params, headers={"Cookie": globex_cookie})
            assert "Installation failed (invalid_state)" in other.text  # not a state Globex gave
            done = await http.get(
                "/o/acme/slack/oauth_redirect", params=params, headers={"Cookie": f"{cookie}={state}"}
            )
            assert done.status_code == 200
        assert [w.team_id for w in flows["acme"].installations.installed()] == [TEAM]
        assert flows["globex"].installations.installed() == []
    finally:
        await runner.cleanup()
        sql.close()


def test_bare_admin_ids_need_a_workspace_when_no_bot_token_names_one() -> None:
    """With OAuth and no SLACK_BOT_TOKEN, U… alone is refused (whose workspace?) unless SLACK_ADMIN_TEAM_ID says."""
    from bot.settings import SettingsError
    from bot.slack_oauth import admin_team

    oauth = {"slack_client_id": CLIENT_ID, "slack_client_secret": CLIENT_SECRET, "slack_signing_secret": SECRET}
    with pytest.raises(SettingsError, match="SLACK_ADMIN_USER_IDS"):
        admin_team(Settings(_env_file=None, slack_admin_user_ids="U0ADMIN", **oauth), None)
    assert admin_team(Settings(_env_file=None, slack_admin_user_ids=f"{TEAM}:U0ADMIN", **oauth), None) == ""
    named = Settings(_env_file=None, slack_admin_user_ids="U0ADMIN", slack_admin_team_id=OTHER_TEAM, **oauth)
    assert admin_team(named, None) == OTHER_TEAM
    assert admin_team(Settings(_env_file=None, slack_admin_user_ids="U0ADMIN", **oauth), TEAM) == TEAM
