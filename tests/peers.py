"""Loopback peers for tests that run the bot as a real process: an SMTP inbox and the fake Slack.

Both run inside the test process on threads of their own, so a ``subprocess.run`` of
``jira-cleanup run`` can talk to them while the test waits: aiosmtpd's controller has its
own thread, and :class:`ThreadedSlack` serves :class:`~tests.slackfake.FakeSlack` on an event
loop in a background thread. Ports are picked by the OS.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any, TypeVar

from aiosmtpd.controller import Controller

from tests.slackfake import FakeSlack

T = TypeVar("T")


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on loopback collecting mail: (inbox, port)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, int(controller.port)
    finally:
        controller.stop()


class ThreadedSlack:
    """The fake Slack Web API served from a background thread's event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-slack", daemon=True)
        self.fake = FakeSlack()

    def start(self) -> None:
        self.thread.start()
        self.call(self.fake.start)

    def stop(self) -> None:
        self.call(self.fake.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (a coroutine function or a plain one) on the fake's loop and return its result."""

        async def run() -> Any:
            result = fn()
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=180)


@contextmanager
def threaded_slack() -> Iterator[ThreadedSlack]:
    """The fake Slack, running for the length of the block."""
    slack = ThreadedSlack()
    slack.start()
    try:
        yield slack
    finally:
        slack.stop()


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a received mail."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())
