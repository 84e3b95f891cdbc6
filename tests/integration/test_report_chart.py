"""The report chart through the composition root: drawn on ``report``, attached where the admins are.

Slack gets the PNG uploaded into the admin post's thread; Teams gets it as an image behind a signed
link that ``serve`` hands out; the file sits in the report folder beside the run CSVs.
"""

from __future__ import annotations

import json
from datetime import timedelta

from bot import teams_render
from bot.compose import open_bot
from bot.serving import _post_chart
from core.chat import Actor
from core.clock import FixedClock
from tests.fakes import NOW, FakeDirectory
from tests.integration.test_admin_threads import (
    ACCOUNTS,
    SLACK_ADMINS,
    TEAMS_ADMINS,
    admin_channel_seen_by_the_bot,
    fakes,
    fetch,
    reports,
    settings,
)
from tests.slack.conftest import policy
from tests.teams.conftest import ADMIN_AAD, TENANT, card_of

__all__ = ["fakes"]  # the fixture, used by name

PNG = b"\x89PNG\r\n\x1a\n"


async def test_report_draws_the_chart_and_a_scheduled_run_posts_it_to_both_admin_channels(tmp_path, fakes) -> None:
    slack, connector = fakes
    s = settings(tmp_path, slack)
    admin_channel_seen_by_the_bot(s.database_url, connector)
    pol = policy(lifecycle=reports(tmp_path))
    clock = FixedClock(NOW)
    async with open_bot(s, pol, directory=FakeDirectory(list(ACCOUNTS)), clock=clock, acts=True) as bot:
        engine = bot.require_engine()
        await engine.run(pol, requested_by="system:scheduler")
        clock.advance(timedelta(days=15))
        report = await engine.run(pol, requested_by="system:scheduler")  # three accounts lose Jira

        answers = []

        async def respond(reply) -> None:
            answers.append(reply)

        reply = await bot.chatops.command(Actor("teams", TENANT, ADMIN_AAD, "Ada Admin"), "report", respond)
        assert reply.title == "License savings"
        assert reply.file is not None
        assert reply.file.parent == tmp_path / "reports"
        assert reply.file.read_bytes().startswith(PNG)

        await _post_chart(bot, report)  # what serve does after a scheduled run
        [post] = [m for m in slack.messages(SLACK_ADMINS) if "After the scheduled run" in m["text"]]
        [upload] = slack.files()
        assert upload["thread_ts"] == post["ts"]
        assert upload["name"].endswith("-chart.png")
        assert upload["content"].startswith(PNG)
        [teams_post] = [a for a in connector.activities(TEAMS_ADMINS) if "After the scheduled run" in json.dumps(a)]
        [image] = [b for b in card_of(teams_post)["body"] if b["type"] == "Image"]
        assert image["url"].startswith("https://jira-cleanup.acme.example/files/")
        assert (await fetch(bot, image["url"])).startswith(PNG)
        _text, card = teams_render.reply_card(reply, bot.surfaces.teams.file_link if bot.surfaces.teams else None)
        assert json.dumps(card).count("Open the chart") == 1
