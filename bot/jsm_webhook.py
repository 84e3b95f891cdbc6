"""``POST /jsm/webhook``: "restore my access" requests raised in the Jira Service Management portal.

Contract
--------
* The body must be signed: ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` with
  JSM_WEBHOOK_SECRET (an admin webhook's secret, or the same header set by an Automation rule's
  "Send web request"). Anything else is ``401`` and changes nothing.
* Bad JSON is ``400 {"error": "invalid_json"}``; a body that is not an issue-created event, or
  misses a field, is ``400 {"error": "invalid_payload", "field": "<path>"}``.
* A request of another service desk or request type is ``202 {"ignored": ...}``.
* Otherwise the reporter's account id is the account to restore; the request goes through the
  restore desk (rules, limits, admins) and the answer is a comment on the JSM request, plus a
  transition when it is final. ``200 {"request": id, "state": state}``. A redelivered webhook
  (same issue key) is recognised and changes nothing.
* Rate-limited per client address (``429`` with ``Retry-After``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from aiohttp import web

from adapters.jsm import JsmConfig, JsmPayloadError, matches, parse_webhook, verify_signature
from bot.chatops import ChatOps
from bot.ratelimit import RateLimiter
from bot.server import mount
from core.chat import Actor
from core.restore_model import request_id_for

log = logging.getLogger("jira_cleanup.jsm")

WEBHOOK_PATH = "/jsm/webhook"


def _json(status: int, body: dict[str, object]) -> web.Response:
    return web.json_response(body, status=status)


@dataclass
class JsmWebhook:
    """Verifies, parses and routes JSM webhooks to the restore desk."""

    chatops: ChatOps
    secret: str
    config: JsmConfig
    limiter: RateLimiter

    def mount(self, app: web.Application, path: str = WEBHOOK_PATH) -> None:
        """Add ``POST path``."""
        mount(app, "POST", path, self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        """One webhook delivery."""
        wait = self.limiter.hit_request("jsm", request)
        if wait is not None:
            response = _json(429, {"error": "rate_limited"})
            response.headers["Retry-After"] = str(int(wait))
            return response
        body = await request.read()
        if not verify_signature(self.secret, body, request.headers.get("X-Hub-Signature")):
            log.warning("JSM webhook with a missing or wrong signature from %s refused", request.remote)
            return _json(401, {"error": "invalid_signature"})
        try:
            payload = json.loads(body)
        except ValueError:
            return _json(400, {"error": "invalid_json"})
        try:
            jsm = parse_webhook(payload)
        except JsmPayloadError as exc:
            return _json(400, {"error": "invalid_payload", "field": exc.field, "message": str(exc)})
        if not matches(self.config, jsm):
            return _json(202, {"ignored": "not the configured service desk and request type", "issue": jsm.issue_key})
        requester = Actor("jsm", "", jsm.reporter_account_id)
        submission = await self.chatops.submit_restore(
            "jsm",
            requester,
            jsm.reporter_account_id,
            reply_to=jsm.issue_key,
            request_id=request_id_for(self.chatops.org_id, "jsm", jsm.issue_key),
            answered=False,  # the desk answers on the JSM request itself
        )
        stored = submission.request
        state = stored.state.value if stored is not None else "refused"
        return _json(
            200,
            {
                "issue": jsm.issue_key,
                "request": stored.request_id if stored is not None else None,
                "state": state,
                "duplicate": submission.duplicate,
            },
        )
