"""OrderedNotifier: policy order, first delivery wins, every attempt kept, admins hear on every channel."""

from __future__ import annotations

import pytest

from core.notify import OrderedNotifier
from core.ports import Delivery
from tests.fakes import make_account


class Channel:
    def __init__(self, name: str, ok: bool = True, *, broken: bool = False) -> None:
        self.name, self.ok, self.broken = name, ok, broken
        self.warned = 0
        self.admin: list[str] = []

    async def warn(self, account, case, rule) -> Delivery:
        self.warned += 1
        if self.broken:
            raise RuntimeError("boom")
        return Delivery(self.ok, self.name, "ok" if self.ok else "not_found")

    async def actioned(self, account, case) -> Delivery:
        return await self.warn(account, case, None)

    async def escalate(self, org_id, account, case, reason) -> None:
        self.admin.append(reason)

    async def request_approval(self, run, summary) -> None:
        if self.broken:
            raise RuntimeError("boom")
        self.admin.append(summary)

    async def notify_admins(self, org_id, text) -> None:
        self.admin.append(text)


async def test_the_order_is_read_each_time_and_the_first_delivery_wins():
    slack, teams, email = Channel("slack", False), Channel("teams"), Channel("email")
    order = ["slack", "teams", "email"]
    notifier = OrderedNotifier({"slack": slack, "teams": teams, "email": email}, lambda: order)
    first = await notifier.warn(make_account("a1"), None, None)
    assert (first.delivered, first.channel) == (True, "teams")
    assert [a[0] for a in first.attempts] == ["slack", "teams"]
    assert email.warned == 0
    order[:] = ["email", "slack"]  # a policy reload
    second = await notifier.warn(make_account("a1"), None, None)
    assert second.channel == "email"
    assert teams.warned == 1


async def test_a_raising_channel_is_a_failed_attempt_and_the_next_is_tried():
    notifier = OrderedNotifier(
        {"slack": Channel("slack", broken=True), "email": Channel("email", False)}, lambda: ["slack", "email"]
    )
    failed = await notifier.actioned(make_account("a1"), None)
    assert not failed.delivered
    assert failed.attempts == (("slack", False, "error: RuntimeError"), ("email", False, "not_found"))
    assert "slack: error: RuntimeError" in failed.detail


async def test_admin_messages_reach_every_channel_even_outside_the_order_and_despite_failures():
    slack, teams, email = Channel("slack", broken=True), Channel("teams"), Channel("email")
    notifier = OrderedNotifier({"slack": slack, "teams": teams, "email": email}, lambda: ["email"])
    await notifier.request_approval(None, "3 held")
    await notifier.notify_admins("org-1", "paused")
    assert teams.admin == ["3 held", "paused"]
    assert email.admin == ["3 held", "paused"]
    assert slack.admin == ["paused"]


def test_at_least_one_channel():
    with pytest.raises(ValueError, match="at least one"):
        OrderedNotifier({}, lambda: [])
