"""Fixture for the Slack fake: one running server per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from .server import FakeSlack


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def slack_client(fake_slack: FakeSlack) -> AsyncWebClient:
    """The real async client, pointed at the fake; it opens and closes a session per call."""
    return AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
