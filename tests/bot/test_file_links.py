"""Signed, expiring report links: only the file a link names, only until it expires, only from our folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.file_links import ROUTE, FileLinks
from core.clock import FixedClock
from tests.fakes import NOW


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[FileLinks, FixedClock, httpx.AsyncClient]]:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "jira-cleanup-run-org-1-abc-outcome.csv").write_text("account_id,state\na1,confirmed\n")
    (tmp_path / "secret.csv").write_text("not for you\n")
    clock = FixedClock(NOW)
    app = web.Application()
    made: list[FileLinks] = []  # the links need the port, which is known once the server listens

    async def download(request: web.Request) -> web.StreamResponse:
        return await made[0].download(request)

    app.router.add_get(ROUTE, download)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    links = FileLinks(b"k" * 32, folder, f"http://127.0.0.1:{runner.addresses[0][1]}", clock.now)
    made.append(links)
    async with httpx.AsyncClient() as client:
        yield links, clock, client
    await runner.cleanup()


async def test_a_link_downloads_its_file_until_it_expires(served, tmp_path) -> None:
    links, clock, client = served
    url = links.link(tmp_path / "reports" / "jira-cleanup-run-org-1-abc-outcome.csv")
    assert url is not None
    got = await client.get(url)
    assert got.status_code == 200
    assert got.text == "account_id,state\na1,confirmed\n"
    assert got.headers["Cache-Control"] == "no-store"
    assert 'filename="jira-cleanup-run-org-1-abc-outcome.csv"' in got.headers["Content-Disposition"]
    clock.advance(timedelta(days=7, seconds=1))
    assert (await client.get(url)).status_code == 410


async def test_forged_tampered_and_foreign_links_are_refused(served, tmp_path) -> None:
    links, _clock, client = served
    assert links.link(tmp_path / "secret.csv") is None, "outside the report folder"
    assert links.link(tmp_path / "reports" / "notes.txt") is None, "not a CSV"
    url = links.link(tmp_path / "reports" / "jira-cleanup-run-org-1-abc-outcome.csv")
    assert url is not None
    body, _, signature = url.rpartition(".")
    assert (await client.get(f"{body}.{'0' * len(signature)}")).status_code == 403
    other = FileLinks(b"x" * 32, links.folder, links.base_url, links.now)
    forged = other.link(tmp_path / "reports" / "jira-cleanup-run-org-1-abc-outcome.csv")
    assert forged is not None
    assert (await client.get(forged)).status_code == 403, "signed with another secret"
    assert (await client.get(f"{links.base_url}/files/not-a-token")).status_code == 403
    (tmp_path / "reports" / "jira-cleanup-run-org-1-abc-outcome.csv").unlink()
    assert (await client.get(url)).status_code == 404
