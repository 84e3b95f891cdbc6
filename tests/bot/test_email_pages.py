"""The email-link pages over HTTP: GET confirms and consumes nothing; one POST from the page acts."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from bot.email_pages import CSRF_COOKIE, EmailPages
from bot.ratelimit import RateLimiter, parse_proxies
from bot.server import build_app, serve
from core.chat import Actor, hash_token
from core.lifecycle import CaseState
from core.model import MembershipStatus
from core.restore_model import RequestState
from tests.unit.test_chatops import ADMIN, USER, Harness
from tests.unit.test_engine import policy, stale

UNA = Actor("email", "", "una@acme.example", "Una")


async def _health() -> dict[str, object]:
    return {}


@pytest.fixture
async def site():
    h = Harness([stale("a1", email="una@acme.example"), stale("a2", email="bo@acme.example")])
    await h.engine.run(h.policy, requested_by="cli:alice")
    posted = []

    async def poster(reply):
        posted.append(reply)
        return True

    h.ops.admin_posters.append(poster)
    h.posted = posted
    limiter = RateLimiter(h.clock, 8)
    app = build_app(health=_health)
    EmailPages(h.ops, b"k" * 32, limiter, "").mount(app)
    runner, url = await serve(app, "127.0.0.1", 0)
    async with httpx.AsyncClient(base_url=url) as client:
        h.http = client
        h.limiter = limiter
        yield h
    await runner.cleanup()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, html
    return match.group(1)


def _keep_link(h: Harness) -> str:
    return h.ops.buttons.email_keep(h.case("a1", "jira").case_id, "a1", UNA).token


async def test_get_shows_a_confirm_page_and_changes_nothing(site):
    raw = _keep_link(site)
    for _ in range(3):  # a mail scanner opening the link, then the person
        page = await site.http.get(f"/email/t/{raw}")
        assert page.status_code == 200
        assert "Keep your Jira access?" in page.text
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "same-origin"
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert site.case("a1", "jira").keep_until is None
    assert site.tokens.get_token(hash_token(raw)).used_at is None


async def test_post_from_the_page_keeps_once_and_a_second_use_is_refused(site):
    raw = _keep_link(site)
    page = await site.http.get(f"/email/t/{raw}")
    kept = await site.http.post(f"/email/t/{raw}", data={"csrf": _csrf(page.text)})
    assert kept.status_code == 200, kept.text
    assert "your access is kept until" in kept.text
    assert site.case("a1", "jira").keep_until is not None
    again = await site.http.post(f"/email/t/{raw}", data={"csrf": _csrf(page.text)})
    assert again.status_code == 409
    assert "already used" in again.text
    assert (await site.http.get(f"/email/t/{raw}")).status_code == 409


async def test_post_without_the_pages_csrf_field_or_cookie_is_refused(site):
    raw = _keep_link(site)
    page = await site.http.get(f"/email/t/{raw}")
    forged = await site.http.post(f"/email/t/{raw}", data={"csrf": "0" * 64})
    assert forged.status_code == 403
    site.http.cookies.clear()
    no_cookie = await site.http.post(f"/email/t/{raw}", data={"csrf": _csrf(page.text)})
    assert no_cookie.status_code == 403
    other_site = await site.http.post(
        f"/email/t/{raw}", data={"csrf": _csrf(page.text)}, headers={"Origin": "https://evil.example"}
    )
    assert other_site.status_code == 403
    assert site.case("a1", "jira").keep_until is None


async def test_unknown_expired_and_chat_tokens_get_clear_pages(site):
    missing = await site.http.get("/email/t/not-a-real-token")
    assert missing.status_code == 404
    assert "not valid" in missing.text
    slack_keep, _ = await site.ops.warning_buttons(site.directory.accounts["a1"], site.case("a1").case_id, USER)
    assert (await site.http.get(f"/email/t/{slack_keep.token}")).status_code == 404  # chat buttons are not links
    raw = _keep_link(site)
    site.clock.advance(timedelta(days=46))
    expired = await site.http.get(f"/email/t/{raw}")
    assert expired.status_code == 410
    assert "expired" in expired.text
    assert "Traceback" not in expired.text


async def test_request_access_back_goes_to_the_admins_and_is_single_use(site):
    site.clock.advance(timedelta(days=14))
    await site.engine.run(site.policy, requested_by="cli:alice")
    assert site.case("a1").state in (CaseState.ACTIONED, CaseState.DELETION_SCHEDULED)
    raw = site.ops.buttons.restore_link("a1", UNA).token
    page = await site.http.get(f"/email/t/{raw}")
    assert "Ask for your access back?" in page.text
    sent = await site.http.post(f"/email/t/{raw}", data={"csrf": _csrf(page.text)})
    assert sent.status_code == 200
    assert "sent to the admins" in sent.text
    assert len(site.posted) == 1
    assert site.posted[0].buttons
    (request,) = site.restores.requests.values()
    assert (request.source, request.reply_to, request.state) == ("email", "una@acme.example", RequestState.PENDING)
    again = await site.http.post(f"/email/t/{raw}", data={"csrf": _csrf(page.text)})
    assert again.status_code == 409
    assert len(site.posted) == 1
    approve, _ = site.posted[0].buttons
    clicked = await site.ops.click(ADMIN, approve.token, site.respond)
    assert clicked.ok, clicked.text
    assert site.directory.accounts["a1"].membership_status is MembershipStatus.ACTIVE


async def test_a_required_justification_is_asked_for_and_the_link_still_works(site):
    site.policy = policy(lifecycle={"keep": {"justification_required": True}})
    raw = _keep_link(site)
    page = await site.http.get(f"/email/t/{raw}")
    assert 'name="justification"' in page.text
    empty = await site.http.post(f"/email/t/{raw}", data={"csrf": _csrf(page.text)})
    assert empty.status_code == 400
    kept = await site.http.post(f"/email/t/{raw}", data={"csrf": _csrf(page.text), "justification": "audits"})
    assert kept.status_code == 200
    assert site.case("a1", "jira").keep_reason == "audits"


async def test_pages_are_rate_limited_per_address(site):
    raw = _keep_link(site)
    codes = [(await site.http.get(f"/email/t/{raw}")).status_code for _ in range(9)]
    assert codes[:8] == [200] * 8
    assert codes[8] == 429
    site.clock.advance(timedelta(minutes=1, seconds=1))
    assert (await site.http.get(f"/email/t/{raw}")).status_code == 200


def test_the_csrf_cookie_is_strict_and_http_only():
    assert CSRF_COOKIE == "jc_csrf"


async def test_when_no_admin_surface_takes_the_request_the_person_is_told_the_truth(site):
    site.clock.advance(timedelta(days=14))
    await site.engine.run(site.policy, requested_by="cli:alice")
    site.ops.admin_posters.clear()
    raw = site.ops.buttons.restore_link("a1", UNA).token
    page = await site.http.get(f"/email/t/{raw}")
    sent = await site.http.post(f"/email/t/{raw}", data={"csrf": _csrf(page.text)})
    assert "could not be reached" in sent.text
    assert "sent to the admins" not in sent.text


async def test_behind_a_trusted_proxy_the_limit_is_per_forwarded_address(site):
    site.limiter.proxies = parse_proxies("127.0.0.0/8")
    raw = _keep_link(site)
    for _ in range(8):
        assert (await site.http.get(f"/email/t/{raw}", headers={"X-Forwarded-For": "10.0.0.1"})).status_code == 200
    # A client writing its own first entry changes nothing: the proxy's appended entry is the client.
    spoofed = await site.http.get(f"/email/t/{raw}", headers={"X-Forwarded-For": "1.2.3.4, 10.0.0.1"})
    assert spoofed.status_code == 429
    other = await site.http.get(f"/email/t/{raw}", headers={"X-Forwarded-For": "10.0.0.2"})
    assert other.status_code == 200


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(site):
    site.limiter.proxies = parse_proxies("192.0.2.10")
    raw = _keep_link(site)
    for n in range(8):
        assert (await site.http.get(f"/email/t/{raw}", headers={"X-Forwarded-For": f"10.0.0.{n}"})).status_code == 200
    assert (await site.http.get(f"/email/t/{raw}", headers={"X-Forwarded-For": "10.9.9.9"})).status_code == 429
