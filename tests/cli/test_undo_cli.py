"""`jira-cleanup undo` end to end: a real run suspends accounts in a sandbox process, a second admin
approves the undo, and the accounts are active again in the sandbox, each restored once."""

import json
import re
import sqlite3

import httpx
import pytest

from tests.cli.conftest import clean_env, read_csv, run
from tests.peers import smtp_inbox

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
    per_run: {max_actions: 1000, max_percent: null}
    window: {max_actions: null, max_percent: null}
  canary: {size: 2}
lifecycle:
  report_folder: reports
"""


@pytest.fixture
def env(tmp_path, sandbox_process):
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    with smtp_inbox() as (_box, port):
        yield clean_env(
            **sandbox_process,
            DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
            JIRA_CLEANUP_POLICY=str(policy),
            ATLASSIAN_REQUESTS_PER_SECOND="1000",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(port),
            SMTP_SENDER="jira-cleanup@acme.example",
            SMTP_TLS="none",
        )


def membership(env, account_ids):
    """Each account's membership status as the sandbox's Admin API shows it."""
    base, org = env["ATLASSIAN_API_BASE"].rstrip("/"), env["ATLASSIAN_ORG_ID"]
    headers = {"Authorization": f"Bearer {env['ATLASSIAN_API_KEY']}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        return {
            a: client.get(f"/admin/v2/orgs/{org}/directories/-/users/{a}").json()["data"]["membershipStatus"]
            for a in account_ids
        }


def test_undo_a_run_with_a_second_admins_approval_restores_each_account_once(tmp_path, env):
    assert run("run", "--as", "alice", cwd=tmp_path, env=env).returncode == 0  # warnings
    acted = run("run", "--as", "alice", cwd=tmp_path, env=env)
    assert acted.returncode == 0, acted.stderr
    run_id = re.search(r"Run (\w+)…", acted.stdout).group(1)

    preview = run("undo", run_id, "--dry-run", "--as", "alice", cwd=tmp_path, env=env)
    assert preview.returncode == 0, preview.stderr
    count = int(re.search(r"would restore (\d+) accounts", preview.stdout).group(1))
    csv_path = re.search(r"Undo CSV: (\S+)", preview.stdout).group(1)
    accounts = [r["account_id"] for r in read_csv(tmp_path / csv_path) if r["outcome"] == "would restore"]
    assert count == len(accounts) > 0
    assert set(membership(env, accounts).values()) == {"suspended"}
    with sqlite3.connect(tmp_path / "bot.db") as db:
        [(actor, outcome, mode, after)] = db.execute(
            "SELECT actor, outcome, mode, after FROM audit_events WHERE action = 'undo.requested'"
        ).fetchall()
    assert (actor, outcome, mode) == ("cli:alice", "dry_run", "dry_run")  # the preview is audited
    assert sorted(json.loads(after)["would_restore"]) == sorted(accounts)

    asked = run("undo", run_id, "--as", "alice", cwd=tmp_path, env=env)
    assert asked.returncode == 0, asked.stderr
    undo_id = re.search(r"jira-cleanup approve (\S+?)\)", asked.stdout).group(1)
    own = run("approve", undo_id, "--as", "alice", cwd=tmp_path, env=env)
    assert own.returncode == 2
    assert "requester of a run cannot approve it" in own.stderr
    assert set(membership(env, accounts).values()) == {"suspended"}

    approved = run("approve", undo_id, "--as", "bob", cwd=tmp_path, env=env)
    assert approved.returncode == 0, approved.stderr
    assert set(membership(env, accounts).values()) == {"active"}
    rows = read_csv(tmp_path / csv_path)
    assert sorted(r["account_id"] for r in rows if r["outcome"] == "restored") == sorted(accounts)

    again = run("undo", run_id, "--as", "carol", cwd=tmp_path, env=env)
    assert again.returncode == 2
    assert "already requested" in again.stderr
    with sqlite3.connect(tmp_path / "bot.db") as db:
        audit = db.execute("SELECT action, outcome, subject FROM audit_events").fetchall()
    restored = [subject for action, outcome, subject in audit if action == "act.restore" and outcome == "ok"]
    assert sorted(restored) == sorted(accounts)  # each account restored exactly once
    assert {"undo.requested", "undo.refused", "approval.refused", "approval.granted"} <= {a for a, _o, _s in audit}


DELETING = POLICY.replace("    warn_days_before: 0\n", "    warn_days_before: 0\n    delete_after_days: 1\n")


def users(env, account_ids):
    """Each account's v2 directory state as the sandbox's Admin API shows it."""
    base, org = env["ATLASSIAN_API_BASE"].rstrip("/"), env["ATLASSIAN_ORG_ID"]
    headers = {"Authorization": f"Bearer {env['ATLASSIAN_API_KEY']}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        return {a: client.get(f"/admin/v2/orgs/{org}/directories/-/users/{a}").json()["data"] for a in account_ids}


def age_the_actions(db_path, days):
    """Move every action ``days`` back in the store: the CLI reads the system clock, which a test cannot move."""
    with sqlite3.connect(db_path) as db:
        older = (f"-{days} days",)
        db.execute("UPDATE cases SET actioned_at = datetime(actioned_at, ?) WHERE state = 'actioned'", older)


def undo_approved(tmp_path, env, run_id):
    """``undo RUN_ID`` by alice, approved by bob; the undo CSV's rows."""
    asked = run("undo", run_id, "--as", "alice", cwd=tmp_path, env=env)
    assert asked.returncode == 0, asked.stderr
    undo_id = re.search(r"jira-cleanup approve (\S+?)\)", asked.stdout).group(1)
    approved = run("approve", undo_id, "--as", "bob", cwd=tmp_path, env=env)
    assert approved.returncode == 0, approved.stderr
    return asked.stdout, read_csv(tmp_path / re.search(r"Undo CSV: (\S+)", asked.stdout).group(1))


def test_undoing_a_deletion_run_leaves_the_accounts_suspended_until_the_suspending_run_is_undone(tmp_path, env):
    """Suspend, delete (approved), undo the deletion: cancelled, still suspended; undo the suspension: active."""
    (tmp_path / "policy.yml").write_text(DELETING)
    assert run("run", "--as", "alice", cwd=tmp_path, env=env).returncode == 0  # warnings
    acted = run("run", "--as", "alice", cwd=tmp_path, env=env)
    assert acted.returncode == 0, acted.stderr
    suspend_run = re.search(r"Run (\w+)…", acted.stdout).group(1)
    age_the_actions(tmp_path / "bot.db", days=2)
    deleting = run("run", "--as", "alice", cwd=tmp_path, env=env)
    assert deleting.returncode == 0, deleting.stderr
    delete_run = re.search(r"jira-cleanup approve (\S+)", deleting.stdout).group(1)
    assert run("approve", delete_run, "--as", "bob", cwd=tmp_path, env=env).returncode == 0

    text, rows = undo_approved(tmp_path, env, delete_run)
    cancelled = [r["account_id"] for r in rows if r["outcome"] == "deletion cancelled"]
    assert cancelled
    assert {r["undo"] for r in rows if r["account_id"] in cancelled} == {"cancel the deletion; stays suspended"}
    assert f"{len(cancelled)} accounts: cancel the deletion; stays suspended" in text
    states = users(env, cancelled)
    assert {(u["forDeletion"], u["accountStatus"], u["membershipStatus"]) for u in states.values()} == {
        (False, "active", "suspended")
    }
    assert run("run", "--as", "alice", cwd=tmp_path, env=env).returncode == 0  # an undone deletion is not redone
    assert not any(u["forDeletion"] for u in users(env, cancelled).values())

    _text, rows = undo_approved(tmp_path, env, suspend_run)
    restored = {r["account_id"] for r in rows if r["outcome"] == "restored"}
    assert set(cancelled) <= restored
    assert {u["status"] for u in users(env, cancelled).values()} == {"active"}
    with sqlite3.connect(tmp_path / "bot.db") as db:
        audit = db.execute("SELECT action, subject FROM audit_events WHERE outcome = 'ok'").fetchall()
    assert sorted(s for a, s in audit if a == "act.cancel_delete") == sorted(cancelled)
    assert sorted(s for a, s in audit if a == "act.restore" and s in cancelled) == sorted(cancelled)
