"""After an action the person is told how to get access back; every delivery attempt is audited."""

from __future__ import annotations

from core.model import MembershipStatus
from core.notify import OrderedNotifier
from core.ports import Delivery
from tests.unit.test_engine import World, stale


def _events(w: World, action: str) -> list:
    return [e.entry for e in w.store.iter_audit() if e.entry.action == action]


async def test_the_person_is_told_after_the_action_and_the_notice_is_audited():
    w = World([stale("a1")])
    await w.run()
    assert w.notifier.actioned_notices == []  # a warning is not an action
    await w.run(days=14)
    assert w.account("a1").membership_status is MembershipStatus.SUSPENDED
    assert w.notifier.actioned_notices == [("a1", "org")]
    (notice,) = _events(w, "notice.actioned")
    assert notice.outcome == "ok"
    assert notice.after["attempts"] == [{"channel": "slack", "delivered": True, "detail": ""}]
    await w.run(days=1)
    assert w.notifier.actioned_notices == [("a1", "org")]  # once per action, not per run


async def test_an_undelivered_notice_does_not_undo_the_action():
    w = World([stale("a1")])
    await w.run()
    w.notifier.undeliverable.add("a1")
    await w.run(days=14)
    assert w.account("a1").membership_status is MembershipStatus.SUSPENDED
    (notice,) = _events(w, "notice.actioned")
    assert notice.outcome == "failed"


class Channel:
    def __init__(self, name: str, ok: bool) -> None:
        self.name, self.ok = name, ok

    async def warn(self, account, case, rule) -> Delivery:
        return Delivery(self.ok, self.name, "sent" if self.ok else "not_found")

    async def actioned(self, account, case) -> Delivery:
        return Delivery(self.ok, self.name)

    async def escalate(self, *args) -> None:
        return None

    async def request_approval(self, *args) -> None:
        return None

    async def notify_admins(self, *args) -> None:
        return None


async def test_every_warning_attempt_is_in_the_audit_trail_in_order():
    w = World([stale("a1")])
    w.engine.notifier = OrderedNotifier(
        {"slack": Channel("slack", False), "teams": Channel("teams", False), "email": Channel("email", True)},
        lambda: ("slack", "teams", "email"),
    )
    await w.run()
    delivered = _events(w, "warn.delivered")
    assert delivered
    assert [a["channel"] for a in delivered[0].after["attempts"]] == ["slack", "teams", "email"]
    assert [a["delivered"] for a in delivered[0].after["attempts"]] == [False, False, True]
    assert delivered[0].after["channel"] == "email"
