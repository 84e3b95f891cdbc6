"""Lifecycle commands end to end: run, approve, pause/resume, status, audit, exports, serve."""

import json
import re
import subprocess

import httpx
import pytest

from core.report import AUDIT_COLUMNS, RUN_COLUMNS
from tests.cli.conftest import EXE, clean_env, read_csv, run
from tests.peers import smtp_inbox, text_of

POLICY = """
mode: enforce
rules:
  - name: org-wide
    product: any
    inactive_days: 180
    action: suspend
    warn_days_before: 0
safety:
  caps:
    per_run: {max_actions: 5, max_percent: null}
    window: {max_actions: null, max_percent: null}
  canary: {size: 2}
prices: {jira-software: 8, confluence: 6}
"""


@pytest.fixture
def inbox():
    """Warnings go by email to a real SMTP server on loopback (enforce needs a channel to people)."""
    with smtp_inbox() as (box, port):
        box.port = port
        yield box


@pytest.fixture
def env(tmp_path, sandbox_process, inbox):
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    return clean_env(
        **sandbox_process,
        DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
        JIRA_CLEANUP_POLICY=str(policy),
        ATLASSIAN_REQUESTS_PER_SECOND="1000",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(inbox.port),
        SMTP_SENDER="jira-cleanup@acme.example",
        SMTP_TLS="none",
    )


def test_run_hold_approve_pause_and_audit(tmp_path, env):
    """Warn, hold over the cap, approve by another admin, pause, verify and export the audit trail."""
    first = run("run", "--as", "alice", "--csv", str(tmp_path / "r1.csv"), cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "Warnings delivered" in first.stdout

    second = run("run", "--as", "alice", "--csv", str(tmp_path / "r2.csv"), cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert "held for approval" in second.stdout
    run_id = re.search(r"jira-cleanup approve (\w+)", second.stdout.replace("\n", " ")).group(1)

    own = run("approve", run_id, "--as", "alice", cwd=tmp_path, env=env)
    assert own.returncode == 2
    assert "requester of a run cannot approve it" in own.stderr

    approved = run("approve", run_id, "--as", "bob", cwd=tmp_path, env=env)
    assert approved.returncode == 0, approved.stderr
    assert "Actions done" in approved.stdout

    status = run("status", cwd=tmp_path, env=env)
    assert status.returncode == 0, status.stderr
    assert run_id[:12] in status.stdout or run_id in status.stdout
    assert "Kill switch: off" in status.stdout

    assert run("pause", "--reason", "incident 42", "--as", "alice", cwd=tmp_path, env=env).returncode == 0
    paused = run("run", "--as", "alice", "--csv", str(tmp_path / "r3.csv"), cwd=tmp_path, env=env)
    assert paused.returncode == 0
    assert "kill switch is on" in paused.stdout
    assert "ON" in run("status", cwd=tmp_path, env=env).stdout
    assert run("resume", "--as", "alice", cwd=tmp_path, env=env).returncode == 0

    verify = run("audit", "verify", cwd=tmp_path, env=env)
    assert verify.returncode == 0, verify.stderr
    assert "audit chain intact" in verify.stdout

    audit_csv = tmp_path / "audit.csv"
    assert run("audit", "export", "--csv", str(audit_csv), cwd=tmp_path, env=env).returncode == 0
    rows = read_csv(audit_csv)
    assert list(rows[0]) == list(AUDIT_COLUMNS)
    assert {"pause", "resume", "approval.granted", "act.suspend"} <= {r["action"] for r in rows}
    approvals = [r for r in rows if r["action"] == "approval.granted"]
    assert approvals[0]["approver"] == "cli:bob"
    assert json.loads(approvals[0]["after"])["approval_ref"] == "cli"  # no chat: approved without a message

    run_csv = tmp_path / "run.csv"
    exported = run("export", "--run", run_id, "--csv", str(run_csv), cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    run_rows = read_csv(run_csv)
    assert list(run_rows[0]) == list(RUN_COLUMNS)
    assert "confirmed" in {r["ledger_state"] for r in run_rows}

    savings = run("report", cwd=tmp_path, env=env)
    assert savings.returncode == 0, savings.stderr
    assert "Seats freed" in savings.stdout


def test_bad_inputs_are_clear_errors(tmp_path, env):
    """Unknown runs, bad dates and a bad schedule name the field and exit 2."""
    unknown = run("export", "--run", "nope", cwd=tmp_path, env=env)
    assert unknown.returncode == 2
    assert "--run: no run 'nope'" in unknown.stderr
    bad_date = run("audit", "export", "--since", "yesterday", cwd=tmp_path, env=env)
    assert bad_date.returncode == 2
    assert "--since" in bad_date.stderr
    not_held = run("approve", "nope", "--as", "bob", cwd=tmp_path, env=env)
    assert not_held.returncode == 2
    assert "cannot approve run nope" in not_held.stderr
    not_denied = run("deny", "nope", "--as", "bob", cwd=tmp_path, env=env)
    assert not_denied.returncode == 2
    assert "cannot deny run nope" in not_denied.stderr


def test_serve_answers_health_and_metrics(tmp_path, env):
    """serve starts the scheduler and the HTTP server; /healthz, /metrics, email pages and the JSM webhook answer."""
    env = {
        **env,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "2525",
        "SMTP_SENDER": "jira-cleanup@acme.example",
        "SMTP_TLS": "none",
        "JSM_SITE_URL": env["ATLASSIAN_API_BASE"],
        "JSM_EMAIL": "agent@acme.example",
        "JSM_API_TOKEN": "jsm-api-token",
        "JSM_WEBHOOK_SECRET": "whsec",
        "LINK_SECRET": "link-secret",
        "LOG_LEVEL": "INFO",
    }
    with subprocess.Popen(
        [*EXE, "serve", "--port", "0"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.search(r"serving on (http://\S+) ", line)
            assert match, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
            base = match.group(1)
            public = httpx.get(f"{base}/healthz", timeout=10).json()
            assert public == {"status": "ok", "role": "leader"}
            health = httpx.get(f"{base}/readyz", timeout=10)
            assert health.status_code == 200
            body = health.json()
            assert body["status"] == "ok"
            assert body["paused"] is False
            assert body["mode"] == "enforce"
            metrics = httpx.get(f"{base}/metrics", timeout=10)
            assert "jira_cleanup_pending_actions 0" in metrics.text
            assert json.loads(health.text)["org_id"] == env["ATLASSIAN_ORG_ID"]
            assert "email via 127.0.0.1:2525" in line
            assert "JSM webhook at /jsm/webhook" in line
            bogus = httpx.get(f"{base}/email/t/not-a-token?x=1", timeout=10)
            assert bogus.status_code == 404
            assert "This link is not valid" in bogus.text
            unsigned = httpx.post(f"{base}/jsm/webhook", json={}, timeout=10)
            assert unsigned.status_code == 401
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        log = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0
    assert "GET /email/t/*** 404" in log, "the access log is on at INFO and masks the token"
    assert "not-a-token" not in log


def test_restore_requests_are_listed_and_decided_from_the_terminal(tmp_path, env):
    """An email request waits for an admin; `requests` lists it, `decide-restore --approve` restores it."""
    request_id, account_id = _suspended_and_asked_back(tmp_path, env)
    listed = run("requests", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert request_id in listed.stdout
    assert "email: una@acme.example" in listed.stdout
    assert account_id in listed.stdout
    missing = run("decide-restore", "rq-nope", "--approve", cwd=tmp_path, env=env)
    assert missing.returncode == 2
    assert "no longer exists" in missing.stderr
    decided = run("decide-restore", request_id, "--approve", "--as", "bob", cwd=tmp_path, env=env)
    assert decided.returncode == 0, decided.stderr
    assert "Restore approved by cli:bob" in decided.stdout
    assert request_id not in run("requests", cwd=tmp_path, env=env).stdout
    again = run("decide-restore", request_id, "--deny", cwd=tmp_path, env=env)
    assert again.returncode == 2
    assert "Already decided" in again.stderr


def test_a_restore_approved_while_paused_is_queued_and_the_next_cron_run_gives_it_back(tmp_path, env, inbox):
    """`decide-restore` under the kill switch says queued; after `resume`, `jira-cleanup run` restores and tells."""
    request_id, _ = _suspended_and_asked_back(tmp_path, env)
    assert run("pause", "--reason", "incident", cwd=tmp_path, env=env).returncode == 0
    decided = run("decide-restore", request_id, "--approve", "--as", "bob", cwd=tmp_path, env=env)
    assert decided.returncode == 0, decided.stderr
    assert "queued" in decided.stdout
    told = [m for m in inbox.to("una@acme.example") if "restored" in text_of(m)]
    assert told == []  # nobody is told "restored" while the access is still gone
    assert run("resume", cwd=tmp_path, env=env).returncode == 0
    again = run("run", "--as", "alice", "--csv", str(tmp_path / "r3.csv"), cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    state = _request_state(env, request_id)
    assert state == "restored"
    told = [m for m in inbox.to("una@acme.example") if "Your access has been restored" in text_of(m)]
    assert len(told) == 1


def _request_state(env, request_id: str) -> str:
    script = f"""
from bot.compose import stores
print(stores({env["DATABASE_URL"]!r}).restores.get_request({request_id!r}).state.value)
"""
    done = subprocess.run([EXE[0], "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _suspended_and_asked_back(tmp_path, env) -> tuple[str, str]:
    """Two runs (the second held, then approved by bob) suspend accounts; Una asks for one back by email."""
    assert run("run", "--as", "alice", "--csv", str(tmp_path / "r1.csv"), cwd=tmp_path, env=env).returncode == 0
    second = run("run", "--as", "alice", "--csv", str(tmp_path / "r2.csv"), cwd=tmp_path, env=env)
    run_id = re.search(r"jira-cleanup approve (\w+)", second.stdout.replace("\n", " ")).group(1)
    assert run("approve", run_id, "--as", "bob", cwd=tmp_path, env=env).returncode == 0
    script = f"""
import asyncio, sys
from contextlib import asynccontextmanager
from bot.compose import stores
from core.chat import Actor
from core.clock import SystemClock
from core.policy import parse_policy
from core.restore import RestoreDesk

db = stores({env["DATABASE_URL"]!r})
org = {env["ATLASSIAN_ORG_ID"]!r}
case = next(c for c in db.lifecycle.entries(org) if c.op.value == "suspend" and c.state.value == "confirmed")

@asynccontextmanager
async def no_engine():
    raise AssertionError("an admin route opens no engine")
    yield

desk = RestoreDesk(org, requests=db.restores, lifecycle=db.lifecycle, scans=db.scans, tokens=db.tokens,
                   clock=SystemClock(), open_engine=no_engine, load_policy=lambda: parse_policy(
                       {{"rules": [{{"name": "x", "product": "any", "inactive_days": 30, "action": "suspend"}}]}}))
una = Actor("email", "", "una@acme.example")
asked = asyncio.run(desk.submit("email", una, case.account_id, reply_to="una@acme.example"))
print(asked.request.request_id, case.account_id)
"""
    seeded = subprocess.run(
        [EXE[0], "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert seeded.returncode == 0, seeded.stderr
    request_id, account_id = seeded.stdout.split()
    return request_id, account_id


@pytest.mark.postgres
def test_errors_never_print_the_database_password(tmp_path):
    """A PostgreSQL URL with a password (trust auth ignores it) is shown masked in errors."""
    from tests.store.pg import require_postgres

    base = require_postgres()
    url = base.replace("postgres@", "postgres:hunter2@", 1)
    done = run("export", "--run", "nope", cwd=tmp_path, env=clean_env(DATABASE_URL=url))
    assert done.returncode == 2
    assert "hunter2" not in done.stderr + done.stdout
    assert "***" in done.stderr


def test_cutting_the_newest_audit_rows_is_detected(tmp_path, env):
    """After the rows are deleted (triggers dropped, as the file's owner could), verify names the gap."""
    import sqlite3

    assert run("run", "--as", "alice", "--csv", str(tmp_path / "r1.csv"), cwd=tmp_path, env=env).returncode == 0
    ok = run("audit", "verify", cwd=tmp_path, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "checkpoints at row" in ok.stdout
    checkpoints = tmp_path / "bot.db.audit-checkpoints"
    assert (tmp_path / "bot.db.audit-key").exists()
    assert checkpoints.read_text().count("\n") >= 1
    db = sqlite3.connect(tmp_path / "bot.db")
    with db:
        db.execute("DROP TRIGGER audit_events_no_delete")
        db.execute("DELETE FROM audit_events WHERE seq > (SELECT MAX(seq) - 6 FROM audit_events)")
    db.close()
    cut = run("audit", "verify", cwd=tmp_path, env=env)
    assert cut.returncode == 2
    assert "are missing" in cut.stderr
    assert "checkpoint" in cut.stderr

    lines = checkpoints.read_text().splitlines()
    first = json.loads(lines[0])
    first["seq"] -= 1  # hide the cut: claim the first checkpoint sealed an earlier row
    checkpoints.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    forged = run("audit", "verify", cwd=tmp_path, env=env)
    assert forged.returncode == 2
    assert "checkpoint 1 has a wrong signature" in forged.stderr
    checkpoints.unlink()
    gone = run("audit", "verify", cwd=tmp_path, env=env)
    assert gone.returncode == 2
    assert "no audit checkpoint" in gone.stderr
