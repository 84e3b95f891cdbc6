"""A world for the entry-point × invariant matrix: the bot runs as users run it, every peer on loopback.

* the Atlassian sandbox and the fake Slack Web API run in this test process, on one event loop
  in a background thread (so ``subprocess.run`` of the CLI can talk to them while a test waits);
* email goes to a real SMTP server on loopback (aiosmtpd) when a scenario configures it;
* the bot is the real ``jira-cleanup`` command: ``run``/``approve``/``protect``/``pause`` as
  subprocesses, and ``serve`` as a long-running process whose scheduled job is started with
  ``SIGUSR1`` (the operator's "run now") and whose Slack endpoint gets really signed requests.

Each entry point is driven through :meth:`World.trigger_run` (``cli``, ``scheduler``, ``chat``)
and :meth:`World.approve` (``cli``, ``chat``), so a scenario states its invariant once and is
checked on each of them.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from adapters.atlassian import AtlassianConfig, open_directory
from adapters.sandbox import SandboxConfig, SandboxServer, generate_org
from bot.compose import Stores, stores
from core.clock import SystemClock
from core.engine import set_paused
from core.ledger import RunStatus
from core.lifecycle import Case
from core.planner import Verdict, decide
from core.policy import parse_policy
from tests.peers import Inbox, ThreadedSlack, smtp_inbox, threaded_slack
from tests.policies import uncapped
from tests.slackfake.signing import click_on, interaction_body, signed_headers, slash_command_body

ROOT = Path(__file__).resolve().parents[2]
EXE = [sys.executable, "-m", "bot.cli"]
SIGNING_SECRET = "safety-signing-secret-0123456789"
TEAM = "T0ACME"
ADMIN_CHANNEL = "C0ADMIN"
ADMINS = ("U0ADMIN", "U0SEC")

RUN_ENTRY_POINTS = ("cli", "scheduler", "chat")
APPROVE_ENTRY_POINTS = ("cli", "chat")


def base_policy(**changes: Any) -> dict[str, Any]:
    """Suspend accounts unused for 60 days, warning due at once; caps lifted unless ``changes`` say so."""
    data: dict[str, Any] = {
        "mode": "enforce",
        "new_account_grace_days": 0,
        "last_active_lag_days": 0,
        "rules": [
            {"name": "org-wide", "product": "any", "inactive_days": 60, "action": "suspend", "warn_days_before": 0}
        ],
        "lifecycle": {"delivery_order": ["slack", "email"]},
        "safety": {
            "caps": uncapped(),
            "canary": {"size": 0},
            "max_unknown_percent": 100,
        },
    }
    data.update(changes)
    return data


def capped_policy(max_actions: int = 2) -> dict[str, Any]:
    """:func:`base_policy` with a per-run cap of ``max_actions``: a run over it is held for approval."""
    data = base_policy()
    data["safety"]["caps"]["per_run"] = {"max_actions": max_actions, "max_percent": None}
    return data


def slack_id(index: int) -> str:
    return f"U{index:05d}X"


@dataclass
class Served:
    """A running ``jira-cleanup serve``: its URL and the log lines it wrote to stderr."""

    proc: subprocess.Popen[str]
    url: str
    lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def wait_line(self, pattern: str, timeout: float = 90) -> str:
        """The lines serve logged until one matches ``pattern`` (blocks on the process's output)."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"serve never logged {pattern!r}")
            seen.append(self.lines.get(timeout=left))
            if re.search(pattern, seen[-1]):
                return "".join(seen)


@dataclass
class World:
    tmp: Path
    peers: ThreadedSlack
    sandbox: SandboxServer
    db_url: str
    policy: dict[str, Any]
    inbox: Inbox | None = None
    smtp_port: int | None = None
    slack: bool = True
    unreachable: set[str] = field(default_factory=set)
    #: Accounts the policy selects (planned in this process with the real client, before the bot runs).
    selected: list[str] = field(default_factory=list)
    served: Served | None = None
    #: Settings of every ``jira-cleanup`` process this world starts, over the defaults of :meth:`env`.
    settings: dict[str, str] = field(default_factory=dict)
    _ids: list[int] = field(default_factory=lambda: [0])

    # -- set-up ------------------------------------------------------------------------------

    @property
    def fake(self) -> Any:
        return self.peers.fake

    @property
    def policy_path(self) -> Path:
        return self.tmp / "policy.yml"

    def write_policy(self, data: dict[str, Any] | None = None) -> None:
        if data is not None:
            self.policy = data
        self.policy_path.write_text(yaml.safe_dump(self.policy))

    def env(self, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("ATLASSIAN_", "SLACK_", "SMTP_", "JIRA_"))}
        values = {
            **keep,
            "COLUMNS": "200",
            "NO_COLOR": "1",
            "LOG_LEVEL": "INFO",
            "ATLASSIAN_API_BASE": self.sandbox.base_url,
            "ATLASSIAN_ORG_ID": self.sandbox.org_id,
            "ATLASSIAN_API_KEY": "sandbox-key",
            "ATLASSIAN_REQUESTS_PER_SECOND": "1000",
            "DATABASE_URL": self.db_url,
            "JIRA_CLEANUP_POLICY": str(self.policy_path),
            "EMAIL_ADMIN_ADDRESSES": "admins@acme.example",
        }
        if self.slack:
            values.update(
                SLACK_BOT_TOKEN=self.fake.bot_token,
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=self.fake.api_url,
                SLACK_ADMIN_USER_IDS=",".join(ADMINS),
                SLACK_ADMIN_CHANNEL_ID=ADMIN_CHANNEL,
            )
        if self.smtp_port is not None:
            values.update(
                SMTP_HOST="127.0.0.1",
                SMTP_PORT=str(self.smtp_port),
                SMTP_SENDER="jira-cleanup@acme.example",
                SMTP_TLS="none",
            )
        values.update(self.settings)
        values.update(extra)
        return values

    # -- entry points ------------------------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*EXE, *args], cwd=self.tmp, env=self.env(), capture_output=True, text=True, timeout=180, check=False
        )
        if check:
            assert done.returncode == 0, f"jira-cleanup {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done

    def start_serve(self) -> Served:
        if self.served is not None:
            return self.served
        proc = subprocess.Popen(
            [*EXE, "serve", "--port", "0"],
            cwd=self.tmp,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        first = proc.stdout.readline()
        match = re.search(r"serving on (http://\S+) ", first)
        if match is None:
            proc.wait(timeout=30)
            raise AssertionError(f"serve did not start: {first}{proc.stderr.read()}")
        served = Served(proc, match.group(1))

        def pump(stream: Any) -> None:
            for line in stream:
                served.lines.put(line)

        for stream in (proc.stdout, proc.stderr):
            threading.Thread(target=pump, args=(stream,), daemon=True).start()
        self.served = served
        return served

    def stop_serve(self) -> None:
        if self.served is not None:
            proc = self.served.proc
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            self.served = None

    def trigger_run(self, via: str, *, dry_run: bool = False) -> str:
        """Start one lifecycle run through ``via`` and wait for it to finish; its output or reply."""
        if via == "cli":
            done = self.cli("run", "--as", "alice", *(["--dry-run"] if dry_run else []))
            return done.stdout
        served = self.start_serve()
        if via == "scheduler":
            served.proc.send_signal(signal.SIGUSR1)
            # The job is over (APScheduler's own line): a second signal is never skipped as "still running".
            return served.wait_line(r'Job "jira-cleanup lifecycle run.*(executed successfully|raised an exception)')
        assert via == "chat", via
        before = len(self.fake.files())
        _name, reply = self.slash("run")
        message = reply[-1]
        self.click("U0ADMIN", message, "jc_confirm_run", channel=ADMIN_CHANNEL)
        # The run's CSV, uploaded to the channel, is the last thing a chat run does.
        self.wait(lambda: len(self.fake.files()) > before)
        return json.dumps(self.fake.messages(ADMIN_CHANNEL)[-1:])

    def approve(self, run_id: str, via: str, *, who: str = "bob") -> str:
        """Approve a held run from ``via``: the CLI as ``who``, or the Approve button in the admin channel."""
        if via == "cli":
            return self.cli("approve", run_id, "--as", who).stdout
        assert via == "chat", via
        self.start_serve()
        request = self.approval_messages()[-1]
        user = "U0SEC" if who == "bob" else "U0ADMIN"
        self.click(user, request, "jc_approve", channel=ADMIN_CHANNEL)
        self.wait(lambda: self.run_status(run_id) is not RunStatus.AWAITING_APPROVAL)
        self.wait(lambda: self.run_status(run_id) is not RunStatus.RUNNING)
        return ""

    # -- Slack, signed -----------------------------------------------------------------------

    def _post(self, body: bytes, content_type: str = "application/x-www-form-urlencoded") -> httpx.Response:
        assert self.served is not None
        headers = {**signed_headers(body, SIGNING_SECRET, int(time.time())), "Content-Type": content_type}
        return httpx.post(f"{self.served.url}/slack/events", content=body, headers=headers, timeout=30)

    def _response_url(self) -> tuple[str, str]:
        self._ids[0] += 1
        name = f"r{self._ids[0]}"
        return name, self.peers.call(lambda: self.fake.response_url(name))

    def slash(self, text: str, user: str = "U0ADMIN") -> tuple[str, list[dict[str, Any]]]:
        """``/jira-cleanup <text>`` from ``user`` in the admin channel; waits for the reply."""
        self.start_serve()
        name, url = self._response_url()
        body = slash_command_body(text=text, user_id=user, channel_id=ADMIN_CHANNEL, response_url=url, team_id=TEAM)
        assert self._post(body).status_code == 200
        self.wait(lambda: bool(self.fake.response_posts(name)))
        return name, self.fake.response_posts(name)

    def click(self, user: str, message: dict[str, Any], action_prefix: str, *, channel: str) -> str:
        """A signed click on the first button of ``message`` whose action id starts with ``action_prefix``."""
        name, url = self._response_url()
        payload = click_on(user, TEAM, message, action_prefix, channel, url)
        assert self._post(interaction_body(payload)).status_code == 200
        return name

    def thread_reply(self, user: str, parent_ts: str, text: str) -> None:
        """A signed ``message.channels`` event: ``user`` answers ``text`` under the admin channel post ``parent_ts``."""
        self._ids[0] += 1
        event = {
            "type": "message",
            "channel": ADMIN_CHANNEL,
            "channel_type": "channel",
            "user": user,
            "text": text,
            "ts": f"1718100000.{self._ids[0]:06d}",
            "thread_ts": parent_ts,
        }
        envelope = {"team_id": TEAM, "type": "event_callback", "event_id": f"EvT{self._ids[0]}", "event": event}
        self.start_serve()
        assert self._post(json.dumps(envelope).encode(), "application/json").status_code == 200

    def wait(self, predicate: Callable[[], bool], timeout: float = 90) -> None:
        """Wait until ``predicate`` holds, re-checked on every request the fake Slack answers."""

        async def bounded() -> None:
            async with asyncio.timeout(timeout):
                await self.fake.wait_for(predicate)

        self.peers.call(bounded)

    def pause_on_first_write(self, latency_ms: float = 100) -> list[int]:
        """Turn the kill switch on (as ``jira-cleanup pause`` does) the instant the first write arrives.

        Every sandbox request then takes ``latency_ms``, so a run is mid-way when it happens.
        Returns a list that receives the sequence number of that first write.
        """
        sandbox, db_url, org_id = self.sandbox, self.db_url, self.sandbox.org_id
        at: list[int] = []

        class Tripwire(list):  # the sandbox appends each request here on arrival
            def append(self, record: Any) -> None:
                super().append(record)
                if record.is_mutating and not at:
                    at.append(record.seq)
                    db = stores(db_url)
                    set_paused(db.lifecycle, SystemClock(), org_id, True, "cli:ops", "incident during a run")
                    db.close()

        def arm() -> None:
            sandbox.config.latency_ms = latency_ms
            sandbox.state.log = Tripwire(sandbox.state.log)

        self.peers.call(arm)
        return at

    # -- looking -----------------------------------------------------------------------------

    def db(self) -> Stores:
        return stores(self.db_url)

    def finished_runs(self) -> list[Any]:
        db = self.db()
        try:
            runs = db.lifecycle.recent_runs(self.sandbox.org_id, 100)
            return [r for r in runs if r.status is not RunStatus.RUNNING]
        finally:
            db.close()

    def run_status(self, run_id: str) -> RunStatus:
        db = self.db()
        try:
            return db.lifecycle.get_run(run_id).status
        finally:
            db.close()

    def held_run(self) -> str:
        runs = [r for r in self.finished_runs() if r.status is RunStatus.AWAITING_APPROVAL]
        assert runs, "no run is awaiting approval"
        return str(runs[0].run_id)

    def cases(self, account_id: str) -> list[Case]:
        db = self.db()
        try:
            return list(db.lifecycle.find_cases(self.sandbox.org_id, account_id))
        finally:
            db.close()

    def warned(self) -> list[str]:
        """Accounts with a delivered warning."""
        db = self.db()
        try:
            cases = db.lifecycle.open_cases(self.sandbox.org_id).values()
            return sorted({c.account_id for c in cases if c.delivered_at is not None})
        finally:
            db.close()

    def writes(self, account_id: str | None = None) -> list[Any]:
        records = self.peers.call(self.sandbox.mutating_requests)
        return [r for r in records if account_id is None or account_id in r.path]

    def approval_messages(self) -> list[dict[str, Any]]:
        return [
            m
            for m in self.fake.messages(ADMIN_CHANNEL)
            if any(
                str(e.get("action_id", "")).startswith("jc_approve")
                for b in m.get("blocks", [])
                if b.get("type") == "actions"
                for e in b.get("elements", [])
            )
            and "Restore request" not in json.dumps(m)
        ]

    def admin_emails(self) -> list[Any]:
        return [] if self.inbox is None else self.inbox.to("admins@acme.example")

    def dms(self, account_id: str) -> list[dict[str, Any]]:
        email = self.sandbox.org.users[account_id].email
        index = self.index_of(account_id)
        dm = self.fake.dm_of(slack_id(index)) if email else None
        return [] if dm is None else self.fake.messages(dm)

    def index_of(self, account_id: str) -> int:
        return self.sandbox.org.user_ids.index(account_id)


async def _selected(sandbox: SandboxServer, policy: dict[str, Any]) -> list[str]:
    """The accounts ``policy`` selects in the sandbox org, read with the real client."""
    parsed = parse_policy(policy, source="safety")
    config = AtlassianConfig(
        org_id=sandbox.org_id, api_key="sandbox-key", base_url=sandbox.base_url, requests_per_second=None
    )
    chosen: list[str] = []
    now = datetime.now(UTC)
    async with open_directory(config) as directory:
        async for page in directory.iter_accounts():
            for account in page:
                if any(d.verdict is not Verdict.SKIP for d in decide(account, parsed, now)):
                    chosen.append(str(account.account_id))
    sandbox.reset_log()
    return sorted(chosen)


@contextmanager
def world(
    tmp: Path,
    db_url: str,
    *,
    users: int = 30,
    slack: bool = True,
    smtp: bool = False,
    unreachable: int = 0,
    policy: dict[str, Any] | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[World]:
    """A fresh org, fake Slack (people by email, ``unreachable`` of them missing) and optional SMTP.

    ``settings``: environment variables of every bot process, over the world's own.
    """
    with threaded_slack() as peers, smtp_inbox() if smtp else _nothing() as mail:
        org = generate_org(users=users, seed=7, undated_fraction=0.0)
        sandbox = SandboxServer(org, SandboxConfig())
        peers.call(sandbox.start)
        fake = peers.fake
        for admin in ADMINS:
            fake.add_user(admin, f"{admin.lower()}@acme.example", real_name=f"Admin {admin}")
        fake.add_channel(ADMIN_CHANNEL, list(ADMINS), name="jira-admins")
        chosen = policy or base_policy()
        selected = peers.call(lambda: _selected(sandbox, chosen))
        missing = set(selected[:unreachable])
        for index, account_id in enumerate(org.user_ids):
            email = org.users[account_id].email
            if email and account_id not in missing:
                fake.add_user(slack_id(index), email, real_name=f"Person {index}")
        inbox, port = mail if mail is not None else (None, None)
        w = World(
            tmp, peers, sandbox, db_url, chosen, inbox, port, slack, missing, selected=selected, settings=settings or {}
        )
        w.write_policy()
        try:
            yield w
        finally:
            w.stop_serve()
            peers.call(sandbox.stop)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None
