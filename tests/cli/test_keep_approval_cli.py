"""A keep past ``keep.approval_after`` with email only, as processes: ``run``, ``serve``'s link page, ``decide-keep``.

``jira-cleanup run`` emails the warning (real SMTP on loopback), the person opens the link served
by a ``jira-cleanup serve`` process, the admins get the request by email (EMAIL_ADMIN_ADDRESSES,
no chat) with the command to decide it, and ``jira-cleanup decide-keep`` decides it — refused to the
person's own identity, applied for another admin, and the person is told by email.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import httpx
import pytest

from adapters.store import open_stores
from core.audit import AuditEntry
from core.lifecycle import Case, CaseState
from tests.cli.conftest import EXE, clean_env, run
from tests.peers import smtp_inbox

POLICY = """
mode: enforce
new_account_grace_days: 0
rules:
  - name: org-wide
    product: any
    inactive_days: 180
    action: suspend
    warn_days_before: 14
lifecycle:
  keep: {approval_after: 1}
safety:
  caps:
    per_run: {max_actions: null, max_percent: null}
    window: {max_actions: null, max_percent: null}
  canary: {size: 0}
  max_unknown_percent: 100
"""
ADMINS = "admins@acme.example"
LINK = re.compile(r"https?://[^\s\"'<>]+/email/t/[A-Za-z0-9_\-]+")


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def served(tmp_path, sandbox_process):
    """``serve`` on a free port with email (no chat) and an inbox collecting every mail: (env, inbox, base URL)."""
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    with smtp_inbox() as (inbox, port):
        env = clean_env(
            **sandbox_process,
            DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
            JIRA_CLEANUP_POLICY=str(policy),
            ATLASSIAN_REQUESTS_PER_SECOND="1000",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(port),
            SMTP_SENDER="jira-cleanup@acme.example",
            SMTP_TLS="none",
            EMAIL_ADMIN_ADDRESSES=ADMINS,
            LINK_SECRET="link-secret",
        )
        with subprocess.Popen(
            [*EXE, "serve", "--port", "0"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc:
            try:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                match = re.search(r"serving on (http://\S+) ", line)
                assert match, line
                yield {**env, "PUBLIC_BASE_URL": match.group(1)}, inbox, match.group(1)
            finally:
                proc.terminate()
                proc.wait(timeout=20)


def kept_before(url: str, org: str, address: str) -> str:
    """The account behind ``address`` kept this access 100 days ago (an earlier warning, since closed).

    Returns the case id of its current warning.
    """
    scans, lifecycle = open_stores(url)
    try:
        latest = scans.latest_scan(org)
        assert latest is not None
        account = next(a for a in scans.iter_accounts(latest.run_id) if (a.email or "").lower() == address)
        [warned] = [c for c in lifecycle.find_cases(org, account.account_id) if c.state.is_open]
        at = datetime.now(UTC) - timedelta(days=100)
        earlier = Case(
            case_id=uuid.uuid4().hex,
            org_id=warned.org_id,
            account_id=warned.account_id,
            rule=warned.rule,
            product=warned.product,
            action=warned.action,
            state=CaseState.CLOSED,
            opened_at=at - timedelta(days=14),
            updated_at=at + timedelta(days=90),
            keeps=(at,),
            closed_reason="keep expired; active again",
        )
        seeded = AuditEntry(at, "cli:seed", "test.seed", "ok", warned.org_id, subject=warned.account_id)
        lifecycle.create_case(earlier, seeded)
        return warned.case_id
    finally:
        scans.close()
        lifecycle.close()


def test_an_email_keep_waits_for_an_admin_who_decides_it_from_the_terminal(tmp_path, served):
    env, inbox, base = served
    warned = run("run", "--as", "alice", "--csv", str(tmp_path / "run.csv"), cwd=tmp_path, env=env)
    assert warned.returncode == 0, warned.stderr
    mail = next(m for m in inbox.messages if "Action needed" in str(m["Subject"]))
    address = str(mail["To"]).strip().lower()
    case_id = kept_before(env["DATABASE_URL"], env["ATLASSIAN_ORG_ID"], address)
    (link,) = LINK.findall(body(mail))
    assert link.startswith(base)

    with httpx.Client(timeout=30) as browser:
        page = browser.get(link)
        assert page.status_code == 200, page.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf is not None
        waits = browser.post(link, data={"csrf": csrf.group(1)})
    assert waits.status_code == 200, waits.text
    assert "<h1>Your keep waits for an admin</h1>" in waits.text
    [ask] = [m for m in inbox.messages if ADMINS in str(m["To"]) and "Keep needs approval" in body(m)]
    assert f"jira-cleanup decide-keep {case_id} --approve" in body(ask)

    own = run(
        "decide-keep",
        case_id,
        "--approve",
        "--as",
        "una",
        cwd=tmp_path,
        env={**env, "ADMIN_IDENTITIES": f"una = cli:una, email:{address}"},
    )
    assert own.returncode == 2
    assert "You cannot decide a keep of your own access" in own.stderr

    approved = run("decide-keep", case_id, "--approve", "--as", "bob", cwd=tmp_path, env=env)
    assert approved.returncode == 0, approved.stderr
    assert f"{case_id}: Keep approved by cli:bob: kept until" in approved.stdout
    told = [m for m in inbox.messages if address in str(m["To"]).lower() and m["Subject"] == "Your Atlassian access"]
    assert len(told) == 1
    assert body(told[0]).startswith("An admin approved keeping your Atlassian access until")

    again = run("decide-keep", case_id, "--deny", "--as", "bob", cwd=tmp_path, env=env)
    assert again.returncode == 2
    assert "No keep of this warning waits" in again.stderr
