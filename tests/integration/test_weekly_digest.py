"""The weekly digest job of ``serve``: built from the database and posted to every admin channel.

The bot is built by the composition root over a SQLite file, the fake Slack Web API and the fake
Bot Connector on loopback; the job is the one ``serve`` schedules (``Service.digest``).
"""

from __future__ import annotations

import json
from datetime import timedelta

from bot.compose import open_bot
from bot.service import Service
from core.clock import FixedClock
from tests.fakes import NOW, FakeDirectory
from tests.integration.test_admin_threads import (
    ACCOUNTS,
    SLACK_ADMINS,
    TEAMS_ADMINS,
    admin_channel_seen_by_the_bot,
    fakes,
    reports,
    settings,
)
from tests.slack.conftest import policy
from tests.teams.conftest import card_of

__all__ = ["fakes"]  # the fixture, used by name


async def test_the_digest_job_posts_the_week_to_slack_and_teams(tmp_path, fakes) -> None:
    slack, connector = fakes
    s = settings(tmp_path, slack)
    admin_channel_seen_by_the_bot(s.database_url, connector)
    pol = policy(lifecycle={**reports(tmp_path), "digest": "0 8 * * 1"})
    assert pol.lifecycle.digest_cron == "0 8 * * 1"
    clock = FixedClock(NOW - timedelta(days=3))
    async with open_bot(s, pol, directory=FakeDirectory(list(ACCOUNTS)), clock=clock, acts=True) as bot:
        engine = bot.require_engine()
        report = await engine.run(pol, requested_by="system:scheduler")  # three warnings, three days ago
        assert report.counts["warnings_delivered"] == 3
        service = Service(engine, pol, bot.org_id, bot.db)
        digest = await service.digest(bot.chatops.post_to_admins)

    assert digest is not None
    assert (digest.runs, digest.warned, digest.kept) == (1, 3, 0)
    assert digest.due_next_week == 0  # their deadlines are 11 days away, after the coming week
    [slack_post] = [m for m in slack.messages(SLACK_ADMINS) if "Weekly digest" in json.dumps(m)]
    assert "3 delivered, 0 not delivered" in json.dumps(slack_post["blocks"])
    assert "0 deadlines, 0 deletions" in json.dumps(slack_post["blocks"])
    [teams_post] = [a for a in connector.activities(TEAMS_ADMINS) if "Weekly digest" in json.dumps(card_of(a))]
    assert "3 delivered, 0 not delivered" in json.dumps(card_of(teams_post))
