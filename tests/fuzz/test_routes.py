"""Hostile input on every public route of the real server: never a 5xx, never a write.

Property-based (hypothesis): random bytes, random and deeply nested JSON, Slack-shaped payloads,
junk forms and multipart, with and without valid signatures, random Authorization headers and
JWTs, random email-link tokens and cookies. Every request must be answered below 500, and the
sandbox must see no mutating request. ``tests/bench/bench_fuzz.py`` runs the same properties
10⁵ times.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.policy_file import load_policy_text
from core.errors import CleanupError
from tests.fuzz.strategies import (
    CONTENT_TYPES,
    activities,
    authorizations,
    bodies,
    forms,
    json_values,
    tokens,
)
from tests.fuzz.world import Target

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "600"))  # per route; tests/bench/bench_fuzz.py raises it
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)

pytestmark = pytest.mark.slow


def _header(value: str) -> str:
    """What an HTTP client can send at all: printable ASCII, no surrounding blanks."""
    return "".join(c for c in value if " " <= c <= "~").strip()


def _ok(server: Target, response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text


@FUZZ
@given(body=bodies, content_type=CONTENT_TYPES, signed=st.booleans())
def test_slack_events(server: Target, body: bytes, content_type: str, signed: bool) -> None:
    headers = server.slack_headers(body, content_type) if signed else {"Content-Type": content_type}
    if not signed and body[:1] == b"x":
        headers |= {"X-Slack-Request-Timestamp": "123", "X-Slack-Signature": "v0=00"}
    _ok(server, server.http.post("/slack/events", content=body, headers=headers))
    assert server.writes() == 0


@FUZZ
@given(body=st.one_of(activities, bodies), content_type=CONTENT_TYPES, auth=authorizations)
def test_teams_messages(server: Target, body: bytes, content_type: str, auth: str | None) -> None:
    headers = {"Content-Type": content_type}
    if auth is not None:
        headers["Authorization"] = _header(auth)
    _ok(server, server.http.post("/api/messages", content=body, headers=headers))
    assert server.writes() == 0


@FUZZ
@given(body=bodies, content_type=CONTENT_TYPES, signed=st.booleans(), junk_signature=st.text(max_size=20))
def test_jsm_webhook(server: Target, body: bytes, content_type: str, signed: bool, junk_signature: str) -> None:
    signature = server.jsm_signature(body) if signed else _header(junk_signature)
    headers = {"Content-Type": content_type, "X-Hub-Signature": signature}
    _ok(server, server.http.post("/jsm/webhook", content=body, headers=headers))
    assert server.writes() == 0


@FUZZ
@given(
    token=tokens,
    body=st.one_of(forms, bodies),
    content_type=CONTENT_TYPES,
    cookie=st.text(max_size=40),
    origin=st.sampled_from([None, "null", "http://evil.example"]),
)
def test_email_pages(server: Target, token: str, body: bytes, content_type: str, cookie: str, origin) -> None:
    path = "/email/t/" + quote(token, safe="")
    safe_cookie = _header(cookie.replace(";", "").replace('"', "").replace(",", "").replace("\\", ""))
    headers = {"Cookie": f"jc_csrf={safe_cookie}"} if safe_cookie else {}
    server.http.cookies.clear()
    _ok(server, server.http.get(path, headers=headers))
    headers["Content-Type"] = content_type
    if origin is not None:
        headers["Origin"] = origin
    _ok(server, server.http.post(path, content=body, headers=headers))
    assert server.writes() == 0


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(data=st.one_of(json_values, st.text(max_size=400)))
def test_the_policy_loader_only_ever_raises_a_policy_error(data) -> None:
    """Any YAML document (or any text) is a policy or a PolicyError naming the problem."""
    text = data if isinstance(data, str) else yaml.safe_dump(data)
    problem = ""
    try:
        load_policy_text(text, "fuzz.yml")
    except CleanupError as exc:
        problem = str(exc)
    assert not problem or "fuzz.yml" in problem
