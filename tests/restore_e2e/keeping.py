"""Helpers of the keep tests over loopback: press an emailed link as a browser would, read what people were told."""

from __future__ import annotations

import re

from core.lifecycle import CaseState
from tests.restore_e2e.conftest import ADMIN_CHANNEL, links_in, text_of

STRICT = {"approval_after": 1}


def warned_by_email(world):
    for case in world.cases("warned"):
        if world.inbox.to(world.email_of(case.account_id)):
            return case
    raise AssertionError("no warning went by email")


async def press(world, link: str):
    """Open the link (the confirm page changes nothing), then send its form as the browser would."""
    page = await world.http.get(link)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert csrf is not None, page.text
    return await world.http.post(link, data={"csrf": csrf.group(1)})


def newest_link(world, account_id: str) -> str:
    """The "Keep my access" link of the newest warning mail the account's owner received."""
    warnings = [m for m in world.inbox.to(world.email_of(account_id)) if "Action needed" in m["Subject"]]
    (link,) = links_in(warnings[-1])
    return link


def current_case(world, account_id: str):
    return world.db.lifecycle.find_cases(world.sandbox.org_id, account_id)[0]


def keep_asks(world) -> list[dict]:
    """The "Keep needs approval" parents in the admin channel (their text changes to the outcome once decided)."""
    return [
        m
        for m in world.slack.messages(ADMIN_CHANNEL)
        if m.get("thread_ts", m["ts"]) == m["ts"]
        and any(b.get("text", {}).get("text") == "Keep needs approval" for b in m.get("blocks", []))
    ]


def thread_of(world, parent: dict) -> list[str]:
    return [
        m["text"]
        for m in world.slack.messages(ADMIN_CHANNEL)
        if m.get("thread_ts") == parent["ts"] and m["ts"] != parent["ts"]
    ]


def told(world, account_id: str) -> list[str]:
    """What the owner was told by email outside warnings (subject "Your Atlassian access")."""
    mails = world.inbox.to(world.email_of(account_id))
    return [text_of(m) for m in mails if m["Subject"] == "Your Atlassian access"]


def heading(response) -> str:
    match = re.search(r"<h1>(.*?)</h1>", response.text)
    assert match is not None, response.text
    return match.group(1)


async def kept_once_then_warned_again(world) -> str:
    """An account warned by email keeps with the mail's link; the keep runs out and it is warned again."""
    await world.run()
    first = warned_by_email(world)
    kept = await press(world, newest_link(world, first.account_id))
    assert heading(kept) == "You keep your access", kept.text
    await world.run(days=91)  # the 90-day keep ran out and the account is still inactive
    again = current_case(world, first.account_id)
    assert again.state is CaseState.WARNED
    assert again.case_id != first.case_id
    return first.account_id
