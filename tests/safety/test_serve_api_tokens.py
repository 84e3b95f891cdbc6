"""The final check's API-token read, kept by a running ``jira-cleanup serve``.

Everyone the policy selects is warned in a Slack DM. Then one warned person uses an API token, and
another's tokens can no longer be read (the sandbox answers 500 for them), after the actions were
planned: while serve's scheduled job (``kill -USR1``) is under way, right before it writes to
them, or while a run the cap held waits for an admin's signed Approve click. Only the executor's
read right before each write sees either change.

The person who used the API keeps their access; their warning is withdrawn, with the reason in the
audit trail, the run's outcome CSV and the admins' thread. The unreadable one is not written
either: a transient failure, never taken as "unused"; the next run tries again (and acts once the
tokens read as unused). Everyone else is suspended, the positive control.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.sandbox.faults import Fault
from adapters.sandbox.org import ApiToken
from core.ledger import RunStatus
from core.lifecycle import CaseState
from tests.safety.world import ADMIN_CHANNEL, World, capped_policy, world

pytestmark = pytest.mark.slow

WITHDRAWN = "used through the API since the warning: review: used through the API (token 'nightly-sync' last used"
UNREADABLE = "API tokens unreadable: api-tokens: HTTP 500"
#: One attempt per request: the sandbox's 500 is the read's last answer, with no backoff waited out.
ONE_ATTEMPT = {"ATLASSIAN_MAX_ATTEMPTS": "1"}


def _pick(w: World) -> tuple[str, str, list[str]]:
    """Two warned accounts whose tokens the org reads (managed ones), and every other warned account."""
    warned = w.warned()
    managed = [a for a in warned if w.sandbox.org.users[a].managed]
    assert len(managed) >= 2, warned
    assert len(warned) >= 4, warned
    api_user, unreadable = managed[:2]
    assert w.dms(api_user), "warned in a Slack DM"
    assert w.dms(unreadable), "warned in a Slack DM"
    return api_user, unreadable, [a for a in warned if a not in (api_user, unreadable)]


def _use_token(w: World, account_id: str) -> None:
    """``account_id`` calls the API now with a token made a year ago (on the sandbox's loop)."""
    now = datetime.now(UTC)
    user = w.sandbox.org.users[account_id]
    user.api_tokens = (*user.api_tokens, ApiToken("tok-nightly", "nightly-sync", now - timedelta(days=365), now))


def _break_token_reads(w: World, account_id: str) -> None:
    """From now on the sandbox answers 500 to every read of ``account_id``'s API tokens."""
    w.sandbox.config.faults.add(Fault("500", path=f"/users/{account_id}/manage/api-tokens", method="GET"))


def _at_the_final_read(w: World, changes: dict[str, Callable[[], None]]) -> list[str]:
    """Make ``changes[account]`` the moment the run reads that account again right before its write.

    That read (``GET .../directories/{id}/users/{accountId}``) is the executor's (a scan pages
    through ``users/search``), so the change lands after the run's scan planned the action and
    before the final check reads the tokens. Returns the accounts changed so far.
    """
    done: list[str] = []

    class Tripwire(list[Any]):  # the sandbox appends each request here as it arrives, before answering it
        def append(self, record: Any) -> None:
            super().append(record)
            head, _, account = record.path.rpartition("/")
            if record.method == "GET" and head.endswith("/users") and account in changes and account not in done:
                done.append(account)
                changes[account]()

    def arm() -> None:
        w.sandbox.state.log = Tripwire(w.sandbox.state.log)

    w.peers.call(arm)
    return done


def _audit(w: World, account_id: str, run_id: str) -> list[dict[str, str]]:
    """The ``act.*`` rows of ``account_id`` in ``run_id``, from ``jira-cleanup audit export --csv``."""
    path = w.tmp / "audit.csv"
    w.cli("audit", "export", "--csv", str(path))
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if r["subject"] == account_id and r["run_id"] == run_id and r["action"].startswith("act.")]


def _outcomes(w: World, run_id: str) -> dict[str, tuple[str, str]]:
    """(ledger state, outcome) per account, from ``jira-cleanup export --run <id> --csv``."""
    path = w.tmp / f"run-{run_id}.csv"
    w.cli("export", "--run", run_id, "--csv", str(path))
    with path.open(newline="", encoding="utf-8") as f:
        return {r["account_id"]: (r["ledger_state"], r["ledger_outcome"]) for r in csv.DictReader(f) if r["ledger_op"]}


def _run(w: World, run_id: str | None = None) -> Any:
    """A lifecycle run as stored (the newest when ``run_id`` is None)."""
    db = w.db()
    try:
        return db.lifecycle.get_run(run_id) if run_id else db.lifecycle.recent_runs(w.sandbox.org_id, 1)[0]
    finally:
        db.close()


def _assert_not_written_and_why(w: World, run_id: str, api_user: str, unreadable: str, others: list[str]) -> None:
    """No write for either account, the reasons in the audit trail; everyone else suspended."""
    assert w.writes(api_user) == []
    assert w.writes(unreadable) == []
    assert all(w.writes(a) for a in others), "control: the other warned accounts were suspended"
    users = w.sandbox.org.users
    assert users[api_user].membership_status == "active", "the account used through the API keeps its access"
    assert users[unreadable].membership_status == "active"

    [withdrawn] = _audit(w, api_user, run_id)
    assert (withdrawn["action"], withdrawn["outcome"]) == ("act.suspend", "skipped")
    assert withdrawn["reason"].startswith(WITHDRAWN), withdrawn
    [case] = w.cases(api_user)
    assert case.state is CaseState.CLOSED
    assert case.closed_reason.startswith(WITHDRAWN)

    [failed] = _audit(w, unreadable, run_id)
    assert (failed["action"], failed["outcome"]) == ("act.suspend", "failed")
    assert failed["reason"] == f"transient: {UNREADABLE}", failed
    [open_case] = w.cases(unreadable)
    assert open_case.state is CaseState.WARNED, "never taken as unused: the warning stays open for the next run"

    outcomes = _outcomes(w, run_id)
    assert outcomes[api_user][0] == "skipped"
    assert outcomes[api_user][1].startswith(WITHDRAWN)
    assert outcomes[unreadable] == ("failed", f"transient: {UNREADABLE}")

    counts = _run(w, run_id).counts
    assert counts.get("actions_skipped") == 1
    assert counts.get("actions_transient") == 1
    assert counts.get("actions_confirmed") == len(others)


def _next_run_carries_out_the_unreadable_one(w: World, api_user: str, unreadable: str) -> None:
    """Tokens readable again (and unused): the scheduled run suspends that account; the API user stays."""
    w.peers.call(w.sandbox.config.faults.clear)
    w.trigger_run("scheduler")
    assert len(w.writes(unreadable)) == 1
    assert w.sandbox.org.users[unreadable].membership_status == "suspended"
    assert w.writes(api_user) == []


def test_the_scheduled_run_in_serve_withdraws_an_action_whose_account_used_an_api_token(tmp_path):
    """Warned, then a token used (and another account's tokens unreadable); serve's scheduled job acts."""
    with world(tmp_path, f"sqlite:///{tmp_path}/bot.db", settings=ONE_ATTEMPT) as w:
        w.trigger_run("scheduler")
        api_user, unreadable, others = _pick(w)
        assert w.writes() == []
        changed = _at_the_final_read(
            w, {api_user: lambda: _use_token(w, api_user), unreadable: lambda: _break_token_reads(w, unreadable)}
        )

        w.trigger_run("scheduler")
        assert sorted(changed) == sorted([api_user, unreadable]), "both changed while the run was under way"
        run = _run(w)
        assert (run.requested_by, run.status) == ("system:scheduler", RunStatus.COMPLETED)
        _assert_not_written_and_why(w, run.run_id, api_user, unreadable, others)
        _next_run_carries_out_the_unreadable_one(w, api_user, unreadable)


def test_an_approval_clicked_in_slack_withdraws_a_held_action_whose_account_used_an_api_token(tmp_path):
    """The cap holds the actions; a token is used before an admin clicks Approve: serve does not act on it."""
    with world(tmp_path, f"sqlite:///{tmp_path}/bot.db", policy=capped_policy(), settings=ONE_ATTEMPT) as w:
        w.trigger_run("scheduler")
        api_user, unreadable, others = _pick(w)
        w.trigger_run("scheduler")
        run_id = w.held_run()
        assert w.writes() == []

        def change() -> None:
            _use_token(w, api_user)
            _break_token_reads(w, unreadable)

        w.peers.call(change)
        [parent] = w.approval_messages()
        w.approve(run_id, "chat")

        def replies() -> list[str]:
            return [m["text"] for m in w.fake.messages(ADMIN_CHANNEL) if m.get("thread_ts") == parent["ts"]]

        w.wait(lambda: any(r.startswith("Result (") for r in replies()))
        assert _run(w, run_id).status is RunStatus.COMPLETED
        _assert_not_written_and_why(w, run_id, api_user, unreadable, others)
        [result] = [r for r in replies() if r.startswith("Result (")]
        assert result.startswith(f"Result (completed): {len(others)} actions done."), result
        assert f"1 skipped: {WITHDRAWN}" in result, "the admins are told why the action was withdrawn"
        assert f"1 failed: transient: {UNREADABLE}" in result
        assert "1 failed for now and are retried on the next run." in result
        _next_run_carries_out_the_unreadable_one(w, api_user, unreadable)
