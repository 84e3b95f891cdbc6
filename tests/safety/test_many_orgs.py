"""Two orgs and two Slack workspaces from one ``serve`` (a deployment file), kept apart.

A real ``jira-cleanup serve`` process; each org has its own sandbox (its own API key), its own
fake Slack workspace (its own signing secret) and its endpoints under ``/o/<name>/``. Acme's app
has a bot token; Globex's is installed through Slack's OAuth flow at ``/o/globex/slack/install``
while ``serve`` runs (no bot token configured for it; the environment's must not leak to it). A
scheduled run of both orgs warns each org's people in its own workspace only, Globex's with the
installed token; a request signed with one workspace's secret is refused at the other org's
endpoint; the health page shows both orgs.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml

from adapters.sandbox import SandboxConfig, SandboxServer, generate_org
from tests.peers import ThreadedSlack
from tests.slackfake import FakeSlack
from tests.slackfake.signing import signed_headers, slash_command_body

from .world import EXE, Served, base_policy, slack_id

ADMIN, ADMIN_CHANNEL = "U0ADMIN", "C0ADMIN"
#: Orgs whose Slack app is installed through the OAuth flow (no bot token in the deployment file).
OAUTH = {"globex"}
INSTALLED_TOKEN = "xoxb-globex-installed-by-oauth"
CLIENT_ID, CLIENT_SECRET = "0000000000.1111111111", "fake-client-secret"


@dataclass
class Org:
    name: str
    peers: ThreadedSlack
    sandbox: SandboxServer
    secret: str

    @property
    def fake(self) -> FakeSlack:
        return self.peers.fake

    def warned(self) -> set[str]:
        """Account ids of the sandbox's people who got a DM in this org's workspace."""
        found = set()
        for index, account_id in enumerate(self.sandbox.org.user_ids):
            dm = self.fake.dm_of(slack_id(index))
            if dm is not None and self.fake.messages(dm):
                found.add(account_id)
        return found


@contextmanager
def org(name: str, team: str, seed: int) -> Iterator[Org]:
    peers = ThreadedSlack()
    peers.fake = FakeSlack(team_id=team, team_domain=name, bot_token=f"xoxb-{name}")
    peers.start()
    try:
        sandbox = SandboxServer(
            generate_org(users=12, seed=seed, undated_fraction=0.0), SandboxConfig(api_key=f"key-{name}")
        )
        peers.call(sandbox.start)
        fake = peers.fake
        fake.add_user(ADMIN, f"admin@{name}.example", real_name="Admin")
        fake.add_channel(ADMIN_CHANNEL, [ADMIN], name="jira-admins")
        for index, account_id in enumerate(sandbox.org.user_ids):
            email = sandbox.org.users[account_id].email
            if email:
                fake.add_user(slack_id(index), email, real_name=f"Person {index}")
        try:
            yield Org(name, peers, sandbox, f"signing-secret-of-{name}-0123456789")
        finally:
            peers.call(sandbox.stop)
    finally:
        peers.stop()


def deployment(tmp: Path, orgs: list[Org]) -> tuple[Path, dict[str, str]]:
    """The deployment file and the environment variables its references name."""
    entries, env = {}, {}
    for o in orgs:
        upper = o.name.upper()
        (tmp / f"{o.name}.yml").write_text(yaml.safe_dump(base_policy()))
        entries[o.name] = {
            "org_id": o.sandbox.org_id,
            "policy": f"{o.name}.yml",
            "ATLASSIAN_API_BASE": o.sandbox.base_url,
            "ATLASSIAN_API_KEY": f"env:{upper}_ATLASSIAN_KEY",
            "SLACK_API_URL": o.fake.api_url,
            "SLACK_SIGNING_SECRET": f"env:{upper}_SLACK_SIGNING_SECRET",
            "SLACK_ADMIN_USER_IDS": ADMIN,
            "SLACK_ADMIN_CHANNEL_ID": ADMIN_CHANNEL,
        }
        env.update({f"{upper}_ATLASSIAN_KEY": f"key-{o.name}", f"{upper}_SLACK_SIGNING_SECRET": o.secret})
        if o.name in OAUTH:
            entries[o.name].update(
                {
                    "SLACK_CLIENT_ID": CLIENT_ID,
                    "SLACK_CLIENT_SECRET": f"env:{upper}_SLACK_CLIENT_SECRET",
                    "SLACK_ADMIN_TEAM_ID": o.fake.team_id,
                }
            )
            env[f"{upper}_SLACK_CLIENT_SECRET"] = CLIENT_SECRET
        else:
            entries[o.name]["SLACK_BOT_TOKEN"] = f"env:{upper}_SLACK_BOT_TOKEN"
            env[f"{upper}_SLACK_BOT_TOKEN"] = o.fake.bot_token
    path = tmp / "orgs.yml"
    path.write_text(yaml.safe_dump({"orgs": entries}))
    return path, env


def start_serve(tmp: Path, env: dict[str, str]) -> Served:
    proc = subprocess.Popen(
        [*EXE, "serve", "--port", "0"], cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    match = re.search(r"serving on (http://\S+) ", first)
    if match is None:
        proc.wait(timeout=30)
        raise AssertionError(f"serve did not start: {first}{proc.stderr.read() if proc.stderr else ''}")
    served = Served(proc, match.group(1))
    for stream in (proc.stdout, proc.stderr):
        threading.Thread(target=lambda s=stream: [served.lines.put(line) for line in s], daemon=True).start()
    served.lines.put(first)
    return served


def wait_until(predicate: Any, served: Served, timeout: float = 90) -> None:
    """Check ``predicate`` whenever ``serve`` writes a line (it logs what it does), up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            while not served.lines.empty():
                seen.append(served.lines.get())
            raise AssertionError("timed out; serve wrote:\n" + "".join(seen[-40:]))
        with contextlib.suppress(queue.Empty):
            seen.append(served.lines.get(timeout=min(remaining, 1.0)))


@pytest.fixture
def two_orgs(tmp_path: Path) -> Iterator[tuple[list[Org], Served]]:
    with ExitStack() as stack:
        orgs = [stack.enter_context(org("acme", "T0ACME", 7)), stack.enter_context(org("globex", "T0GLOBEX", 8))]
        path, refs = deployment(tmp_path, orgs)
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("ATLASSIAN_", "SLACK_", "SMTP_", "JIRA_"))}
        env = {
            **keep,
            **refs,
            "JIRA_CLEANUP_ORGS": str(path),
            "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
            "ATLASSIAN_REQUESTS_PER_SECOND": "1000",
            "LOG_LEVEL": "INFO",
            # The environment's own org values must not reach either org.
            "ATLASSIAN_API_KEY": "key-acme",
            "SLACK_BOT_TOKEN": orgs[0].fake.bot_token,
        }
        served = start_serve(tmp_path, env)
        try:
            yield orgs, served
        finally:
            served.proc.send_signal(signal.SIGTERM)
            served.proc.wait(timeout=30)
            for stream in (served.proc.stdout, served.proc.stderr):
                if stream is not None:
                    stream.close()


def slash(served: Served, path: str, secret: str, team: str) -> httpx.Response:
    body = slash_command_body(text="help", user_id=ADMIN, channel_id=ADMIN_CHANNEL, team_id=team)
    headers = signed_headers(body, secret, int(time.time()))
    return httpx.post(f"{served.url}{path}", content=body, headers=headers, timeout=30)


def install_through_oauth(served: Served, o: Org) -> None:
    """What an admin's browser does: open the org's install link, approve in Slack, come back."""
    o.peers.call(lambda: o.fake.grant("code-from-slack", bot_token=INSTALLED_TOKEN))
    with httpx.Client(base_url=served.url, timeout=30) as browser:
        start = browser.get(f"/o/{o.name}/slack/install")
        assert start.status_code == 302, start.text
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        pair = start.headers["set-cookie"].split(";", 1)[0]
        assert pair.endswith(f"={state}")
        # The cookie is Secure (PUBLIC_BASE_URL is https in production); the browser sends it back.
        cookie = {"Cookie": pair}
        done = browser.get(
            f"/o/{o.name}/slack/oauth_redirect", params={"code": "code-from-slack", "state": state}, headers=cookie
        )
        assert done.status_code == 200, done.text
        assert "is now installed" in done.text


def test_two_orgs_two_workspaces_one_serve_kept_apart(two_orgs):
    (acme, globex), served = two_orgs
    install_through_oauth(served, globex)
    served.proc.send_signal(signal.SIGUSR1)  # "run now": every org's scheduled job
    wait_until(lambda: acme.warned() and globex.warned(), served)
    # Each org's people heard from their own workspace's bot, about their own org.
    assert acme.warned() <= set(acme.sandbox.org.user_ids)
    assert globex.warned() <= set(globex.sandbox.org.user_ids)
    for o, other in ((acme, globex), (globex, acme)):
        texts = json.dumps([o.fake.messages(o.fake.dm_of(slack_id(i)) or "") for i in range(12)])
        assert other.sandbox.org_id not in texts
    # Globex's people were written to with the token its workspace granted at install, nothing else.
    assert {c.auth for c in globex.fake.calls("chat.postMessage")} == {f"Bearer {INSTALLED_TOKEN}"}
    assert {c.auth for c in acme.fake.calls("chat.postMessage")} == {f"Bearer {acme.fake.bot_token}"}
    # Each sandbox saw only its own key (another key would be 401 and nobody warned).
    for o in (acme, globex):
        assert {r.status for r in o.sandbox.state.log} <= {200}

    # A command signed by Acme's workspace works at Acme's endpoint only.
    assert slash(served, "/o/acme/slack/events", acme.secret, "T0ACME").status_code == 200
    assert slash(served, "/o/globex/slack/events", acme.secret, "T0ACME").status_code == 401
    assert slash(served, "/slack/events", acme.secret, "T0ACME").status_code == 404

    ready = httpx.get(f"{served.url}/readyz", timeout=30).json()
    assert set(ready["orgs"]) == {"acme", "globex"}
    assert ready["orgs"]["acme"]["org_id"] == acme.sandbox.org_id
    assert ready["orgs"]["globex"]["org_id"] == globex.sandbox.org_id
    assert ready["role"] == "leader"
