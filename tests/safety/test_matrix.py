"""Every entry point keeps the safety promises: the entry-point × invariant matrix.

Each test is one invariant; it is parametrized over the entry points a user has for it
(``cli``: ``jira-cleanup run``/``approve`` as subprocesses; ``scheduler``: the scheduled job of a
real ``serve`` process; ``chat``: ``/jira-cleanup run`` and its buttons, signed, sent to that
``serve``) and over the database (SQLite and PostgreSQL). Writes are counted where they land:
the sandbox's log of mutating Admin API requests. Each invariant also has a positive control
(someone else *is* warned or suspended), so a test cannot pass because nothing ran at all.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from core.ledger import RunStatus
from tests.safety.world import (
    ADMIN_CHANNEL,
    APPROVE_ENTRY_POINTS,
    EXE,
    RUN_ENTRY_POINTS,
    TEAM,
    base_policy,
    capped_policy,
    slack_id,
    world,
)

pytestmark = pytest.mark.slow


def _texts(messages: list[dict]) -> str:
    return json.dumps(messages)


def _held_by_cron(w) -> str:
    """Warn, then act from `jira-cleanup run`: the second run is held by the cap; its id."""
    w.trigger_run("cli")
    w.trigger_run("cli")
    return w.held_run()


@pytest.mark.parametrize("via", RUN_ENTRY_POINTS)
def test_unreachable_person_is_escalated_and_never_touched(tmp_path, db_url, via):
    """Slack reaches everyone but two people: they are escalated to the admins and never changed."""
    with world(tmp_path, db_url, unreachable=2) as w:
        assert len(w.selected) >= 5
        w.trigger_run(via)
        reachable = [a for a in w.selected if a not in w.unreachable]
        assert set(w.warned()) == set(reachable), "exactly the people Slack reached count as warned"
        assert all(w.dms(a) for a in reachable), "each warning is a real Slack DM"
        w.trigger_run(via)
        for account_id in w.unreachable:
            assert w.writes(account_id) == []
            email = w.sandbox.org.users[account_id].email
            assert f"needs a human for {email}" in _texts(w.fake.messages(ADMIN_CHANNEL)), "escalated to the admins"
        assert all(w.writes(a) for a in reachable), "control: the warned people were suspended"


def test_cli_run_with_slack_sends_the_same_dms_as_the_scheduler(tmp_path, db_url):
    """The first observed failure: `jira-cleanup run` with Slack configured reported warnings but DMed nobody."""
    with world(tmp_path, db_url) as w:
        out = w.trigger_run("cli")
        dms = [a for a in w.selected if w.dms(a)]
        assert dms
        assert set(dms) == set(w.warned())
        assert f"Warnings delivered {len(dms)}".replace(" ", "") in out.replace(" ", "").replace(",", "")
        assert w.writes() == []


@pytest.mark.parametrize("via", RUN_ENTRY_POINTS)
def test_no_channel_in_enforce_is_refused_with_one_line(tmp_path, db_url, via):
    """No Slack, Teams or SMTP and mode: enforce: the run (or serve) is refused before anything happens."""
    with world(tmp_path, db_url, slack=False) as w:
        if via == "cli":
            done = w.cli("run", "--as", "alice", check=False)
        else:
            done = subprocess.run(
                [*EXE, "serve", "--port", "0"],
                cwd=w.tmp,
                env=w.env(),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        assert done.returncode == 2
        error = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(error) == 1, done.stderr
        assert "mode: enforce needs a channel" in error[0]
        assert "SLACK_BOT_TOKEN" in error[0]
        assert "SMTP_HOST" in error[0]
        assert w.writes() == []
        dry = w.cli("run", "--as", "alice", "--dry-run")
        assert "people would be warned" in dry.stdout, "a preview shows what people would be told"


@pytest.mark.parametrize("via", RUN_ENTRY_POINTS)
def test_protections_from_chat_cli_and_policy_file_hold(tmp_path, db_url, via):
    """Protected from the policy file: never warned. From chat or the CLI: the open warning is withdrawn."""
    with world(tmp_path, db_url) as w:
        in_file, from_chat, from_cli, control = w.selected[:4]
        policy = base_policy(protected={"accounts": [in_file]})
        w.write_policy(policy)
        w.trigger_run(via)
        assert in_file not in w.warned()
        assert w.dms(in_file) == []
        assert {from_chat, from_cli, control} <= set(w.warned())
        email = w.sandbox.org.users[from_chat].email
        _, reply = w.slash(f"protect {email}")
        assert "is now protected" in _texts(reply)
        assert "1 open warning withdrawn" in _texts(reply)
        done = w.cli("protect", from_cli, "--as", "carol")
        assert "1 open warning withdrawn" in done.stdout
        assert {from_chat, from_cli}.isdisjoint(w.warned())
        w.trigger_run(via)
        for account_id in (in_file, from_chat, from_cli):
            assert w.writes(account_id) == [], account_id
        assert w.writes(control), "control: an unprotected warned account was suspended"


@pytest.mark.parametrize("via", RUN_ENTRY_POINTS)
def test_kill_switch_before_a_run(tmp_path, db_url, via):
    """Paused: nothing is warned and nothing is written, whatever starts the run; resume lets it go on."""
    with world(tmp_path, db_url) as w:
        w.cli("pause", "--reason", "incident 7", "--as", "alice")
        assert "Kill switch ON" in _texts(w.fake.messages(ADMIN_CHANNEL)), "the admins are told in Slack"
        w.trigger_run(via)
        w.trigger_run(via)
        assert w.writes() == []
        assert w.warned() == []
        w.cli("resume", "--as", "alice")
        w.trigger_run(via)
        assert w.warned(), "control: once resumed, people are warned"


@pytest.mark.parametrize("via", RUN_ENTRY_POINTS)
def test_dry_run_writes_nothing(tmp_path, db_url, via):
    """mode: dry_run: zero mutating requests and zero messages to people, on every entry point."""
    with world(tmp_path, db_url, policy=base_policy(mode="dry_run")) as w:
        out = w.trigger_run(via)
        w.trigger_run(via)
        assert w.writes() == []
        assert all(w.dms(a) == [] for a in w.selected)
        if via == "cli":
            assert f"{len(w.selected)} people would be warned" in out


@pytest.mark.parametrize("via", RUN_ENTRY_POINTS)
def test_over_a_cap_holds_everything_and_asks_each_admin_surface_once(tmp_path, db_url, via):
    """Over the per-run cap: 0 writes, one approval request in Slack and one by email; approval applies it."""
    with world(tmp_path, db_url, smtp=True, policy=capped_policy()) as w:
        w.trigger_run(via)
        assert len(w.warned()) > 2
        w.trigger_run(via)
        assert w.writes() == []
        assert len(w.approval_messages()) == 1
        assert len([m for m in w.admin_emails() if "approval" in str(m["Subject"]).lower()]) == 1
        run_id = w.held_run()
        [parent] = w.approval_messages()
        approve_via = APPROVE_ENTRY_POINTS[RUN_ENTRY_POINTS.index(via) % 2]
        w.approve(run_id, approve_via)
        assert len(w.writes()) == len(w.warned()) or w.writes(), "control: the approved actions were applied"
        # One thread per request: the parent shows the decision, the rest is said under it.
        w.wait(lambda: any(f.get("thread_ts") == parent["ts"] for f in w.fake.files()))
        shown = w.fake.message(ADMIN_CHANNEL, parent["ts"])
        assert not [b for b in shown["blocks"] if b["type"] == "actions"], "the parent's buttons are gone"
        assert "Approved by" in json.dumps(shown["blocks"])
        replies = [m["text"] for m in w.fake.messages(ADMIN_CHANNEL) if m.get("thread_ts") == parent["ts"]]
        assert replies[0].startswith("Approved by"), replies
        assert replies[-1].startswith("Result (completed)"), replies
        top = [m["text"] for m in w.fake.messages(ADMIN_CHANNEL) if not m.get("thread_ts")]
        assert not [t for t in top if "approved by" in t.lower() and t != shown["text"]], "nothing outside the thread"


@pytest.mark.parametrize("via", APPROVE_ENTRY_POINTS)
def test_kill_switch_holds_an_approved_run_and_the_next_run_asks_again(tmp_path, db_url, via):
    """Approving a held run while paused writes nothing; after resume the next run answers for it again."""
    with world(tmp_path, db_url, policy=capped_policy()) as w:
        run_id = _held_by_cron(w)
        w.cli("pause", "--reason", "incident 8", "--as", "alice")
        w.approve(run_id, via)
        assert w.writes() == []
        assert w.run_status(run_id) is not RunStatus.COMPLETED
        w.cli("resume", "--as", "alice")
        w.trigger_run("cli")  # the approved actions still wait: over the cap, they are held again
        assert w.writes() == []
        again = [r for r in w.finished_runs() if r.status is RunStatus.AWAITING_APPROVAL and r.run_id != run_id]
        assert len(again) == 1
        w.cli("approve", str(again[0].run_id), "--as", "bob")
        assert w.writes(), "control: approved with the switch off, the actions are carried out"


def test_an_admin_approves_by_replying_in_the_thread_on_the_running_server(tmp_path, db_url):
    """Held by a cron run; an admin types "approve" under its post; serve applies it (a non-admin is refused)."""
    with world(tmp_path, db_url, policy=capped_policy()) as w:
        run_id = _held_by_cron(w)
        [parent] = w.approval_messages()
        w.thread_reply("U0NOBODY", parent["ts"], "approve")  # not an admin: refused in the thread
        w.wait(lambda: any("Only jira-cleanup admins" in m["text"] for m in w.fake.messages(ADMIN_CHANNEL)))
        assert w.writes() == []
        w.thread_reply("U0SEC", parent["ts"], "<@U0BOT> approve")
        w.wait(lambda: w.run_status(run_id) is RunStatus.COMPLETED)
        assert len(w.writes()) == len(w.warned())
        replies = [m["text"] for m in w.fake.messages(ADMIN_CHANNEL) if m.get("thread_ts") == parent["ts"]]
        assert replies[1].startswith(f"Approved by slack:{TEAM}/U0SEC"), replies


@pytest.mark.parametrize("via", RUN_ENTRY_POINTS)
def test_keep_pressed_means_no_write_for_that_case(tmp_path, db_url, via):
    """A warned person presses Keep in their Slack DM: that account is never written; others are."""
    with world(tmp_path, db_url) as w:
        w.start_serve()  # the button lands on the server whichever entry point runs the lifecycle
        w.trigger_run(via)
        keeper, control = w.selected[:2]
        [warning] = [m for m in w.dms(keeper) if "blocks" in m][-1:]
        dm = w.fake.dm_of(slack_id(w.index_of(keeper)))
        w.click(slack_id(w.index_of(keeper)), warning, "jc_keep", channel=dm)
        w.wait(lambda: any(c.state.value == "kept" for c in w.cases(keeper)))
        w.trigger_run(via)
        assert w.writes(keeper) == []
        assert w.writes(control)


@pytest.mark.parametrize("via", RUN_ENTRY_POINTS)
def test_kill_switch_during_a_run_stops_every_write_not_already_in_flight(tmp_path, db_url, via):
    """Paused the instant the first write lands: only writes already in flight finish; none starts after."""
    with world(tmp_path, db_url, users=80) as w:
        w.trigger_run(via)
        due = len(w.warned())
        assert due >= 10
        at = w.pause_on_first_write()
        w.trigger_run(via)
        assert at, "the run reached its first write"
        after = [r for r in w.writes() if r.seq > at[0]]
        assert len(after) < 8, "at most the engine's other in-flight writes (concurrency 8) finish"
        assert len(w.writes()) < due
        stopped = len(w.writes())
        w.trigger_run(via)
        assert len(w.writes()) == stopped, "while paused, no run writes"
        w.cli("resume", "--as", "alice")
        w.trigger_run(via)
        assert len(w.writes()) == due, "control: after resume the rest is carried out, each once"
