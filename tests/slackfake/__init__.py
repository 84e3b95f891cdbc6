"""Loopback fake of the Slack Web API plus helpers to build signed Slack requests."""

from .server import BOT_ID, BOT_USER_ID, Call, FakeSlack, SlackFakeError

__all__ = ["BOT_ID", "BOT_USER_ID", "Call", "FakeSlack", "SlackFakeError"]
