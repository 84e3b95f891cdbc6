"""The restore desk over fakes: rules route requests; decisions are single; requesters are told."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import timedelta

from core.chat import Actor, Purpose, hash_token
from core.clock import FixedClock
from core.engine import Engine
from core.model import MembershipStatus
from core.restore import RestoreDesk
from core.restore_model import RequestState, RestoreRequest, request_id_for
from tests.fakes import NOW, FakeDirectory, FakeStore, RecordingNotifier, make_account
from tests.fakes_chat import FakeRestoreStore, FakeTokenStore
from tests.fakes_lifecycle import FakeLifecycleStore
from tests.unit.test_engine import policy, stale

UNA = Actor("email", "", "una@acme.example", "Una")
ADMIN = Actor("slack", "T0ACME", "U0ADMIN", "Ada Admin")
OTHER = Actor("teams", "tenant", "aad-sec", "Sec Lead")
GROUPS_OFFBOARDED = ["jira-software-users", "hr-offboarded"]


class Told:
    def __init__(self) -> None:
        self.messages: list[tuple[str, RequestState, str, bool]] = []
        self.fail = False

    async def tell(self, request: RestoreRequest, text: str, ok: bool) -> None:
        if self.fail:
            raise ConnectionError("mail server down")
        self.messages.append((request.request_id, request.state, text, ok))


class World:
    def __init__(self, accounts, **restore) -> None:
        self.clock = FixedClock(NOW)
        self.directory = FakeDirectory(accounts)
        self.scans = FakeStore()
        self.store = FakeLifecycleStore()
        self.tokens = FakeTokenStore()
        self.requests = FakeRestoreStore()
        self.engine = Engine(self.directory, self.scans, self.store, RecordingNotifier(), self.clock, worker_id="w")
        self.policy = policy(restore=restore) if restore else policy()
        self.told = Told()

        @asynccontextmanager
        async def open_engine():
            yield self.engine

        self.desk = RestoreDesk(
            "org-1",
            requests=self.requests,
            lifecycle=self.store,
            scans=self.scans,
            tokens=self.tokens,
            clock=self.clock,
            open_engine=open_engine,
            load_policy=lambda: self.policy,
            channels={"email": self.told},
        )

    async def act(self) -> None:
        """Warn, then act at the deadline: the accounts lose access."""
        await self.engine.run(self.policy, requested_by="cli:alice")
        self.clock.advance(timedelta(days=14))
        await self.engine.run(self.policy, requested_by="cli:alice")

    def status(self, account_id: str) -> MembershipStatus:
        return self.directory.accounts[account_id].membership_status


async def test_a_matching_auto_approve_rule_restores_at_once_and_is_audited():
    w = World(
        [stale("a1", email="una@acme.example")],
        auto_approve=[{"name": "staff", "email_domains": ["acme.example"]}],
    )
    await w.act()
    assert w.status("a1") is not MembershipStatus.ACTIVE
    done = await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")
    assert done.ok, done.text
    assert done.request.state is RequestState.RESTORED
    assert done.request.rule == "staff"
    assert not done.buttons
    assert w.status("a1") is MembershipStatus.ACTIVE
    assert [a.action for a in w.requests.audit] == ["restore.requested", "restore.approved", "restore.done"]
    assert "restored" in done.text


async def test_without_a_matching_rule_the_admins_get_single_use_buttons():
    w = World([stale("a1", email="una@acme.example")])
    await w.act()
    asked = await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")
    assert asked.ok
    assert asked.request.state is RequestState.PENDING
    approve, _deny = asked.buttons
    token = w.tokens.get_token(hash_token(approve.token))
    assert token.purpose is Purpose.APPROVE_RESTORE
    assert token.subject == asked.request.request_id
    assert token.forbidden == UNA  # the requester cannot approve their own request
    assert "una@acme.example" in asked.admin_text
    assert "no auto-approve rule" in asked.admin_text
    assert w.status("a1") is not MembershipStatus.ACTIVE  # nothing happens before an admin decides


async def test_an_approval_restores_and_tells_the_requester_on_their_channel():
    w = World([stale("a1", email="una@acme.example")])
    await w.act()
    asked = await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")
    decided = await w.desk.decide(asked.request.request_id, True, ADMIN)
    assert decided.ok, decided.text
    assert decided.told
    assert w.status("a1") is MembershipStatus.ACTIVE
    assert w.told.messages[-1][1] is RequestState.RESTORED
    again = await w.desk.decide(asked.request.request_id, False, OTHER)
    assert not again.ok
    assert "Already decided" in again.text


async def test_a_denial_changes_nothing_and_tells_the_reason():
    w = World([stale("a1", email="una@acme.example")])
    await w.act()
    asked = await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")
    decided = await w.desk.decide(asked.request.request_id, False, ADMIN, "contract ended")
    assert decided.ok
    assert w.status("a1") is not MembershipStatus.ACTIVE
    _, state, text, ok = w.told.messages[-1]
    assert (state, ok) == (RequestState.DENIED, False)
    assert "contract ended" in text


async def test_concurrent_approve_and_deny_one_wins():
    w = World([stale("a1", email="una@acme.example")])
    await w.act()
    asked = await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")
    results = await asyncio.gather(
        w.desk.decide(asked.request.request_id, True, ADMIN),
        w.desk.decide(asked.request.request_id, False, OTHER),
    )
    assert sum(r.ok for r in results) == 1
    final = w.requests.get_request(asked.request.request_id)
    assert final.state in (RequestState.RESTORED, RequestState.DENIED)
    assert (w.status("a1") is MembershipStatus.ACTIVE) == (final.state is RequestState.RESTORED)


async def test_the_requester_cannot_decide_their_own_request():
    w = World([stale("a1", email="una@acme.example")])
    await w.act()
    asked = await w.desk.submit("slack", ADMIN, "a1")
    refused = await w.desk.decide(asked.request.request_id, True, ADMIN)
    assert not refused.ok
    assert w.requests.get_request(asked.request.request_id).state is RequestState.PENDING


async def test_deny_groups_and_unknown_sources_are_refused_with_a_reason():
    w = World(
        [make_account("a1", email="una@acme.example", products={"jira-software": 200}, groups=GROUPS_OFFBOARDED)],
        deny_groups=["hr-offboarded"],
        sources=["slack", "teams", "email"],
        auto_approve=[{"name": "staff", "email_domains": ["acme.example"]}],
    )
    await w.act()
    denied = await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")
    assert not denied.ok
    assert denied.request.state is RequestState.DENIED
    assert w.status("a1") is not MembershipStatus.ACTIVE
    jsm = await w.desk.submit("jsm", Actor("jsm", "", "a1"), "a1", reply_to="HELP-1")
    assert not jsm.ok
    assert "jsm" in jsm.text


async def test_nothing_to_restore_is_denied():
    w = World([stale("a1", email="una@acme.example")])
    nothing = await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")
    assert not nothing.ok
    assert nothing.request.state is RequestState.DENIED


async def test_over_the_auto_restore_limit_an_admin_decides():
    w = World(
        [stale("a1", email="una@acme.example")],
        auto_approve=[{"name": "staff", "email_domains": ["acme.example"]}],
        limit={"max": 1, "per_days": 30},
    )
    await w.act()
    earlier = RestoreRequest(
        request_id="rq-earlier",
        org_id="org-1",
        account_id="a1",
        source="slack",
        requester=ADMIN,
        created_at=w.clock.now() - timedelta(days=20),
        state=RequestState.RESTORED,
        route="auto",
    )
    w.requests.requests[earlier.request_id] = earlier
    again = await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")
    assert again.request.route == "admin"
    assert again.buttons
    assert "limit" in again.admin_text
    assert w.status("a1") is not MembershipStatus.ACTIVE


async def test_a_redelivered_request_is_answered_like_the_first_and_changes_nothing():
    w = World(
        [stale("a1", email="una@acme.example")],
        auto_approve=[{"name": "staff", "email_domains": ["acme.example"]}],
    )
    await w.act()
    rid = request_id_for("org-1", "jsm", "HELP-7")
    first = await w.desk.submit("jsm", Actor("jsm", "", "a1"), "a1", reply_to="HELP-7", request_id=rid)
    second = await w.desk.submit("jsm", Actor("jsm", "", "a1"), "a1", reply_to="HELP-7", request_id=rid)
    assert first.request.state is RequestState.RESTORED
    assert second.duplicate
    assert second.request == w.requests.get_request(rid)
    assert len(w.requests.requests) == 1


async def test_requests_per_day_are_limited_per_account():
    w = World([stale("a1", email="una@acme.example")], requests_per_day=2)
    await w.act()
    for _ in range(2):
        assert (await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")).buttons
    refused = await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")
    assert not refused.ok
    assert refused.request is None
    w.clock.advance(timedelta(days=1, seconds=1))
    assert (await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")).buttons


async def test_a_channel_that_cannot_tell_does_not_undo_the_decision():
    w = World([stale("a1", email="una@acme.example")])
    await w.act()
    asked = await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")
    w.told.fail = True
    decided = await w.desk.decide(asked.request.request_id, True, ADMIN)
    assert decided.ok
    assert not decided.told
    assert w.requests.get_request(asked.request.request_id).state is RequestState.RESTORED


async def test_an_outcome_that_could_not_be_told_is_told_later_and_only_once():
    w = World([stale("a1", email="una@acme.example")])
    await w.act()
    asked = await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")
    w.told.fail = True
    await w.desk.decide(asked.request.request_id, True, ADMIN)
    assert w.requests.untold_requests("org-1") == [w.requests.get_request(asked.request.request_id)]
    assert await w.desk.retell() == 0  # still down
    w.told.fail = False
    assert await w.desk.retell() == 1
    assert w.told.messages[-1][1] is RequestState.RESTORED
    assert w.requests.untold_requests("org-1") == []
    assert await w.desk.retell() == 0


async def test_answered_outcomes_are_not_told_twice_and_webhook_requests_are_told_by_the_desk():
    w = World(
        [stale("a1", email="una@acme.example")],
        auto_approve=[{"name": "staff", "email_domains": ["acme.example"]}],
    )
    await w.act()
    w.desk.channels["jsm"] = w.told
    done = await w.desk.submit("jsm", Actor("jsm", "", "a1"), "a1", reply_to="HELP-3", answered=False)
    assert done.request.state is RequestState.RESTORED
    assert [m[1] for m in w.told.messages] == [RequestState.RESTORED]  # told by the desk, once
    assert await w.desk.retell() == 0


async def test_a_restore_approved_while_paused_is_queued_told_so_and_settled_once_it_runs():
    """Kill switch on: the approval stands, nobody hears "restored" until the access is back."""
    w = World([stale("a1", email="una@acme.example")])
    await w.act()
    asked = await w.desk.submit("email", UNA, "a1", reply_to="una@acme.example")
    await w.engine.set_paused("org-1", True, "cli:alice", "incident")
    decided = await w.desk.decide(asked.request.request_id, True, ADMIN)
    assert decided.ok
    assert "queued" in decided.text
    queued = w.requests.get_request(asked.request.request_id)
    assert queued.state is RequestState.APPROVED
    assert w.status("a1") is MembershipStatus.SUSPENDED
    [(_, state, text, ok)] = w.told.messages[-1:]
    assert state is RequestState.APPROVED
    assert "comes back when they resume" in text
    assert not ok
    assert await w.desk.settle_queued() == 0  # still paused: nothing to settle

    await w.engine.set_paused("org-1", False, "cli:alice")
    w.clock.advance(timedelta(days=1))
    await w.engine.run(w.policy, requested_by="cli:alice")  # the scheduled run carries the restore out
    assert w.status("a1") is MembershipStatus.ACTIVE
    assert await w.desk.settle_queued() == 1
    assert w.requests.get_request(asked.request.request_id).state is RequestState.RESTORED
    assert w.told.messages[-1][1:] == (
        RequestState.RESTORED,
        "Your access has been restored. It can take a few minutes to show in Atlassian.",
        True,
    )
    assert await w.desk.settle_queued() == 0  # settled once
    assert [a.action for a in w.requests.audit][-2:] == ["restore.queued", "restore.done"]
