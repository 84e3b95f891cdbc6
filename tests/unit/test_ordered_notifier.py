"""OrderedNotifier: person-facing messages follow the order and stop at the first delivery; admins hear everywhere."""

from __future__ import annotations

from typing import Any

import pytest

from core.notify import OrderedNotifier
from core.ports import Delivery
from tests.fakes import make_account

ACCOUNT = make_account("a1")


class Channel:
    """A notifier that delivers, refuses or raises, and writes every call into a shared ``log``."""

    def __init__(self, name: str, log: list[tuple[str, str]], *, delivers: bool = True, raises: bool = False) -> None:
        self.name, self.log, self.delivers, self.raises = name, log, delivers, raises

    def _person(self, what: str) -> Delivery:
        self.log.append((self.name, what))
        if self.raises:
            raise RuntimeError(f"{self.name} is down")
        return Delivery(self.delivers, self.name, "sent" if self.delivers else f"{self.name}_refused")

    async def warn(self, account: Any, case: Any, rule: Any) -> Delivery:
        return self._person("warn")

    async def actioned(self, account: Any, case: Any) -> Delivery:
        return self._person("actioned")

    def _admin(self, what: str) -> None:
        self.log.append((self.name, what))
        if self.raises:
            raise RuntimeError(f"{self.name} is down")

    async def escalate(self, org_id: str, account: Any, case: Any, reason: str) -> None:
        self._admin(f"escalate:{reason}")

    async def request_approval(self, run: Any, summary: str) -> None:
        self._admin(f"approval:{summary}")

    async def notify_admins(self, org_id: str, text: str) -> None:
        self._admin(f"notice:{text}")


def three(log: list[tuple[str, str]], **overrides: dict[str, bool]) -> dict[str, Channel]:
    return {name: Channel(name, log, **overrides.get(name, {})) for name in ("slack", "teams", "email")}


async def test_the_order_is_respected_not_the_mapping_order() -> None:
    log: list[tuple[str, str]] = []
    channels = three(log, email={"delivers": False}, teams={"delivers": False})
    notifier = OrderedNotifier(channels, lambda: ["email", "teams", "slack"])
    delivery = await notifier.warn(ACCOUNT, None, None)
    assert [name for name, _ in log] == ["email", "teams", "slack"]
    assert (delivery.delivered, delivery.channel, delivery.detail) == (True, "slack", "sent")


async def test_it_stops_at_the_first_delivery_and_records_the_attempts_in_order() -> None:
    log: list[tuple[str, str]] = []
    notifier = OrderedNotifier(three(log, slack={"delivers": False}), lambda: ["slack", "teams", "email"])
    delivery = await notifier.actioned(ACCOUNT, None)
    assert log == [("slack", "actioned"), ("teams", "actioned")]  # email never asked
    assert (delivery.delivered, delivery.channel) == (True, "teams")
    assert delivery.attempts == (("slack", False, "slack_refused"), ("teams", True, "sent"))
    assert delivery.tried() == delivery.attempts


async def test_a_raising_channel_is_a_failed_attempt_and_the_next_one_is_tried() -> None:
    log: list[tuple[str, str]] = []
    notifier = OrderedNotifier(three(log, teams={"raises": True}), lambda: ["teams", "email", "slack"])
    delivery = await notifier.warn(ACCOUNT, None, None)
    assert [name for name, _ in log] == ["teams", "email"]
    assert (delivery.delivered, delivery.channel) == (True, "email")
    assert delivery.attempts == (("teams", False, "error: RuntimeError"), ("email", True, "sent"))


async def test_nothing_delivered_keeps_every_attempt_and_says_why_per_channel() -> None:
    log: list[tuple[str, str]] = []
    channels = three(log, slack={"delivers": False}, teams={"raises": True}, email={"delivers": False})
    notifier = OrderedNotifier(channels, lambda: ["slack", "teams", "email"])
    delivery = await notifier.actioned(ACCOUNT, None)
    assert not delivery.delivered
    assert delivery.attempts == (
        ("slack", False, "slack_refused"),
        ("teams", False, "error: RuntimeError"),
        ("email", False, "email_refused"),
    )
    for part in ("slack: slack_refused", "teams: error: RuntimeError", "email: email_refused"):
        assert part in delivery.detail


async def test_a_channel_that_already_tried_several_ways_keeps_its_own_attempts() -> None:
    class Nested(Channel):
        async def warn(self, account: Any, case: Any, rule: Any) -> Delivery:
            self.log.append((self.name, "warn"))
            inner = (("slack", False, "users_not_found"), ("teams", False, "not_installed"))
            return Delivery(False, "slack+teams", "inner", inner)

    log: list[tuple[str, str]] = []
    notifier = OrderedNotifier({"chat": Nested("chat", log), "email": Channel("email", log)}, lambda: ["chat", "email"])
    delivery = await notifier.warn(ACCOUNT, None, None)
    assert delivery.attempts == (
        ("slack", False, "users_not_found"),
        ("teams", False, "not_installed"),
        ("email", True, "sent"),
    )


async def test_the_order_is_read_on_every_message_and_unconfigured_names_are_skipped() -> None:
    log: list[tuple[str, str]] = []
    order = ["jsm", "teams", "slack"]
    notifier = OrderedNotifier({"slack": Channel("slack", log), "teams": Channel("teams", log)}, lambda: order)
    assert (await notifier.warn(ACCOUNT, None, None)).channel == "teams"
    order[:] = ["slack"]  # a policy reload
    assert (await notifier.warn(ACCOUNT, None, None)).channel == "slack"
    assert [name for name, _ in log] == ["teams", "slack"]


async def test_admin_messages_go_to_every_channel_even_those_not_in_the_order() -> None:
    log: list[tuple[str, str]] = []
    notifier = OrderedNotifier(three(log), lambda: ["email"])
    await notifier.escalate("org-1", ACCOUNT, None, "undeliverable")
    await notifier.request_approval(None, "3 held")
    await notifier.notify_admins("org-1", "paused")
    expected = ["escalate:undeliverable", "approval:3 held", "notice:paused"]
    for name in ("slack", "teams", "email"):
        assert [what for who, what in log if who == name] == expected


@pytest.mark.parametrize("broken", ["slack", "teams", "email"])
async def test_a_failing_admin_channel_does_not_stop_the_others(broken: str) -> None:
    log: list[tuple[str, str]] = []
    notifier = OrderedNotifier(three(log, **{broken: {"raises": True}}), lambda: ["slack", "teams", "email"])
    await notifier.notify_admins("org-1", "paused")
    await notifier.escalate("org-1", None, None, "why")
    await notifier.request_approval(None, "held")
    for what in ("notice:paused", "escalate:why", "approval:held"):
        assert sorted(name for name, w in log if w == what) == ["email", "slack", "teams"]


def test_it_needs_at_least_one_channel() -> None:
    with pytest.raises(ValueError, match="at least one"):
        OrderedNotifier({}, lambda: ["slack"])
