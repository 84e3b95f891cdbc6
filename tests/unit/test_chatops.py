"""Chat use cases over fakes: admin gate, commands, single-use intended-recipient buttons."""

import tempfile
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from bot.chatops import Admins, ChatOps
from core.chat import Actor, Purpose, TokenStatus
from core.clock import FixedClock
from core.engine import Engine
from core.lifecycle import CaseState
from core.model import MembershipStatus
from core.restore_model import RequestState, RestoreRequest
from tests.fakes import NOW, FakeDirectory, FakeStore, RecordingNotifier, make_account
from tests.fakes_chat import FakeProtectionStore, FakeRestoreStore, FakeTokenStore
from tests.fakes_lifecycle import FakeLifecycleStore
from tests.unit.test_engine import policy, stale

ADMIN = Actor("slack", "T0ACME", "U0ADMIN", "Ada Admin")
OTHER_ADMIN = Actor("slack", "T0ACME", "U0SEC", "Sec Lead")
USER = Actor("slack", "T0ACME", "U0USER", "Una User")
STRANGER = Actor("slack", "T0ACME", "U0EVE", "Eve")


class Harness:
    def __init__(self, accounts, pol=None):
        self.clock = FixedClock(NOW)
        self.directory = FakeDirectory(accounts)
        self.scans = FakeStore()
        self.store = FakeLifecycleStore()
        self.tokens = FakeTokenStore()
        self.protections = FakeProtectionStore()
        self.restores = FakeRestoreStore()
        self.notifier = RecordingNotifier()
        self.engine = Engine(self.directory, self.scans, self.store, self.notifier, self.clock, worker_id="w")
        self.policy = pol or policy()
        self.replies = []

        @asynccontextmanager
        async def open_engine():
            yield self.engine

        self.ops = ChatOps(
            org_id="org-1",
            load_policy=lambda: self.policy,
            open_engine=open_engine,
            scans=self.scans,
            lifecycle=self.store,
            tokens=self.tokens,
            protections=self.protections,
            admins=Admins.of([ADMIN, OTHER_ADMIN]),
            clock=self.clock,
            report_folder=Path(tempfile.mkdtemp(prefix="jc-reports-")),
            restores=self.restores,
        )
        self.admin_posts = []

        async def to_admins(reply):
            self.admin_posts.append(reply)
            return True

        self.ops.admin_posters.append(to_admins)

    async def respond(self, reply):
        self.replies.append(reply)

    async def cmd(self, text, actor=ADMIN):
        reply = await self.ops.command(actor, text, self.respond)
        await self.ops.drain()
        return reply

    def case(self, account_id, rule="org"):
        return next(c for c in self.store.find_cases("org-1", account_id) if c.rule == rule)


async def test_non_admins_are_refused_and_nothing_happens():
    """A non-admin gets a short refusal; even 'pause' changes nothing."""
    h = Harness([stale("a1")])
    reply = await h.cmd("pause", actor=STRANGER)
    assert not reply.ok
    assert "admins only" in reply.text
    assert not h.store.is_paused("org-1")
    lookalike = Actor("slack", "T0OTHER", "U0ADMIN", "Ada Admin")
    assert not (await h.cmd("status", actor=lookalike)).ok


async def test_unknown_command_is_a_short_answer():
    """An unknown sub-command answers with the command list; nothing happens."""
    h = Harness([stale("a1")])
    reply = await h.cmd("explode")
    assert not reply.ok
    assert "unknown command" in reply.text


async def test_pause_resume_status_and_policy():
    """The kill switch from chat is audited with the chat identity."""
    h = Harness([stale("a1")])
    assert (await h.cmd("pause incident 7")).ok
    assert h.store.is_paused("org-1")
    status = await h.cmd("status")
    assert ("Kill switch", "ON — nothing will be changed") in status.lines
    await h.cmd("resume")
    assert not h.store.is_paused("org-1")
    actors = [e.entry.actor for e in h.store.iter_audit()]
    assert actors.count("slack:T0ACME/U0ADMIN") == 2
    assert "org-wide" not in (await h.cmd("policy")).text


async def test_keep_button_single_use_and_intended_recipient_only():
    """Only the warned person can keep; a double click keeps once and confirms once."""
    h = Harness([stale("a1")])
    await h.engine.run(h.policy, requested_by="cli:alice")
    case = h.case("a1")
    keep, _release = await h.ops.warning_buttons(h.directory.accounts["a1"], case.case_id, USER)
    wrong = await h.ops.click(STRANGER, keep.token, h.respond)
    assert wrong.status is TokenStatus.WRONG_USER
    assert h.case("a1").state is CaseState.WARNED
    first = await h.ops.click(USER, keep.token, h.respond)
    second = await h.ops.click(USER, keep.token, h.respond)
    assert first.status is TokenStatus.OK
    assert first.first
    assert "kept until" in first.text
    assert second.status is TokenStatus.ALREADY_USED
    assert not second.first
    assert second.text == first.text
    assert h.case("a1").state is CaseState.KEPT
    keeps = [e for e in h.store.iter_audit() if e.entry.action == "keep" and e.entry.outcome == "ok"]
    assert len(keeps) == 1
    assert keeps[0].entry.actor == USER.audit_id


async def test_a_button_of_another_org_is_unknown_here_and_stays_unused():
    """Orgs of one deployment share the database: a token of org-1 presented to org-2's chat does nothing."""
    h = Harness([stale("a1")])
    await h.engine.run(h.policy, requested_by="cli:alice")
    keep, _ = await h.ops.warning_buttons(h.directory.accounts["a1"], h.case("a1").case_id, USER)
    other = ChatOps(
        org_id="org-2",
        load_policy=lambda: h.policy,
        open_engine=h.ops.open_engine,
        scans=h.scans,
        lifecycle=h.store,
        tokens=h.tokens,
        protections=h.protections,
        admins=Admins.of([ADMIN]),
        clock=h.clock,
        report_folder=h.ops.report_folder,
        restores=h.restores,
    )
    assert (await other.click(USER, keep.token, h.respond)).status is TokenStatus.UNKNOWN
    assert await other.peek(keep.token) == (None, TokenStatus.UNKNOWN)
    assert h.case("a1").state is CaseState.WARNED
    assert (await h.ops.click(USER, keep.token, h.respond)).status is TokenStatus.OK  # still usable in its own org
    assert h.case("a1").state is CaseState.KEPT


async def test_expired_button_changes_nothing():
    """Past its expiry a button refuses politely."""
    h = Harness([stale("a1")])
    await h.engine.run(h.policy, requested_by="cli:alice")
    keep, _ = await h.ops.warning_buttons(h.directory.accounts["a1"], h.case("a1").case_id, USER)
    h.clock.advance(timedelta(days=46))
    result = await h.ops.click(USER, keep.token, h.respond)
    assert result.status is TokenStatus.EXPIRED
    assert h.case("a1").state is CaseState.WARNED


async def test_release_acts_on_the_next_run():
    """'I don't need it' moves the deadline to now; the next run removes the access."""
    h = Harness([stale("a1")])
    await h.engine.run(h.policy, requested_by="cli:alice")
    _, release = await h.ops.warning_buttons(h.directory.accounts["a1"], h.case("a1").case_id, USER)
    result = await h.ops.click(USER, release.token, h.respond)
    assert result.ok
    await h.engine.run(h.policy, requested_by="cli:alice")
    assert h.directory.accounts["a1"].membership_status is MembershipStatus.SUSPENDED


async def test_approval_buttons_refuse_the_requester_and_non_admins():
    """Held runs are approved by another admin, exactly once."""
    pol = policy(
        safety={
            "caps": {
                "per_run": {"max_actions": 0, "max_percent": None},
                "window": {"max_actions": None, "max_percent": None},
            }
        }
    )
    h = Harness([stale("a1"), stale("a2")], pol)
    await h.engine.run(pol, requested_by=ADMIN.audit_id)
    h.clock.advance(timedelta(days=14))
    held = await h.engine.run(pol, requested_by=ADMIN.audit_id)
    approve, _deny = await h.ops.approval_buttons(held.run_id, ADMIN)
    assert (await h.ops.click(ADMIN, approve.token, h.respond)).status is TokenStatus.WRONG_USER
    assert (await h.ops.click(USER, approve.token, h.respond)).status is TokenStatus.WRONG_USER
    ok = await h.ops.click(OTHER_ADMIN, approve.token, h.respond)
    assert ok.ok, ok.text
    assert "2 actions carried out" in ok.text
    again = await h.ops.click(OTHER_ADMIN, approve.token, h.respond)
    assert again.status is TokenStatus.ALREADY_USED
    assert len(h.directory.writes) == 2


async def test_run_needs_a_confirm_click_by_the_same_admin():
    """'run' answers with a confirm button; only its requester can press it."""
    h = Harness([stale("a1")])
    reply = await h.cmd("run")
    assert reply.buttons[0].label == "Run now"
    assert (await h.ops.click(OTHER_ADMIN, reply.buttons[0].token, h.respond)).status is TokenStatus.WRONG_USER
    result = await h.ops.click(ADMIN, reply.buttons[0].token, h.respond)
    await h.ops.drain()
    assert result.ok
    assert h.replies
    assert h.replies[-1].title.startswith("Run ")
    assert h.notifier.warnings


async def test_protect_merges_into_the_policy_and_restore_by_email():
    """protect adds a runtime protection; restore accepts an email from the latest scan."""
    h = Harness([stale("a1", email="ada@acme.example"), stale("a2")])
    assert (await h.cmd("protect ada@acme.example")).ok
    assert "ada@acme.example" in h.ops.policy().protected.accounts
    await h.engine.run(h.ops.policy(), requested_by="cli:alice")
    assert {c.account_id for c in h.store.open_cases("org-1").values()} == {"a2"}
    assert (await h.cmd("unprotect ada@acme.example")).ok
    h.clock.advance(timedelta(days=14))
    await h.engine.run(h.ops.policy(), requested_by="cli:alice")
    reply = await h.cmd("restore a2@acme.example")
    assert reply.ok, reply.text
    assert h.directory.accounts["a2"].membership_status is MembershipStatus.ACTIVE
    missing = await h.cmd("restore nobody@acme.example")
    assert not missing.ok


@pytest.mark.parametrize("text", ["preview", "report", "help"])
async def test_other_commands_answer(text):
    """preview reports later through respond; report and help answer at once."""
    h = Harness([stale("a1")])
    reply = await h.cmd(text)
    assert reply.ok
    if text == "preview":
        assert h.replies
        assert "dry_run" in h.replies[-1].title
        assert h.replies[-1].file is not None
        assert h.directory.writes == []
    assert Purpose.KEEP.value == "keep"


async def test_restore_request_goes_to_admins_and_tells_the_requester():
    """A locked-out user asks; another admin approves; the requester is told on their own platform."""
    h = Harness([stale("a1", email="una@acme.example")])
    told: list[tuple[RestoreRequest, str]] = []

    class Requesters:
        async def tell(self, request: RestoreRequest, text: str, ok: bool) -> None:
            told.append((request, text))

    h.ops.channels[USER.platform] = Requesters()
    await h.engine.run(h.policy, requested_by="cli:alice")
    h.clock.advance(timedelta(days=14))
    await h.engine.run(h.policy, requested_by="cli:alice")
    to_user = await h.ops.request_restore(USER, "una@acme.example")
    assert to_user.ok
    [to_admins] = h.admin_posts
    approve, _deny = to_admins.buttons
    assert (await h.ops.click(USER, approve.token, h.respond)).status is TokenStatus.WRONG_USER
    result = await h.ops.click(OTHER_ADMIN, approve.token, h.respond)
    assert result.ok, result.text
    [(request, _text)] = told
    assert request.requester == USER
    assert request.state is RequestState.RESTORED
    assert h.directory.accounts["a1"].membership_status is MembershipStatus.ACTIVE
    nothing = await h.ops.request_restore(USER, "nobody@acme.example")
    assert not nothing.ok
    assert len(h.admin_posts) == 1


async def test_keep_without_a_required_justification_does_not_burn_the_button():
    """When the policy asks for a reason, a reasonless click is refused and the button still works."""
    pol = policy(lifecycle={"keep": {"justification_required": True}})
    h = Harness([stale("a1")], pol)
    await h.engine.run(pol, requested_by="cli:alice")
    keep, _ = await h.ops.warning_buttons(h.directory.accounts["a1"], h.case("a1").case_id, USER)
    refused = await h.ops.click(USER, keep.token, h.respond)
    assert not refused.ok
    assert "why" in refused.text
    kept = await h.ops.click(USER, keep.token, h.respond, justification="month-end reporting")
    assert kept.ok
    assert h.case("a1").keep_reason == "month-end reporting"


async def test_restore_requests_are_limited_per_account_per_day():
    """After three requests in a day the admins are not asked again; the next day they are."""
    h = Harness([stale("a1", email="una@acme.example")])
    await h.engine.run(h.policy, requested_by="cli:alice")
    h.clock.advance(timedelta(days=14))
    await h.engine.run(h.policy, requested_by="cli:alice")
    for _ in range(3):
        assert (await h.ops.request_restore(USER, "una@acme.example")).ok
    assert len(h.admin_posts) == 3
    refused = await h.ops.request_restore(USER, "una@acme.example")
    assert not refused.ok
    assert len(h.admin_posts) == 3
    assert "already with the admins" in refused.text
    h.clock.advance(timedelta(days=1, seconds=1))
    assert (await h.ops.request_restore(USER, "una@acme.example")).ok
    assert len(h.admin_posts) == 4


MANAGER = Actor("slack", "T0ACME", "U0MGR", "Mia Manager")


async def test_a_manager_asks_for_someone_elses_access_an_admin_decides_and_the_owner_is_told():
    """restore.on_behalf_groups: a member asks for a1; never auto-approved; a1 hears of it and of the decision."""
    pol = policy(
        restore={"on_behalf_groups": ["Managers"], "auto_approve": [{"name": "all", "email_domains": ["acme.example"]}]}
    )
    manager = make_account("m1", email="mgr@acme.example", products={"jira-software": 1}, groups=["managers"])
    h = Harness([stale("a1", email="una@acme.example"), manager, stale("e1", email="eve@acme.example")], pol)
    h.ops.owner_notice = h.notifier.tell
    await h.engine.run(h.policy, requested_by="cli:alice")
    h.clock.advance(timedelta(days=14))
    await h.engine.run(h.policy, requested_by="cli:alice")

    refused = await h.ops.request_restore(STRANGER, "eve@acme.example", for_email="una@acme.example")
    assert not refused.ok
    assert "restore.on_behalf_groups" in refused.text
    assert h.admin_posts == []
    assert h.notifier.told == []

    asked = await h.ops.request_restore(MANAGER, "mgr@acme.example", for_email="UNA@acme.example")
    assert asked.ok, asked.text
    assert "una@acme.example is told too" in asked.text
    [to_admins] = h.admin_posts  # the auto-approve rule matched a1, but a request for someone else is decided
    assert "Mia Manager asks to get access back for una@acme.example" in to_admins.text
    assert "asked for someone else's access" in to_admins.text
    [(owner, heard)] = h.notifier.told
    assert owner == "a1"
    assert heard.startswith("Mia Manager asked the jira-cleanup admins to give you back")
    [request] = h.restores.requests.values()
    assert (request.requester, request.account_id, request.on_behalf) == (MANAGER, "a1", True)

    approve, _deny = to_admins.buttons
    assert (await h.ops.click(MANAGER, approve.token, h.respond)).status is TokenStatus.WRONG_USER
    decided = await h.ops.click(OTHER_ADMIN, approve.token, h.respond)
    assert decided.ok, decided.text
    assert h.directory.accounts["a1"].membership_status is MembershipStatus.ACTIVE
    assert h.notifier.told[-1] == ("a1", h.notifier.told[-1][1])
    assert "has been restored (asked for by Mia Manager)" in h.notifier.told[-1][1]
    told = [e.entry for e in h.store.iter_audit() if e.entry.action == "restore.owner_told"]
    assert [e.outcome for e in told] == ["ok", "ok"]


async def test_an_admin_may_ask_for_anyone_and_asking_for_yourself_is_a_plain_request():
    h = Harness([stale("a1", email="una@acme.example")])
    await h.engine.run(h.policy, requested_by="cli:alice")
    h.clock.advance(timedelta(days=14))
    await h.engine.run(h.policy, requested_by="cli:alice")
    for_other = await h.ops.request_restore(ADMIN, "ada@acme.example", for_email="una@acme.example")
    assert for_other.ok, for_other.text
    [request] = h.restores.requests.values()
    assert request.on_behalf
    own = await h.ops.request_restore(USER, "una@acme.example", for_email="una@acme.example")
    assert own.ok
    assert not next(r for r in h.restores.requests.values() if r.requester == USER).on_behalf
