"""The pages behind email links: confirm first, act only on a POST from that page.

Contracts
---------
* ``GET /email/t/{token}`` shows what the link will do and a form; it changes nothing, so a mail
  scanner that opens every link cannot keep or request anything. Unknown, used, expired or
  foreign tokens (a Slack or Teams button's token is not an email link) get a clear page.
* ``POST /email/t/{token}`` spends the token, once, through :meth:`ChatOps.click` (the same
  single-use compare-and-set as chat buttons) — only with the page's CSRF field, which is an
  HMAC of a random per-browser cookie and the token, and only from our own origin.
* Email links never reduce access: only "Keep my access" and "Request access back" exist.
* "Keep my access" is the chat Keep button's use case (:class:`core.chatops.keeps.KeepApprovals`):
  past ``keep.approval_after`` it asks the admins once per warning and the page says the keep waits.
* Every page works without JavaScript and carries ``Cache-Control: no-store``,
  ``Referrer-Policy: same-origin`` (the token in the URL never leaves the site) and a strict CSP.
* Requests are rate-limited per client address (429 with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from adapters.wording import day, product_name
from bot.chatops import ChatOps, Reply
from bot.ratelimit import RateLimiter
from bot.server import mount
from core.chat import ActionToken, Purpose, TokenStatus
from core.lifecycle import Case
from core.policy import ANY_PRODUCT

log = logging.getLogger("jira_cleanup.email_pages")

CSRF_COOKIE = "jc_csrf"
_WAITS = (
    "Until an admin approves it, your access is still removed on the date in your warning; "
    "if they approve later, it is given back. You will be told when an admin decides."
)
PAGE_PURPOSES = frozenset({Purpose.KEEP, Purpose.REQUEST_RESTORE})

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",  # the token in the URL never leaves this site; our own POSTs keep their Origin
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'"
    ),
}

_LOGO = (
    '<svg width="28" height="28" viewBox="0 0 28 28" aria-hidden="true" focusable="false">'
    '<rect width="28" height="28" rx="6" fill="#0052cc"/>'
    '<path d="M8 14.5l4 4 8-9" stroke="#fff" stroke-width="3" fill="none" stroke-linecap="round"/></svg>'
)

_STYLE = """
body{margin:0;background:#f4f5f7;color:#172b4d;font:16px/1.5 -apple-system,'Segoe UI',Roboto,Arial,sans-serif}
header{background:#fff;border-bottom:1px solid #dfe1e6;padding:12px 24px;display:flex;gap:10px;align-items:center}
header strong{font-size:18px}
main{max-width:560px;margin:40px auto;background:#fff;border:1px solid #dfe1e6;border-radius:8px;padding:32px}
h1{font-size:24px;margin:0 0 16px}
.facts{background:#f4f5f7;border-radius:6px;padding:12px 16px;margin:16px 0}
label{display:block;font-weight:600;margin:16px 0 6px}
textarea{width:100%;box-sizing:border-box;min-height:80px;font:inherit;padding:8px;
  border:2px solid #7a869a;border-radius:4px}
button{background:#0052cc;color:#fff;border:0;border-radius:4px;padding:12px 20px;font:inherit;
  font-weight:600;cursor:pointer}
button:focus,textarea:focus{outline:3px solid #ffab00;outline-offset:2px}
.ok{border-left:6px solid #36b37e;padding-left:12px}
.bad{border-left:6px solid #de350b;padding-left:12px}
footer{text-align:center;color:#5e6c84;font-size:13px;margin:24px}
"""


def page(title: str, body: str, *, status: int = 200, cookie: str | None = None, secure: bool = False) -> web.Response:
    """A complete, accessible HTML page with the security headers."""
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)} · jira-cleanup</title><style>{_STYLE}</style></head><body>"
        f"<header>{_LOGO}<strong>jira-cleanup</strong></header>"
        f'<main id="main"><h1>{html.escape(title)}</h1>{body}</main>'
        "<footer>jira-cleanup keeps your organisation's Atlassian licences for the people who use them.</footer>"
        "</body></html>"
    )
    response = web.Response(text=document, status=status, content_type="text/html", headers=_SECURITY_HEADERS)
    if cookie is not None:
        response.set_cookie(
            CSRF_COOKIE, cookie, httponly=True, samesite="Strict", path="/email/", secure=secure, max_age=3600
        )
    return response


def _p(text: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<p{cls}>{html.escape(text)}</p>"


@dataclass
class EmailPages:
    """The ``/email/t/{token}`` pages, over the shared :class:`ChatOps`."""

    chatops: ChatOps
    secret: bytes
    limiter: RateLimiter
    public_base_url: str = ""

    def mount(self, app: web.Application) -> None:
        """Add the routes."""
        mount(app, "GET", "/email/t/{token}", self.show)
        mount(app, "POST", "/email/t/{token}", self.act)

    # -- helpers -------------------------------------------------------------------------------

    def _csrf(self, nonce: str, token_hash: str) -> str:
        return hmac.new(self.secret, f"{nonce}|{token_hash}".encode(), hashlib.sha256).hexdigest()

    @property
    def _secure(self) -> bool:
        return self.public_base_url.startswith("https://")

    def _limited(self, request: web.Request) -> web.Response | None:
        wait = self.limiter.hit_request("email", request)
        if wait is None:
            return None
        response = page(
            "Too many requests",
            _p("Please wait a minute and try again.", "bad"),
            status=429,
        )
        response.headers["Retry-After"] = str(int(wait))
        return response

    async def _token(self, raw: str) -> ActionToken | None:
        token, _ = await self.chatops.peek(raw)
        if token is None or token.purpose not in PAGE_PURPOSES or token.org_id != self.chatops.org_id:
            return None
        if token.intended is None or token.intended.platform != "email":
            return None  # a chat button's token is not an email link
        return token

    @staticmethod
    def _refusal(status: TokenStatus, token: ActionToken | None) -> web.Response:
        if status is TokenStatus.ALREADY_USED and token is not None:
            told = token.outcome or "It was used before."
            return page("This link was already used", _p(told) + _p("Each link works once."), status=409)
        if status is TokenStatus.EXPIRED:
            return page(
                "This link has expired",
                _p("Links in jira-cleanup emails work for a limited time. Ask your Jira administrators for help."),
                status=410,
            )
        return page(
            "This link is not valid",
            _p("It may be incomplete: copy the whole link from the email, or ask your Jira administrators."),
            status=404,
        )

    async def _describe(self, token: ActionToken) -> tuple[str, str, str]:
        """(title, explanation, button label) for the confirm page."""
        if token.purpose is Purpose.KEEP:
            case: Case | None
            try:
                case = await asyncio.to_thread(self.chatops.lifecycle.get_case, token.subject)
            except LookupError:
                case = None
            product = "Atlassian" if case is None or case.product == ANY_PRODUCT else product_name(case.product)
            when = f" on {day(case.deadline)}" if case is not None and case.deadline is not None else " soon"
            return (
                f"Keep your {product} access?",
                f"Your {product} access has not been used for a while, so it will be removed{when}. "
                "If you still need it, confirm below and it stays.",
                "Keep my access",
            )
        return (
            "Ask for your access back?",
            "jira-cleanup removed access you had not used for a while. Confirm below to ask for it back: "
            "your organisation's rules may approve it at once, otherwise your Jira administrators decide.",
            "Request access back",
        )

    # -- handlers ------------------------------------------------------------------------------

    async def show(self, request: web.Request) -> web.Response:
        """GET: the confirm page. Consumes nothing."""
        limited = self._limited(request)
        if limited is not None:
            return limited
        raw = request.match_info["token"]
        token = await self._token(raw)
        if token is None or token.intended is None:
            return self._refusal(TokenStatus.UNKNOWN, None)
        _, status = await self.chatops.peek(raw, token.intended)
        if status is not TokenStatus.OK:
            return self._refusal(status, token)
        title, text, label = await self._describe(token)
        nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_hex(16)
        ask_reason = token.purpose is Purpose.KEEP and self.chatops.policy().lifecycle.keep.justification_required
        reason = (
            '<label for="justification">Why do you still need it?</label>'
            '<textarea id="justification" name="justification" required maxlength="500"></textarea>'
            if ask_reason
            else ""
        )
        form = (
            f'<form method="post" action="/email/t/{html.escape(raw)}">'
            f'<input type="hidden" name="csrf" value="{self._csrf(nonce, token.token_hash)}">'
            f'{reason}<p><button type="submit">{html.escape(label)}</button></p></form>'
        )
        return page(title, _p(text) + form, cookie=nonce, secure=self._secure)

    async def act(self, request: web.Request) -> web.Response:
        """POST from the confirm page: spend the token once and show the outcome."""
        limited = self._limited(request)
        if limited is not None:
            return limited
        if not self._same_origin(request):
            return page("Request refused", _p("This form must be sent from the jira-cleanup page.", "bad"), status=403)
        raw = request.match_info["token"]
        form = await request.post()
        token = await self._token(raw)
        nonce = request.cookies.get(CSRF_COOKIE, "")
        field = str(form.get("csrf", ""))
        if token is None:
            return self._refusal(TokenStatus.UNKNOWN, None)
        if not nonce or not hmac.compare_digest(field, self._csrf(nonce, token.token_hash)):
            return page(
                "Please confirm again",
                _p("For your security this form expired. Open the link from the email again.", "bad"),
                status=403,
            )
        assert token.intended is not None
        justification = str(form.get("justification", "")).strip()[:500] or None

        async def nowhere(reply: Reply) -> None:  # email links never start background work
            log.warning("unexpected background reply on an email page: %s", reply.text)

        result = await self.chatops.click(token.intended, raw, nowhere, justification=justification)
        if result.status is not TokenStatus.OK:
            current = await asyncio.to_thread(self.chatops.tokens.get_token, token.token_hash)
            return self._refusal(result.status, current)
        if not result.first:  # e.g. a justification is required and was empty: the link still works
            return page("One more thing", _p(result.text, "bad"), status=400)
        if result.waiting:  # past keep.approval_after: the same admin approval as a chat click
            return page("Your keep waits for an admin", _p(result.text) + _p(_WAITS))
        if not result.ok:
            title = "Not done"
        elif token.purpose is Purpose.KEEP:
            title = "You keep your access"
        else:
            title = "Request received"
        return page(title, _p(result.text, "ok" if result.ok else "bad"))

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:  # old browsers and some privacy settings send none; the CSRF field still holds
            return True
        allowed = {f"{request.scheme}://{request.host}"}
        if self.public_base_url:
            parts = urlsplit(self.public_base_url)
            allowed.add(f"{parts.scheme}://{parts.netloc}")
        return origin in allowed
