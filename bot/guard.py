"""The server's input guard: bad input is a 4xx before any handler runs; a real bug is a bare 500.

Every public ``POST`` route names the content types it takes. Before its handler runs, the body
is checked in this order, each failure answered with a short JSON error and nothing else done:

1. a per-address limit (routes that ask for one: Slack, Teams), before the body is read — 429;
2. the content type, and a charset other than UTF-8 — 415;
3. the size (declared or actual, :data:`MAX_BODY`) — 413;
4. UTF-8 — 400;
5. JSON nesting (the body, and JSON inside form fields such as Slack's ``payload``) deeper than
   :data:`MAX_DEPTH` — 400, so no parser recurses without bound.

Any other exception escaping a handler is logged with its traceback and answered
``500 {"error": "internal_error"}``: never a traceback or a message in the response.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.typedefs import Middleware

from bot.ratelimit import RateLimiter

log = logging.getLogger("jira_cleanup.guard")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The largest body a public route reads (Slack interactions carry the clicked message: tens of KB).
MAX_BODY = 512 * 1024
#: Deeper JSON than any platform sends (Slack, Bot Framework and JSM stay under 15).
MAX_DEPTH = 40

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Rule:
    """What one public POST route accepts."""

    prefix: str
    types: frozenset[str]
    limit_key: str | None = None  # per-address limit before reading the body


RULES: tuple[Rule, ...] = (
    Rule("/slack/events", frozenset({FORM, JSON}), "slack"),
    Rule("/api/messages", frozenset({JSON}), "teams"),
    Rule("/jsm/webhook", frozenset({JSON})),
    Rule("/email/t/", frozenset({FORM})),
)


def _error(status: int, error: str, **extra: object) -> web.Response:
    return web.json_response({"error": error, **extra}, status=status)


def json_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in ``text`` outside JSON strings (no parsing, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


_ORG_PREFIX = re.compile(r"^/o/[a-z0-9][a-z0-9-]*(?=/)")


def _rule_for(path: str) -> Rule | None:
    path = _ORG_PREFIX.sub("", path, count=1)  # an org's endpoints in a many-org deployment: /o/<name>/...
    return next((r for r in RULES if path == r.prefix or (r.prefix.endswith("/") and path.startswith(r.prefix))), None)


def _check_text(rule_type: str, text: str) -> web.Response | None:
    """Nesting of the JSON body, or of JSON-looking form fields."""
    if rule_type == JSON:
        if json_depth(text) > MAX_DEPTH:
            return _error(400, "too_deep", limit=MAX_DEPTH)
        return None
    try:
        fields = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return _error(400, "invalid_form")
    for _name, value in fields:
        if value[:1] in ("{", "[") and json_depth(value) > MAX_DEPTH:
            return _error(400, "too_deep", limit=MAX_DEPTH)
    return None


def input_guard(limiter: RateLimiter | None = None) -> Middleware:
    """The middleware (see the module docstring); ``limiter`` serves the routes with a ``limit_key``."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        rule = _rule_for(request.path) if request.method == "POST" else None
        if rule is not None:
            refused = await _screen(request, rule, limiter)
            if refused is not None:
                return refused
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return _error(500, "internal_error")

    return guard


async def _screen(request: web.Request, rule: Rule, limiter: RateLimiter | None) -> web.Response | None:
    if rule.limit_key is not None and limiter is not None:
        wait = limiter.hit_request(rule.limit_key, request)
        if wait is not None:
            response = _error(429, "rate_limited")
            response.headers["Retry-After"] = str(max(1, int(wait)))
            return response
    kind = request.content_type
    if kind not in rule.types or (request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
        return _error(415, "unsupported_media_type", expected=sorted(rule.types), charset="utf-8")
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _error(413, "too_large", limit=MAX_BODY)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "too_large", limit=MAX_BODY)
    if len(body) > MAX_BODY:
        return _error(413, "too_large", limit=MAX_BODY)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "not_utf8")
    return _check_text(kind, text)
